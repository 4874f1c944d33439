"""The parser floor: feedparser over the same bodies, no network, no storage; one JSON line out.

    python bench/floor_parse.py --feeds N --phase base|half [--only-changed] [--mode MODE]

Parses each served document once, in one process, from the bytes the feed server sends
(bench/feedgen.py's cache). --mode default: `feedparser.parse(body)` as reader and
feed-to-sqlite call it (sanitising HTML, resolving relative URIs); ours: the options
aggregator's parse.py passes today (`sanitize_html=False`, nh3 sanitises later); fast:
`sanitize_html=False, resolve_relative_uris=False`. --only-changed: only the documents the
half-changed poll has to parse.
"""

from __future__ import annotations

import argparse
import json
import time

import feedparser

import feedgen
from procstats import cpu_seconds, peak_rss_mb

MODES: dict[str, dict[str, bool]] = {
    "default": {},
    "ours": {"sanitize_html": False, "resolve_relative_uris": True},
    "fast": {"sanitize_html": False, "resolve_relative_uris": False},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, required=True)
    parser.add_argument("--phase", choices=feedgen.PHASES, default="base")
    parser.add_argument("--only-changed", action="store_true")
    parser.add_argument("--mode", choices=MODES, default="default")
    parser.add_argument("--fast", action="store_true", help="the same as --mode fast")
    args = parser.parse_args()
    docs = feedgen.load(args.feeds)[args.phase]
    if args.only_changed:
        docs = [d for d in docs if d.changed]
    options = MODES["fast" if args.fast else args.mode]
    entries = 0
    c0, t0 = cpu_seconds(), time.perf_counter()
    for d in docs:
        entries += len(feedparser.parse(d.body, **options).entries)
    seconds = time.perf_counter() - t0
    cpu = cpu_seconds() - c0
    result = {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "documents": len(docs),
        "entries": entries,
        "entries_per_second": entries / seconds if seconds else None,
        "peak_rss_mb": peak_rss_mb(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
