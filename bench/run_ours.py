"""One poll by aggregator's real pipeline, in its own process: feeds.yaml in, one JSON line out.

    python bench/run_ours.py FEEDS_YAML

Calls `aggregator.update.update(config, store)` on the database named in FEEDS_YAML, timing
the whole call and, through `on_outcome`, when the last feed was stored (the rest is story
clustering of the new articles). Prints {"seconds", "fetch_store_seconds",
"cluster_seconds", "config_seconds", "outcomes", "new", "updated", "clustered",
"peak_rss_mb"}. --no-cluster replaces update's clustering step by a no-op. Peak RSS is
this process's VmHWM, interpreter and imports included, as for every runner.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time

from procstats import cpu_seconds, peak_rss_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("feeds_yaml")
    parser.add_argument(
        "--no-cluster",
        action="store_true",
        help="skip story clustering (the peers have none; it can dominate a large cold poll)",
    )
    args = parser.parse_args()

    from aggregator import update as update_module
    from aggregator.config import load_config
    from aggregator.store import Store
    from aggregator.update import update

    if args.no_cluster:
        update_module.cluster_new = lambda *args, **kwargs: (0, 0)

    t0 = time.perf_counter()
    config = load_config(args.feeds_yaml)
    config_seconds = time.perf_counter() - t0
    last = [0.0]

    def seen(outcome: object) -> None:
        last[0] = time.perf_counter()

    with Store(config.database_path) as store:
        c0, t0 = cpu_seconds(), time.perf_counter()
        summary = update(config, store, on_outcome=seen)
        c1, t1 = cpu_seconds(), time.perf_counter()
    stored = (last[0] or t1) - t0
    errors = [f"{o.url}: {o.error}" for o in summary.failed][:5]
    result = {
        "seconds": t1 - t0,
        "cpu_seconds": c1 - c0,
        "fetch_store_seconds": stored,
        "cluster_seconds": t1 - t0 - stored,
        "config_seconds": config_seconds,
        "outcomes": dict(collections.Counter(o.outcome for o in summary.outcomes)),
        "new": summary.new,
        "updated": summary.updated,
        "clustered": summary.clustered,
        "errors": errors,
        "peak_rss_mb": peak_rss_mb(),
    }
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
