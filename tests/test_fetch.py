"""fetch.py against real HTTP servers on 127.0.0.1 (and 127.0.0.2 for per-host limits).

pytest-httpserver serves the ordinary cases; `server` below is a small threaded http.server
for what it cannot do: slow and dripping bodies, huge streamed bodies, concurrency counting.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import http.server
import socket
import threading
import time
import tracemalloc
import zlib
from collections import Counter
from datetime import UTC
from urllib.parse import parse_qs, urlsplit

import pytest

import aggregator
from aggregator.fetch import fetch_all, fetch_sync
from aggregator.models import FeedRequest, FetchResult, Settings

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>'
BOMB = gzip.compress(bytes(10_000_000), compresslevel=9)
FAST = Settings(connect_timeout=2, read_timeout=2, total_timeout=5)


def fetch_one(url: str, settings: Settings = FAST, **kw: str) -> FetchResult:
    [result] = fetch_sync([FeedRequest(url, **kw)], settings)
    return result


# --------------------------------------------------------------------------- our own server


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: Counter[str] = Counter()  # requests in flight per Host
        self.max_host: Counter[str] = Counter()
        self.max_total = 0
        self.sent = 0  # body bytes written by /big
        self.stop = threading.Event()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        state = self.server.state
        host = self.headers["Host"].rsplit(":", 1)[0]
        with state.lock:
            state.active[host] += 1
            state.max_host[host] = max(state.max_host[host], state.active[host])
            state.max_total = max(state.max_total, sum(state.active.values()))
        try:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            getattr(self, "route_" + url.path.strip("/"))(**query)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            with state.lock:
                state.active[host] -= 1

    def send(self, body: bytes, **headers: str) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def route_echo(self, **query: str) -> None:
        """The request target as the server received it; two Cache-Control lines."""
        body = self.path.encode("ascii")
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "public")
        self.send_header("Cache-Control", "max-age=600")
        self.end_headers()
        self.wfile.write(body)

    def route_slow(self, delay: str = "0.1", n: str = "") -> None:
        """Wait before answering at all (the read timeout's case)."""
        time.sleep(float(delay))
        self.send(b"slow " + self.path.encode())

    def route_drip(self) -> None:
        """Headers at once, then one byte every 0.2 s: each read is quick, the whole is not."""
        self.send_response(200)
        self.send_header("Content-Length", "100")
        self.end_headers()
        for _ in range(100):
            if self.server.state.stop.wait(0.2):
                return
            self.wfile.write(b"x")
            self.wfile.flush()

    def route_bomb(self) -> None:
        """10 MB of zeros in ~10 KB of gzip."""
        self.send(BOMB, Content_Encoding="gzip")

    def route_big(self, declare: str = "") -> None:
        """50 MB in 64 KiB writes, with or without Content-Length; counts what it sent."""
        total, chunk = 50_000_000, b"x" * 65536
        self.send_response(200)
        if declare:
            self.send_header("Content-Length", str(total))
        else:  # body runs to the end of the connection
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        for _ in range(total // len(chunk)):
            self.wfile.write(chunk)
            with self.server.state.lock:
                self.server.state.sent += len(chunk)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    state: _State


class Servers:
    def __init__(self, state: _State, ports: dict[str, int]) -> None:
        self.state, self.ports = state, ports

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.ports[host]}{path}"


@pytest.fixture
def server():
    """The same handler on 127.0.0.1 and 127.0.0.2 (all of 127/8 is loopback on Linux)."""
    state, servers = _State(), []
    for host in ("127.0.0.1", "127.0.0.2"):
        srv = _Server((host, 0), _Handler)
        srv.state = state
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}).start()
        servers.append(srv)
    yield Servers(state, {s.server_address[0]: s.server_address[1] for s in servers})
    state.stop.set()
    for srv in servers:
        srv.shutdown()
        srv.server_close()


# --------------------------------------------------------------------------- success


