"""One poll by lemon24/reader 3.27, in reader's own venv (Python 3.12): one JSON line out.

    /tmp/venv-reader312/bin/python bench/peer_reader.py JOB_JSON

JOB_JSON: {"db": path, "urls": [...], "workers": N}. Adds the feeds on first use, then times
`update_feeds(workers=N, scheduled=False)` (scheduled=False: a second poll a minute later
must still ask every feed, as our warm poll does). Stdlib and reader only: this file runs
in another interpreter than the rest of bench/.
"""

from __future__ import annotations

import json
import sys
import time

from procstats import cpu_seconds, peak_rss_mb


def main() -> None:
    job = json.loads(open(sys.argv[1], encoding="utf-8").read())
    import reader as reader_module
    from reader import make_reader

    reader = make_reader(job["db"])
    known = {f.url for f in reader.get_feeds()}
    for url in job["urls"]:
        if url not in known:
            reader.add_feed(url)
    before = reader.get_entry_counts().total
    c0, t0 = cpu_seconds(), time.perf_counter()
    failed, errors = 0, []
    for url, value in reader.update_feeds_iter(workers=job["workers"], scheduled=False):
        if isinstance(value, Exception):
            failed += 1
            errors.append(f"{url}: {value!r}")
    seconds = time.perf_counter() - t0
    cpu = cpu_seconds() - c0
    after = reader.get_entry_counts().total
    reader.close()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu,
                "new": after - before,
                "failed": failed,
                "errors": errors[:5],
                "version": reader_module.__version__,
                "python": sys.version.split()[0],
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )


if __name__ == "__main__":
    main()
