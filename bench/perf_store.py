"""Time Store.save_entries alone: N generated feeds into a new database, then again (issue #7).

    python bench/perf_store.py --feeds 200 --runs 3
    python bench/perf_store.py --baseline-src /path/to/other/checkout/src

Feeds come from bench/feedgen.py (what bench_poll.py serves), parsed and normalised once
(not timed);
"first" stores every entry of every feed into an empty database (insert + FTS + topics),
"again" stores the same documents once more (every entry known: sightings touched only).
Each run is a fresh child process; with --baseline-src the other checkout runs interleaved
and the speed-up is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def child(feeds: int, db: str) -> dict:
    from datetime import UTC, datetime

    sys.path.insert(0, str(HERE))
    import feedgen
    from aggregator.config import load_config
    from aggregator.models import FeedConfig, FetchResult
    from aggregator.normalize import normalize_feed
    from aggregator.parse import parse_feed
    from aggregator.store import Store
    from aggregator.topics import Tagger

    now = datetime(2026, 11, 20, tzinfo=UTC)
    base = load_config(REPO / "feeds.yaml")
    bodies = [d.body for d in feedgen.load(feeds)["base"][:feeds]]
    urls = [f"http://127.0.0.2/feed/{i}.xml" for i in range(feeds)]
    import dataclasses

    config = dataclasses.replace(base, feeds=tuple(FeedConfig(url=u) for u in urls), outlets=())
    tagger = Tagger(config.topics, config.topic_scope)
    pairs = zip(bodies, urls, strict=True)
    docs = [normalize_feed(parse_feed(body, url=u), now=now) for body, u in pairs]
    out = {}
    with Store(db) as store:
        store.sync_config(config)
        states = store.feed_states()
        for label in ("first", "again"):
            t0 = time.perf_counter()
            for url, entries in zip(urls, docs, strict=True):
                result = FetchResult(url=url, final_url=url, status=200, started=now, duration=0.0)
                store.save_entries(
                    states[url], result, entries, tag=tagger.tag, now=now, body_hash="x"
                )
            out[label] = time.perf_counter() - t0
        out["entries"] = sum(len(d) for d in docs)
        out["topics"] = store.db.execute("select count(*) from article_topics").fetchone()[0]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline-src")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--db")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.feeds, args.db)))
        return
    variants = [("ours", None)] + ([("base", args.baseline_src)] if args.baseline_src else [])
    results: dict[str, list[dict]] = {v: [] for v, _ in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            for name, src in variants:
                db = str(Path(tmp) / f"{name}{run}.db")
                env = dict(os.environ, PYTHONPATH=src) if src else None
                cmd = [sys.executable, __file__, "--child", "--feeds", str(args.feeds)]
                out = subprocess.run(
                    [*cmd, "--db", db], env=env, capture_output=True, text=True, check=True
                ).stdout
                results[name].append(json.loads(out.strip().splitlines()[-1]))
                print(f"run {run} {name}: {results[name][-1]}", file=sys.stderr)
    for name, rs in results.items():
        first = statistics.median(r["first"] for r in rs)
        again = statistics.median(r["again"] for r in rs)
        n = rs[0]["entries"]
        print(f"{name}: first {first:.2f} s ({n / first:,.0f} entries/s), again {again:.2f} s")
    if "base" in results:
        for key in ("first", "again"):
            b = statistics.median(r[key] for r in results["base"])
            o = statistics.median(r[key] for r in results["ours"])
            print(f"speed-up {key}: {b / o:.2f}x")


if __name__ == "__main__":
    main()