def test_200_keeps_body_and_interesting_headers_and_sends_ours(httpserver):
    httpserver.expect_request("/feed").respond_with_data(
        FEED,
        content_type="application/rss+xml",
        headers={"ETag": '"v1"', "Last-Modified": "Wed, 01 Jan 2025 00:00:00 GMT", "X-Other": "1"},
    )
    result = fetch_one(httpserver.url_for("/feed"))

    assert result.ok and result.status == 200 and result.content == FEED
    assert result.final_url == result.url and not result.permanent_redirect
    assert result.header("etag") == '"v1"'
    assert result.header("last-modified") == "Wed, 01 Jan 2025 00:00:00 GMT"
    assert result.header("content-type") == "application/rss+xml"
    assert result.header("x-other") is None
    assert [k for k, _ in result.headers] == sorted(k for k, _ in result.headers)
    assert result.started.tzinfo is UTC and 0 < result.duration < 2
    sent = httpserver.log[0][0].headers
    assert sent["User-Agent"] == aggregator.USER_AGENT
    assert sent["Accept-Encoding"] == "gzip, deflate"
    assert sent["Accept"].startswith("application/atom+xml, application/rss+xml")
    assert "If-None-Match" not in sent and "If-Modified-Since" not in sent


def test_user_agent_from_settings(httpserver):
    httpserver.expect_request("/feed", headers={"User-Agent": "mine/1"}).respond_with_data(FEED)
    assert fetch_one(httpserver.url_for("/feed"), Settings(user_agent="mine/1")).ok


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_body_is_decoded(httpserver, encoding):
    packed = gzip.compress(FEED) if encoding == "gzip" else zlib.compress(FEED)
    httpserver.expect_request("/feed").respond_with_data(
        packed, headers={"Content-Encoding": encoding}
    )
    assert fetch_one(httpserver.url_for("/feed")).content == FEED


def test_conditional_get_sends_validators_byte_for_byte_and_304_is_not_modified(httpserver):
    etag, modified = 'W/"abc"', "Tuesday, 08-Feb-94 14:15:29 GMT"  # weak; RFC 850 date
    httpserver.expect_request(
        "/feed", headers={"If-None-Match": etag, "If-Modified-Since": modified}
    ).respond_with_data(b"", status=304, headers={"ETag": etag})

    result = fetch_one(httpserver.url_for("/feed"), etag=etag, last_modified=modified)

    assert result.ok and result.not_modified and result.status == 304
    assert result.content is None and result.header("etag") == etag


def test_url_goes_out_percent_encoded_and_repeated_headers_are_joined(server):
    """The URL reaches the server as httpx encodes it (spaces, non-ASCII, an already
    encoded %2F left alone), and a header sent twice is kept as one value joined by ", "
    (as httpx reads it: the schedule reads max-age from it)."""
    url = server.url("/echo") + "?q=a b&city=Zürich&path=a%2Fb"
    result = fetch_one(url)
    assert result.ok, result.error_message
    assert result.content == b"/echo?q=a%20b&city=Z%C3%BCrich&path=a%2Fb"
    assert result.header("cache-control") == "public, max-age=600"


def test_young_collections_are_rarer_during_a_poll_and_restored_after(httpserver):
    """fetch_all raises the garbage collector's young-generation threshold while it runs
    (fewer collections over the objects of the requests in flight) and puts the caller's
    back afterwards, also when the caller stops early."""
    import gc

    from aggregator.fetch import GC_YOUNG_THRESHOLD

    httpserver.expect_request("/feed").respond_with_data(FEED)
    before = gc.get_threshold()
    requests = [FeedRequest(url=httpserver.url_for("/feed")) for _ in range(3)]

    async def poll(stop_after: int) -> list[tuple[int, int, int]]:
        seen = []
        async with contextlib.aclosing(fetch_all(requests, FAST)) as results:
            async for _ in results:
                seen.append(gc.get_threshold())
                if len(seen) == stop_after:
                    break
        return seen

    try:
        gc.set_threshold(700, 10, 10)
        assert asyncio.run(poll(3)) == [(GC_YOUNG_THRESHOLD, 10, 10)] * 3
        assert gc.get_threshold() == (700, 10, 10)
        assert asyncio.run(poll(1)) == [(GC_YOUNG_THRESHOLD, 10, 10)]
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*before)


# --------------------------------------------------------------------------- redirects


def _redirect(httpserver, path: str, status: int, to: str) -> None:
    httpserver.expect_request(path).respond_with_data(b"", status=status, headers={"Location": to})


