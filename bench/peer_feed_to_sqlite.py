"""One poll by feed-to-sqlite 0.6.2, in its own venv: one JSON line out.

    /tmp/venv-f2s/bin/python bench/peer_feed_to_sqlite.py JOB_JSON

JOB_JSON: {"db": path, "urls": [...]}. Does what `feed-to-sqlite DB URL... --table entries`
does: one httpx.Client, every URL in turn, `ingest_feed(...)` (GET, feedparser, upsert). It
has no conditional GET and no concurrency, so a warm poll downloads and parses everything
again. One table for all feeds (the CLI would make one table per feed title). Stdlib and
feed-to-sqlite only: this file runs in another interpreter than the rest of bench/.
"""

from __future__ import annotations

import json
import sys
import time

from procstats import cpu_seconds, peak_rss_mb


def main() -> None:
    job = json.loads(open(sys.argv[1], encoding="utf-8").read())
    import httpx
    from feed_to_sqlite import ingest_feed
    from sqlite_utils import Database

    db = Database(job["db"])
    before = db["entries"].count if db["entries"].exists() else 0
    failed, errors = 0, []
    c0, t0 = cpu_seconds(), time.perf_counter()
    with httpx.Client(headers={"user-agent": "feed-to-sqlite"}) as client:
        for url in job["urls"]:
            try:
                ingest_feed(db, url=url, table_name="entries", client=client)
            except Exception as e:  # one feed's failure: count it, go on
                failed += 1
                errors.append(f"{url}: {e!r}")
    seconds = time.perf_counter() - t0
    cpu = cpu_seconds() - c0
    after = db["entries"].count if db["entries"].exists() else 0
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu,
                "new": after - before,
                "failed": failed,
                "errors": errors[:5],
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )


if __name__ == "__main__":
    main()
