"""The parser floor: feedparser over the same bodies, no network, no storage; one JSON line out.

    python bench/floor_parse.py --feeds N --phase base|half [--only-changed] [--fast]

Parses each served document once, in one process, from the bytes the feed server sends
(bench/feedgen.py's cache). Default: `feedparser.parse(body)` as aggregator and reader call
it (sanitising HTML and resolving relative URIs). --fast:
`sanitize_html=False, resolve_relative_uris=False`. --only-changed: only the documents the
half-changed poll has to parse.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import feedparser

import feedgen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, required=True)
    parser.add_argument("--phase", choices=feedgen.PHASES, default="base")
    parser.add_argument("--only-changed", action="store_true")
    parser.add_argument("--fast", action="store_true")
    args = parser.parse_args()
    docs = feedgen.load(args.feeds)[args.phase]
    if args.only_changed:
        docs = [d for d in docs if d.changed]
    options = {"sanitize_html": False, "resolve_relative_uris": False} if args.fast else {}
    entries = 0
    t0 = time.perf_counter()
    for d in docs:
        entries += len(feedparser.parse(d.body, **options).entries)
    seconds = time.perf_counter() - t0
    result = {
        "seconds": seconds,
        "documents": len(docs),
        "entries": entries,
        "entries_per_second": entries / seconds if seconds else None,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
