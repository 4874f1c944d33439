"""A misbehaving HTTP/1.1 server on 127.0.0.1, written on raw asyncio streams for byte control.

Each route is a coroutine that writes whatever bytes it likes to the socket: a Content-Length
that lies, a body that drips one byte a second, a gzip stream cut short, a redirect into
file://, an answer that never comes. Every request path is recorded (`requests`), so a test
can prove that something was *never* asked for (an external DTD), and `sent` counts the body
bytes each streaming route managed to write before the client hung up.

    with HostileServer() as server:
        server.route("/feed.xml", ok(rss_bytes, "application/rss+xml"))
        url = server.url("/feed.xml")
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

Handler = Callable[["Request"], Awaitable[None]]


class Request:
    """One request: its path and headers, and the raw writer to answer on."""

    def __init__(self, server: HostileServer, path: str, headers: dict[str, str], writer: Any):
        self.server, self.path, self.headers, self.writer = server, path, headers, writer

    def head(self, status: int, headers: dict[str, str] | None = None, reason: str = "") -> None:
        """Status line and headers, exactly as given (no Content-Length added)."""
        lines = [f"HTTP/1.1 {status} {reason or 'Whatever'}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    async def body(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()
        self.server.sent[self.path] += len(data)


def respond(
    body: bytes = b"", status: int = 200, content_type: str | None = None, **headers: str
) -> Handler:
    """An honest answer: status, Content-Type (when given), Content-Length and the body."""

    async def handler(req: Request) -> None:
        hdrs = {"Content-Length": str(len(body)), "Connection": "close"}
        if content_type is not None:
            hdrs["Content-Type"] = content_type
        hdrs.update({k.replace("_", "-"): v for k, v in headers.items()})
        req.head(status, hdrs)
        await req.body(body)

    return handler


def redirect(location: str, status: int = 302) -> Handler:
    return respond(b"", status, Location=location)


def delayed(seconds: float, handler: Handler) -> Handler:
    """`handler`, after `seconds` of silence."""

    async def wrapper(req: Request) -> None:
        await asyncio.sleep(seconds)
        await handler(req)

    return wrapper


def never_answers() -> Handler:
    """Reads the request, then says nothing until the server stops (a read timeout)."""

    async def handler(req: Request) -> None:
        await req.server.stopping.wait()

    return handler


def drip(content_type: str = "application/rss+xml", every: float = 1.0) -> Handler:
    """Headers at once, then one byte per `every` seconds of a 10 000-byte body."""

    async def handler(req: Request) -> None:
        req.head(200, {"Content-Type": content_type, "Content-Length": "10000"})
        for _ in range(10_000):
            await req.body(b" ")
            try:
                await asyncio.wait_for(req.server.stopping.wait(), every)
                return
            except TimeoutError:
                pass

    return handler


def stream(total: int, *, declare: bool, chunk: int = 65536) -> Handler:
    """`total` bytes of XML-ish filler in chunks, with or without Content-Length."""

    async def handler(req: Request) -> None:
        headers = {"Content-Type": "application/rss+xml", "Connection": "close"}
        if declare:
            headers["Content-Length"] = str(total)
        req.head(200, headers)
        piece = b"<!-- padding -->" * (chunk // 16)
        for _ in range(total // len(piece)):
            await req.body(piece)

    return handler


def lying_length(body: bytes, claimed: int) -> Handler:
    """Content-Length says `claimed`, then the connection closes after `body`."""

    async def handler(req: Request) -> None:
        req.head(200, {"Content-Type": "application/rss+xml", "Content-Length": str(claimed)})
        await req.body(body)

    return handler


class HostileServer:
    """The server, its event loop in a daemon thread; a context manager."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.routes: dict[str, Handler] = {}
        #: Every request path received, in order (query strings included).
        self.requests: list[str] = []
        #: Body bytes written per path.
        self.sent: Counter[str] = Counter()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self.stopping: asyncio.Event

    def route(self, path: str, handler: Handler) -> str:
        """Serve `handler` at `path`; returns the full URL."""
        self.routes[path] = handler
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        self.stopping = asyncio.Event()
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        self.stopping.set()
        assert self._server is not None
        self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            path = request_line.split(" ")[1]
            headers = {}
            for line in header_lines:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            self.requests.append(path)
            handler = self.routes.get(path.split("?")[0], respond(b"no such route", 404))
            await handler(Request(self, path, headers, writer))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up: that is often the point
        except asyncio.CancelledError:
            pass  # the server is stopping
        finally:
            writer.close()


