"""Parser throughput: feedparser (our options) vs the lxml fast path vs parse_feed, entries/s.

    python bench/bench_parse.py [--feeds N] [--repeat R] [--json]

Over the generated feeds of bench/feedgen.py (base phase) and, separately, the 17 real news
feeds of tests/data/corpus/news, in one process, best of R runs each:
  - feedparser: `feedparser.parse` with parse.py's options (sanitize_html=False,
    resolve_relative_uris=True) plus parse.py's conversion to a ParsedFeed;
  - fast: fastparse.parse_fast plus the same conversion (documents it declines count as 0
    entries and their time is still spent);
  - parse_feed: what aggregator runs, the fast path with feedparser as the fallback.
Ratios are to feedparser in the same run. No network, no storage.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import feedgen
from aggregator import parse
from benchlib import stamp

CORPUS_NEWS = Path(__file__).resolve().parent.parent / "tests" / "data" / "corpus" / "news"


def _prepared(body: bytes, url: str, content_type: str) -> tuple[bytes, dict, str, dict]:
    hdrs = {"content-type": content_type}
    content, response_headers, base = parse._prepare_xml(body, url=url, hdrs=hdrs)
    return content, response_headers, base, hdrs


def _paths(docs: list[tuple[bytes, str, str]]) -> dict[str, Callable[[], tuple[int, int]]]:
    prepared = [(_prepared(b, u, c), b, u, c) for b, u, c in docs]

    def feedparser_path() -> tuple[int, int]:
        n = 0
        for (content, rh, base, hdrs), _, url, _ in prepared:
            n += len(
                parse._feedparser_feed(
                    content, url=url, hdrs=hdrs, base=base, response_headers=rh
                ).entries
            )
        return n, len(prepared)

    def fast_path() -> tuple[int, int]:
        n = accepted = 0
        for (content, rh, base, _), _, _, _ in prepared:
            feed = parse._fast_feed(content, base=base, response_headers=rh)
            if feed is not None:
                n += len(feed.entries)
                accepted += 1
        return n, accepted

    def dispatch() -> tuple[int, int]:
        n = 0
        for _, body, url, ctype in prepared:
            n += len(parse.parse_feed(body, url=url, headers={"content-type": ctype}).entries)
        return n, len(prepared)

    return {"feedparser": feedparser_path, "fast": fast_path, "parse_feed": dispatch}


def measure(docs: list[tuple[bytes, str, str]], repeat: int) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for name, fn in _paths(docs).items():
        best = float("inf")
        entries = accepted = 0
        for _ in range(repeat):
            t0 = time.perf_counter()
            entries, accepted = fn()
            best = min(best, time.perf_counter() - t0)
        out[name] = {
            "seconds": best,
            "entries": entries,
            "documents": len(docs),
            "documents_taken": accepted,
            "entries_per_second": entries / best if best else None,
        }
    base = out["feedparser"]["seconds"]
    for row in out.values():
        row["speedup_vs_feedparser"] = base / row["seconds"] if row["seconds"] else None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON line only")
    args = parser.parse_args()
    generated = [
        (d.body, feedgen.url(d, 8080), d.content_type)
        for d in feedgen.load(args.feeds)["base"]
        if d.entries
    ]
    news = [
        (p.read_bytes(), f"https://news.example/{p.name}", "application/xml")
        for p in sorted(CORPUS_NEWS.iterdir())
    ]
    result = {
        **stamp(),
        "generated": measure(generated, args.repeat),
        "corpus_news": measure(news, args.repeat),
    }
    if args.json:
        print(json.dumps(result))
        return
    for label in ("generated", "corpus_news"):
        print(f"{label}:")
        for name, row in result[label].items():
            print(
                f"  {name:<11} {row['entries_per_second']:>10,.0f} entries/s"
                f"  {row['seconds']:7.3f} s  {row['entries']:>6} entries"
                f"  {row['documents_taken']}/{row['documents']} documents"
                f"  x{row['speedup_vs_feedparser']:.1f} vs feedparser"
            )


if __name__ == "__main__":
    main()
