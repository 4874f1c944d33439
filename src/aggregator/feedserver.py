"""A folder in, a loopback HTTP server out: serves feed files like a polite publisher would.

Used by `aggregator demo`, the tests and the benchmarks, so that sample feeds travel the real
fetch path: ETag and Last-Modified validators, 304 Not Modified, gzip, Content-Type by file
extension. It binds 127.0.0.1 only.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

CONTENT_TYPES = {
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".rdf": "application/rdf+xml",
    ".json": "application/feed+json",
    ".html": "text/html; charset=utf-8",
    ".opml": "text/x-opml",
}


class _Handler(BaseHTTPRequestHandler):
    server: _FeedServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        root = self.server.root
        relative = unquote(urlsplit(self.path).path).lstrip("/")
        target = (root / relative).resolve()
        if root not in target.parents or not target.is_file():
            self._send(404, b"not found", "text/plain")
            return
        self.server.hits[relative] = self.server.hits.get(relative, 0) + 1
        body = target.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        last_modified = formatdate(os.stat(target).st_mtime, usegmt=True)
        headers = {"ETag": etag, "Last-Modified": last_modified}
        if self.headers.get("If-None-Match") == etag or (
            "If-None-Match" not in self.headers
            and self.headers.get("If-Modified-Since") == last_modified
        ):
            self.server.not_modified += 1
            self._send(304, b"", None, headers)
            return
        content_type = CONTENT_TYPES.get(target.suffix.lower(), "application/octet-stream")
        if "gzip" in self.headers.get("Accept-Encoding", "") and len(body) > 1024:
            body = gzip.compress(body, compresslevel=5)
            headers["Content-Encoding"] = "gzip"
        self._send(200, body, content_type, headers)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str | None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # quiet: the demo prints its own summary


class _FeedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.root = root
        #: Requests per file, and how many got 304 (tests read these).
        self.hits: dict[str, int] = {}
        self.not_modified = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


@contextmanager
def serve_folder(folder: str | os.PathLike[str], *, port: int = 0) -> Iterator[_FeedServer]:
    """Serve `folder` on 127.0.0.1 (a free port unless given) until the block ends."""
    server = _FeedServer(Path(folder).resolve(), port)
    thread = threading.Thread(target=server.serve_forever, name="feedserver", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
