"""A loopback server of N generated, seeded news feeds over many host addresses (issue #7).

    python bench/perf_server.py --feeds 2000 --hosts 100 --port 8765

Runs as its own process (so its CPU is not the poller's GIL) and prints one JSON line when
ready: {"urls": [...]}. Feed i lives at http://127.0.0.<2 + i % hosts>:<port>/feed/<i>.xml
(every 127.0.0.0/8 address is loopback). Each feed is RSS 2.0 with 30 items of 500-1500
characters of HTML, links with tracking parameters and content:encoded in every third feed;
bodies are gzip-compressed when asked, and carry an ETag and Last-Modified so that a
conditional GET answers 304. `POST /_mutate?every=2` adds 3 new items to every second feed
(the oldest 3 drop off), so a "half-changed" poll can be measured.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import random
import sys
from email.utils import formatdate

from aiohttp import web

WORDS = (
    "the of and to in a on for with as by at from that is was said after over new "
    "government minister talks peace war ceasefire sanctions oil gas price cap drone missile "
    "strike attack frontline troops army defence aid talks summit envoy mediation Qatar "
    "Turkey Vatican Kyiv Moscow Kremlin Ukraine Russia Putin Zelensky Europe Brussels NATO "
    "energy grain exports ports shipping corridor markets bank rouble hryvnia budget parliament "
    "election court prisoners exchange humanitarian refugees winter power grid repairs city "
    "region officials spokesperson statement report analysts week month year day night "
    "villages shelling evacuation negotiators delegation proposal plan framework guarantee "
    "security council resolution vote delegates hospital school bridge railway factory"
).split()

ENTRIES = 30
SYLLABLES = "ka lo mi ne ru sa to vi de ba ko ri zu pe an or el ix um ta go he".split()


def _vocabulary(size: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


#: News-like text: the common words above, then a Zipf tail of 30,000 made-up words (names,
#: places, rarer vocabulary), so that articles share few rare words, as real ones do.
VOCABULARY = WORDS + _vocabulary(30_000)
_WEIGHTS = [1 / (rank + 10) for rank in range(len(VOCABULARY))]
_CUMULATIVE = list(__import__("itertools").accumulate(_WEIGHTS))
SITES = ("wire", "daily", "post", "times", "herald", "ledger", "review", "courier", "journal")


def _words(rng: random.Random, k: int) -> list[str]:
    return rng.choices(VOCABULARY, cum_weights=_CUMULATIVE, k=k)


def _sentence(rng: random.Random) -> str:
    words = _words(rng, rng.randint(8, 18))
    return " ".join(words).capitalize() + "."


def _item(feed: int, n: int, rich: bool) -> str:
    rng = random.Random(feed * 100_003 + n)
    site = SITES[feed % len(SITES)]
    host = f"www.{site}{feed}.example"
    title = " ".join(_words(rng, rng.randint(6, 12))).capitalize()
    paragraphs = []
    size, target = 0, rng.randint(500, 1500)
    while size < target:
        p = " ".join(_sentence(rng) for _ in range(rng.randint(2, 4)))
        if rng.random() < 0.3:
            p = p.replace(" the ", f' the <a href="https://{host}/topic/{rng.randint(1, 99)}">', 1)
            p = p.replace(" of ", " of</a> ", 1) if "<a " in p else p
        paragraphs.append(f"<p>{p}</p>")
        size += len(p) + 7
    body = "".join(paragraphs)
    # Newer items have higher n; a feed publishes every 1 to 6 hours.
    hours = n * (1 + feed % 6)
    day, hour = 1 + hours // 24 % 28, hours % 24
    date = f"{['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][(day + 6) % 7]}, "
    date += f"{day:02d} Nov 2026 {hour:02d}:{rng.randint(0, 59):02d}:00 +0000"
    link = f"https://{host}/news/2026/{n:05d}-story?utm_source=rss&utm_medium=feed&id={n}"
    summary = body[: body.find("</p>") + 4]
    parts = [
        f"<item><title>{_esc(title)}</title><link>{_esc(link)}</link>",
        f'<guid isPermaLink="false">{host}-{n}</guid><pubDate>{date}</pubDate>',
        f"<category>{rng.choice(WORDS)}</category><dc:creator>Reporter {n % 7}</dc:creator>",
    ]
    if rich:
        parts.append(f"<description>{_esc(summary)}</description>")
        parts.append(f"<content:encoded><![CDATA[{body}]]></content:encoded>")
    else:
        parts.append(f"<description>{_esc(body)}</description>")
    parts.append("</item>")
    return "".join(parts)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def feed_body(feed: int, version: int) -> bytes:
    """Feed `feed` after `version` mutations: the newest ENTRIES items."""
    newest = 1000 + 3 * version
    items = "".join(_item(feed, n, feed % 3 == 0) for n in range(newest, newest - ENTRIES, -1))
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>Feed {feed}</title><link>https://www.{SITES[feed % len(SITES)]}{feed}.example/"
        f"</link><description>Generated feed {feed}</description><language>en</language>"
        f"{items}</channel></rss>"
    ).encode()


class Feeds:
    def __init__(self, count: int) -> None:
        self.version = [0] * count
        self.cache: dict[tuple[int, int], tuple[bytes, bytes]] = {}
        self.last_modified = formatdate(1_790_000_000, usegmt=True)
        self.requests = 0

    def get(self, feed: int) -> tuple[bytes, bytes]:
        key = (feed, self.version[feed])
        if key not in self.cache:
            raw = feed_body(*key)
            self.cache[key] = (raw, gzip.compress(raw, compresslevel=5, mtime=0))
        return self.cache[key]


def make_app(feeds: Feeds) -> web.Application:
    async def feed(request: web.Request) -> web.Response:
        feeds.requests += 1
        try:
            i = int(request.match_info["n"])
            raw, packed = feeds.get(i)
        except (ValueError, IndexError):
            raise web.HTTPNotFound() from None
        etag = f'"{i}-{feeds.version[i]}"'
        lm = feeds.last_modified if feeds.version[i] == 0 else formatdate(usegmt=True)
        headers = {"ETag": etag, "Last-Modified": lm, "Content-Type": "application/rss+xml"}
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return web.Response(body=packed, headers=headers)
        return web.Response(body=raw, headers=headers)

    async def mutate(request: web.Request) -> web.Response:
        every = int(request.query.get("every", "2"))
        changed = [i for i in range(len(feeds.version)) if i % every == 0]
        for i in changed:
            feeds.version[i] += 1
            feeds.get(i)
        return web.json_response({"changed": len(changed)})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"requests": feeds.requests})

    app = web.Application()
    app.router.add_get("/feed/{n}.xml", feed)
    app.router.add_post("/_mutate", mutate)
    app.router.add_get("/_stats", stats)
    return app


def urls(count: int, hosts: int, port: int) -> list[str]:
    return [f"http://127.0.0.{2 + i % hosts}:{port}/feed/{i}.xml" for i in range(count)]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    feeds = Feeds(args.feeds)
    for i in range(args.feeds):  # generate before serving: the poll measures the poller
        feeds.get(i)
    runner = web.AppRunner(make_app(feeds), access_log=None)
    await runner.setup()
    for h in range(min(args.hosts, args.feeds)):
        await web.TCPSite(runner, f"127.0.0.{2 + h}", args.port, backlog=1024).start()
    print(json.dumps({"urls": urls(args.feeds, args.hosts, args.port)}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