@pytest.mark.parametrize(("status", "permanent"), [(301, True), (308, True), (302, False)])
def test_redirect_records_final_url_and_whether_it_was_permanent(httpserver, status, permanent):
    _redirect(httpserver, "/old", status, "/new")  # relative Location, resolved
    httpserver.expect_request("/new").respond_with_data(FEED)

    result = fetch_one(httpserver.url_for("/old"))

    assert result.ok and result.content == FEED
    assert result.url == httpserver.url_for("/old")
    assert result.final_url == httpserver.url_for("/new")
    assert result.permanent_redirect is permanent


@pytest.mark.parametrize("chain", [(301, 302), (302, 301), (301, 307, 308)])
def test_a_temporary_hop_anywhere_means_not_permanent(httpserver, chain):
    for i, status in enumerate(chain):
        _redirect(httpserver, f"/r{i}", status, f"/r{i + 1}")
    httpserver.expect_request(f"/r{len(chain)}").respond_with_data(FEED)

    result = fetch_one(httpserver.url_for("/r0"))

    assert result.ok and result.final_url == httpserver.url_for(f"/r{len(chain)}")
    assert result.permanent_redirect is False


def test_all_permanent_chain_is_permanent(httpserver):
    _redirect(httpserver, "/a", 301, "/b")
    _redirect(httpserver, "/b", 308, "/c")
    httpserver.expect_request("/c").respond_with_data(FEED)
    assert fetch_one(httpserver.url_for("/a")).permanent_redirect is True


def test_redirect_loop_is_too_many_redirects(httpserver):
    _redirect(httpserver, "/a", 301, "/b")
    _redirect(httpserver, "/b", 301, "/a")

    result = fetch_one(httpserver.url_for("/a"))

    assert result.error_class == "TooManyRedirects" and result.content is None
    assert not result.permanent_redirect
    assert len(httpserver.log) == 11  # the first request and 10 redirects, no more


@pytest.mark.parametrize(
    "target", ["ftp://127.0.0.1/feed", "file:///etc/passwd", "javascript:alert(1)", "data:,x"]
)
def test_redirect_to_other_scheme_is_refused(httpserver, target):
    _redirect(httpserver, "/feed", 301, target)

    result = fetch_one(httpserver.url_for("/feed"))

    assert result.error_class == "UnsupportedRedirect" and result.content is None
    assert target.split(":")[0] in result.error_message
    assert result.final_url == httpserver.url_for("/feed")


# --------------------------------------------------------------------------- HTTP errors


@pytest.mark.parametrize(
    ("status", "message"),
    [(404, "HTTP 404 Not Found"), (500, "HTTP 500 Internal Server Error")],
)
def test_error_status_is_an_error_with_status(httpserver, status, message):
    httpserver.expect_request("/feed").respond_with_data(b"<html>oops</html>", status=status)

    result = fetch_one(httpserver.url_for("/feed"))

    assert result.error_class == "HTTPStatus" and result.error_message == message
    assert result.status == status and result.content is None and not result.not_modified


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_kept_on_error_responses(httpserver, status):
    httpserver.expect_request("/feed").respond_with_data(
        b"slow down", status=status, headers={"Retry-After": "120"}
    )

    result = fetch_one(httpserver.url_for("/feed"))

    assert result.error_class == "HTTPStatus" and result.status == status
    assert result.header("retry-after") == "120"


# --------------------------------------------------------------------------- bodies


@pytest.mark.parametrize("declare", ["", "1"])
def test_body_over_limit_is_refused_without_reading_it_all(server, declare):
    settings = Settings(max_body_bytes=1_000_000, read_timeout=5, total_timeout=10)

    result = fetch_one(server.url(f"/big?declare={declare}"), settings)

    assert result.error_class == "BodyTooLarge" and result.content is None
    assert result.status == 200
    time.sleep(0.2)  # let the server notice the closed connection
    assert server.state.sent < 20_000_000  # of 50 MB: we hung up early
    assert ("Content-Length" in result.error_message) == bool(declare)