def write_poll(folder: Any, feeds: int, items: int, *, shared: int = 3) -> list[str]:
    """Write `feeds` well-formed RSS files of `items` entries into `folder`; their names.

    The first `shared` items of every feed are the same wire story (one article, many
    sightings), and titles carry topic keywords of conftest.RULES, so a poll exercises
    articles, sightings and tags alike. Served by aggregator.feedserver, this is a "large
    poll" for the crash and concurrency tests.
    """
    from xml.sax.saxutils import escape

    words = ("sanctions package", "drone strike", "missile", "talks", "grain deal", "price cap")
    names = []
    for f in range(feeds):
        parts = []
        for i in range(items):
            link = (
                f"https://wire.example/story/{i}?utm_source=rss"
                if i < shared
                else f"https://outlet{f}.example/news/{i}"
            )
            source = "wire" if i < shared else f"outlet {f}"  # wire copy: the same text
            title = f"Report {i} from {source} on {words[(i if i < shared else f + i) % 6]}"
            description = f"Body of report {i} from {source}. " * 8
            parts.append(
                f"<item><title>{escape(title)}</title><link>{escape(link)}</link>"
                f"<guid isPermaLink='false'>f{f}-i{i}</guid>"
                f"<pubDate>Mon, 0{1 + i % 9} Sep 2025 {i % 24:02d}:00:00 GMT</pubDate>"
                f"<description>{escape(description)}</description></item>"
            )
        name = f"feed{f:03d}.xml"
        Path(folder, name).write_text(
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Feed {f}</title><link>https://outlet{f}.example/</link>"
            f"{''.join(parts)}</channel></rss>",
            encoding="utf-8",
        )
        names.append(name)
    return names


# --------------------------------------------------------------------------- polls and content

RSS = "application/rss+xml"
#: `aggregator` as a subprocess, without relying on the console script being on PATH.
AGGREGATOR = [sys.executable, "-c", "from aggregator.cli import cli; cli()"]


def write_config(folder: Path, urls: list[str], database: str) -> Path:
    """A real feeds.yaml, as `aggregator fetch` reads it."""
    feeds = "".join(f"  - url: {u}\n" for u in urls)
    path = folder / f"{Path(database).stem}.yaml"
    path.write_text(
        f"settings:\n  database: {database}\n  concurrency: 8\n  per_host: 8\n"
        "  total_timeout: 30\n"
        f"feeds:\n{feeds}"
        "topics:\n"
        "  sanctions: {keywords: [sanction, price cap]}\n"
        "  military: {keywords: [drone, missile, strike]}\n"
        "  other: {fallback: true}\n",
        encoding="utf-8",
    )
    return path


def fetch_cmd(config: Path) -> list[str]:
    return [*AGGREGATOR, "-c", str(config), "fetch", "--quiet"]


def content(db: Path) -> dict[str, frozenset]:
    """What a user would call the database's content, independent of ids and times."""
    with sqlite3.connect(db) as conn:

        def rows(sql: str) -> frozenset:
            found = conn.execute(sql).fetchall()
            assert len(found) == len(set(found)), f"duplicates in: {sql}"
            return frozenset(found)

        return {
            "articles": rows(
                "SELECT dedup_key, canonical_url, title, summary_text, content_hash FROM articles"
            ),
            "sightings": rows(
                "SELECT f.url, s.entry_id, a.dedup_key, s.content_hash FROM sightings s"
                " JOIN feeds f ON f.id = s.feed_id JOIN articles a ON a.id = s.article_id"
            ),
            "tags": rows(
                "SELECT a.dedup_key, t.topic, t.rule FROM article_topics t"
                " JOIN articles a ON a.id = t.article_id"
            ),
            "article topics": rows("SELECT dedup_key, topics FROM articles"),
            "search": rows(
                "SELECT a.dedup_key FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid"
                " WHERE articles_fts MATCH 'report'"
            ),
            # Every article in exactly one story (the per-article rows are checked as a set).
            "stories": rows(
                "SELECT a.dedup_key, count(m.story_id) FROM articles a"
                " LEFT JOIN story_members m ON m.article_id = a.id GROUP BY a.id"
            ),
        }


def check_integrity(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def logged(db: Path) -> int:
    """fetch_log rows committed so far (0 while the database is still being created)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM fetch_log").fetchone()[0]
    except sqlite3.OperationalError:  # no file yet, or no table yet
        return 0
