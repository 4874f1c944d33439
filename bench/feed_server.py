"""Generated feeds in, a fast loopback HTTP/1.1 server out (run as its own process).

    python bench/feed_server.py --feeds 200 --phase base --port 8765 [--reuse-port]

Listens on 127.0.0.2 ... 127.0.0.101 (all loopback on Linux; one listening socket per
address, nothing on 0.0.0.0) at one port and answers from pre-rendered bytes: the whole
200 response (identity or gzip, by Accept-Encoding) is one write, so the server stays far
from being the bottleneck. ETag/If-None-Match and Last-Modified/If-Modified-Since give 304.
Keep-alive, pipelining and `Connection: close` are honoured. Prints one JSON line
{"ready": true, "port": N, "pid": P} when listening; with --reuse-port several processes
can share the port (the kernel spreads connections). On SIGTERM prints requests per status
and connections accepted, and its CPU seconds spent serving.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import socket
import sys

import feedgen


class Site:
    """Pre-rendered responses per (address, path)."""

    def __init__(self, docs: list[feedgen.Doc]) -> None:
        self.docs = {(d.host.encode(), d.path.encode()): self._render(d) for d in docs}
        self.stats = {200: 0, 304: 0, 404: 0}
        #: Connections accepted: a client that keeps its connections alive opens few.
        self.connections = 0

    @staticmethod
    def _render(d: feedgen.Doc) -> tuple[bytes, bytes, bytes, bytes, bytes]:
        common = (
            f"Content-Type: {d.content_type}\r\nETag: {d.etag}\r\n"
            f"Last-Modified: {d.last_modified}\r\nCache-Control: max-age=0\r\n"
        )
        plain = (
            f"HTTP/1.1 200 OK\r\n{common}Content-Length: {len(d.body)}\r\n\r\n".encode() + d.body
        )
        gz = (
            f"HTTP/1.1 200 OK\r\n{common}Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n"
            f"Content-Length: {len(d.gzipped)}\r\n\r\n".encode()
            + d.gzipped
        )
        not_modified = (
            f"HTTP/1.1 304 Not Modified\r\nETag: {d.etag}\r\n"
            f"Last-Modified: {d.last_modified}\r\n\r\n".encode()
        )
        return plain, gz, not_modified, d.etag.encode(), d.last_modified.encode()


NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nnot found"
)


class Handler(asyncio.Protocol):
    def __init__(self, site: Site) -> None:
        self.site = site
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.host = transport.get_extra_info("sockname")[0].encode()
        self.site.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > 65536:
                    self.transport.close()
                return
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            if not self.respond(head):
                self.transport.close()
                return

    def respond(self, head: bytes) -> bool:
        """Write the answer to one request head; False when the connection should close."""
        lines = head.split(b"\r\n")
        try:
            method, target, version = lines[0].split(b" ", 2)
        except ValueError:
            return False
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        path = target.split(b"?", 1)[0]
        keep = headers.get(b"connection", b"").lower() != b"close" and version == b"HTTP/1.1"
        doc = self.site.docs.get((self.host, path))
        if doc is None or method not in (b"GET", b"HEAD"):
            self.site.stats[404] += 1
            self.transport.write(NOT_FOUND)
            return keep
        plain, gz, not_modified, etag, last_modified = doc
        inm = headers.get(b"if-none-match")
        if (inm is not None and etag in inm) or (
            inm is None and headers.get(b"if-modified-since") == last_modified
        ):
            self.site.stats[304] += 1
            self.transport.write(not_modified)
            return keep
        self.site.stats[200] += 1
        body = gz if b"gzip" in headers.get(b"accept-encoding", b"") else plain
        if method == b"HEAD":
            body = body[: body.index(b"\r\n\r\n") + 4]
        self.transport.write(body)
        return keep


async def serve(docs: list[feedgen.Doc], port: int, reuse_port: bool) -> None:
    site = Site(docs)
    loop = asyncio.get_running_loop()
    servers = []
    for host in sorted({d.host for d in docs} | set(feedgen.HOSTS)):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        port = sock.getsockname()[1]  # port 0: the first bind chooses, the rest follow
        sock.listen(1024)
        servers.append(await loop.create_server(lambda: Handler(site), sock=sock))
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    ready = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"ready": True, "port": port, "pid": os.getpid()}), flush=True)
    await stop.wait()
    for server in servers:
        server.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # The server's CPU while serving: far below the clients' shows it was not the limit.
    cpu = usage.ru_utime + usage.ru_stime - ready.ru_utime - ready.ru_stime
    stats = {**site.stats, "connections": site.connections, "cpu_seconds": round(cpu, 2)}
    print(json.dumps({"stats": stats}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, required=True)
    parser.add_argument("--phase", choices=feedgen.PHASES, default="base")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--reuse-port", action="store_true")
    args = parser.parse_args()
    docs = feedgen.load(args.feeds)[args.phase]
    try:
        asyncio.run(serve(docs, args.port, args.reuse_port))
    except OSError as e:
        sys.exit(f"feed_server: {e}")


if __name__ == "__main__":
    main()