def test_gzip_bomb_is_refused_quickly_and_in_little_memory(server):
    url = server.url("/bomb")
    fetch_one(server.url("/slow?delay=0"))  # warm-up: first-run allocations are not the bomb
    tracemalloc.start()  # (the http.server thread allocates little; werkzeug's takes 10 MB)
    try:
        result = fetch_one(url, Settings(max_body_bytes=1_000_000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert result.error_class == "BodyTooLarge" and result.content is None
    assert result.duration < 1
    assert peak < 4_000_000  # inflated only a little past the limit, never all 10 MB


@pytest.mark.parametrize(
    "body",
    [gzip.compress(FEED * 50)[:-40], b"not gzip at all"],
    ids=["truncated", "garbage"],
)
def test_broken_gzip_is_an_error_not_a_partial_feed(httpserver, body):
    httpserver.expect_request("/feed").respond_with_data(body, headers={"Content-Encoding": "gzip"})

    result = fetch_one(httpserver.url_for("/feed"))

    assert result.error_class == "DecodingError" and result.content is None
    assert result.status == 200


# --------------------------------------------------------------------------- network


def test_connection_refused_is_connect_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = fetch_one(f"http://127.0.0.1:{port}/feed")
    assert result.error_class == "ConnectError" and result.status is None
    assert "127.0.0.1" in result.error_message


@pytest.mark.parametrize(
    "url", ["not a url", "ftp://example.com/feed", "http:///feed", "http://[::1/"]
)
def test_invalid_url(url):
    result = fetch_one(url)
    assert result.error_class == "InvalidURL" and result.final_url == url


def test_read_timeout(server):
    result = fetch_one(server.url("/slow?delay=2"), Settings(read_timeout=0.3, total_timeout=5))
    assert result.error_class == "ReadTimeout" and "127.0.0.1" in result.error_message
    assert result.duration < 1.5


def test_dripping_body_hits_total_timeout(server):
    settings = Settings(read_timeout=5, total_timeout=1)  # every single read is quick

    result = fetch_one(server.url("/drip"), settings)

    assert result.error_class == "TotalTimeout" and result.content is None
    assert 0.9 < result.duration < 2


# --------------------------------------------------------------------------- many feeds


def test_per_host_limit_holds_for_one_host(server):
    requests = [FeedRequest(server.url(f"/slow?delay=0.3&n={i}")) for i in range(12)]

    results = fetch_sync(requests, Settings(concurrency=16, per_host=2))

    assert all(r.ok for r in results) and len(results) == 12
    assert sorted(r.url for r in results) == sorted(r.url for r in requests)
    assert server.state.max_host["127.0.0.1"] == 2
    # Durations are the feeds' own (~0.3 s each), not the up to ~1.8 s spent queueing for
    # the host (margins are wide so a loaded CI machine cannot flake this).
    assert max(r.duration for r in results) < 1.2


def test_overall_and_per_host_limits_hold_across_hosts(server):
    requests = [
        FeedRequest(server.url(f"/slow?delay=0.1&n={i}", host))
        for i in range(8)
        for host in ("127.0.0.1", "127.0.0.2")
    ]

    results = fetch_sync(requests, Settings(concurrency=3, per_host=2))

    assert all(r.ok for r in results) and len(results) == 16
    assert server.state.max_total == 3
    assert max(server.state.max_host.values()) == 2


def test_one_failing_feed_does_not_affect_the_others(httpserver):
    httpserver.expect_request("/good").respond_with_data(FEED)
    httpserver.expect_request("/gone").respond_with_data(b"", status=410)
    urls = [
        httpserver.url_for("/good"),
        httpserver.url_for("/gone"),
        "nonsense",
        "http://127.0.0.1:1/",
    ]

    results = {r.url: r for r in fetch_sync([FeedRequest(u) for u in urls], FAST)}

    assert results[urls[0]].content == FEED
    assert results[urls[1]].error_class == "HTTPStatus"
    assert results[urls[2]].error_class == "InvalidURL"
    assert results[urls[3]].error_class == "ConnectError"


def test_results_arrive_as_each_feed_completes(server):
    slow, fast = server.url("/slow?delay=2"), server.url("/slow?delay=0")
    arrivals: list[tuple[str, float]] = []

    async def main() -> None:
        t0 = time.monotonic()
        async for result in fetch_all([FeedRequest(slow), FeedRequest(fast)], FAST):
            arrivals.append((result.url, time.monotonic() - t0))

    asyncio.run(main())

    assert [url for url, _ in arrivals] == [fast, slow]
    assert arrivals[0][1] < 1.5 <= arrivals[1][1]


def test_cancelling_stops_downloads_and_leaves_nothing_running(server):
    requests = [FeedRequest(server.url(f"/slow?delay=3&n={i}")) for i in range(4)]

    async def main() -> tuple[int, float]:
        async def consume() -> None:
            async for _ in fetch_all(requests, FAST):
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.3)
        t0 = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        return len(leftover), time.monotonic() - t0

    leftover, took = asyncio.run(main())

    # The downloads would take 3 s: returning well before that means they were cancelled.
    assert leftover == 0 and took < 2.0


def test_stopping_early_with_aclosing_cancels_the_rest(server):
    requests = [FeedRequest(server.url("/slow?delay=0"))] + [
        FeedRequest(server.url(f"/slow?delay=3&n={i}", "127.0.0.2")) for i in range(3)
    ]

    async def main() -> tuple[FetchResult, int]:
        async with contextlib.aclosing(fetch_all(requests, FAST)) as results:
            first = await anext(results)
        return first, len(asyncio.all_tasks()) - 1

    t0 = time.monotonic()
    first, leftover = asyncio.run(main())

    assert first.url == requests[0].url and leftover == 0
    assert time.monotonic() - t0 < 1.5


def test_backlog_holds_downloads_back_until_results_are_taken(httpserver):
    """With backlog=2, a consumer that sits on a result keeps the third download from
    starting; without it every download runs at once. Then every feed still arrives."""
    for i in range(10):
        httpserver.expect_request(f"/f{i}").respond_with_data(FEED)
    requests = [FeedRequest(url=httpserver.url_for(f"/f{i}")) for i in range(10)]

    async def started_while_sitting(backlog: int | None) -> tuple[int, int]:
        httpserver.clear_log()
        taken = 0
        async with contextlib.aclosing(fetch_all(requests, Settings(), backlog=backlog)) as it:
            async for _ in it:
                taken += 1
                if taken == 1:
                    await asyncio.sleep(0.5)  # every unheld download has finished by now
                    started = len(httpserver.log)
        return started, taken

    assert asyncio.run(started_while_sitting(2)) == (2, 10)
    assert asyncio.run(started_while_sitting(None)) == (10, 10)


def test_bodies_are_not_kept_after_they_were_taken(httpserver):
    """fetch_all hands each result over and keeps no reference to it: a consumer that drops
    each body holds one at a time, not the whole poll (2,000 feeds are 150 MB)."""
    body = b"<rss>" + b"x" * 1_000_000 + b"</rss>"
    for i in range(24):
        httpserver.expect_request(f"/big{i}").respond_with_data(body)
    requests = [FeedRequest(url=httpserver.url_for(f"/big{i}")) for i in range(24)]

    async def consume() -> tuple[int, int]:
        seen = 0
        tracemalloc.start()
        try:
            async with contextlib.aclosing(fetch_all(requests, FAST, backlog=2)) as results:
                async for result in results:
                    assert result.ok and len(result.content) == len(body)
                    seen += 1
                    del result
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return seen, peak

    seen, peak = asyncio.run(consume())
    assert seen == 24
    # A few bodies in flight (each copied a few times on its way), not all 24 MB.
    assert peak < 16_000_000


def test_cookies_are_neither_kept_nor_sent(httpserver):
    """A cookie set by one feed's server does not come back on the next request of the same
    poll, to the same feed or another one on that host."""
    httpserver.expect_request("/a").respond_with_data(FEED, headers={"Set-Cookie": "id=42; Path=/"})
    httpserver.expect_request("/b").respond_with_data(FEED)
    one_at_a_time = Settings(concurrency=1, per_host=1)
    urls = [httpserver.url_for("/a"), httpserver.url_for("/b"), httpserver.url_for("/a")]
    results = fetch_sync([FeedRequest(url=u) for u in urls], one_at_a_time)
    assert all(r.ok for r in results)
    assert [request.path for request, _ in httpserver.log] == ["/a", "/b", "/a"]
    assert all("Cookie" not in request.headers for request, _ in httpserver.log)
