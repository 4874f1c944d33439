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
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
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
