"""FeedRequests in, FetchResults out; the only module that does network.

`fetch_all` downloads many feeds at once with one httpx.AsyncClient (over aiohttp's
connection pool, see _AiohttpTransport) and yields each
FetchResult as soon as that feed is done, so the caller can parse and store while the rest
download. Concurrency is bounded overall (settings.concurrency) and per host name
(settings.per_host). A feed's failure is a FetchResult with error_class/error_message set,
never an exception: the names are httpx's exception class names (ConnectError, ReadTimeout,
RemoteProtocolError, DecodingError, ...) or one of ours: InvalidURL, HTTPStatus, BodyTooLarge,
TotalTimeout, TooManyRedirects, UnsupportedRedirect, or the class of the error a `guard`
raised (BlockedURL: see netguard.Guard, used by `aggregator add`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import threading
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import httpx
import yarl

import aggregator

from .errors import AggregatorError
from .models import FeedRequest, FetchResult, Settings

#: Called with (url, None) before each request, redirects included, and with (url, IP) for
#: each address the connection's own lookup returns; raising an AggregatorError refuses that
#: URL (see netguard.Guard).
Guard = Callable[[str, str | None], None]

log = logging.getLogger(__name__)

ACCEPT = (
    "application/atom+xml, application/rss+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
# Only what _Inflater can decode: we decompress ourselves (see _Inflater for why).
ACCEPT_ENCODING = "gzip, deflate"
MAX_REDIRECTS = 10
#: Response headers kept in FetchResult.headers (validators, caching hints, Retry-After).
KEPT_HEADERS = (
    "cache-control", "content-location", "content-type", "date", "etag", "expires",
    "last-modified", "retry-after"
)  # fmt: skip
_KEPT = frozenset(KEPT_HEADERS)
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_PERMANENT_STATUSES = frozenset({301, 308})


async def fetch_all(
    requests: Sequence[FeedRequest],
    settings: Settings,
    *,
    user_agent: str | None = None,
    guard: Guard | None = None,
    backlog: int | None = None,
) -> AsyncIterator[FetchResult]:
    """Fetch every request; yield one FetchResult per request, in order of completion.

    With `backlog`, at most that many requests are started and not yet taken from the
    iterator: a consumer slower than the network (parsing) holds the downloads back instead
    of every body piling up in memory.

    Wrap in `contextlib.aclosing()` when you may stop iterating early: closing the generator
    cancels the downloads still running and closes the HTTP client.
    """
    limiter = _Limiter(settings.concurrency, settings.per_host)
    slots = asyncio.Semaphore(backlog) if backlog else None
    # Results go through a queue, not the tasks' return values: a finished task keeps its
    # result for as long as the task is referenced, which would keep every body of the
    # poll in memory until the end.
    done: asyncio.Queue[FetchResult | BaseException] = asyncio.Queue()

    async def one(client: httpx.AsyncClient, request: FeedRequest) -> None:
        if slots is not None:
            await slots.acquire()  # released when the result has been taken
        try:
            done.put_nowait(await _fetch_one(client, request, limiter, settings, guard))
        except Exception as e:  # _fetch_one reports errors as results; this is a bug
            done.put_nowait(e)

    with _fewer_collections():
        async with _make_client(settings, user_agent, guard) as client:
            tasks = [asyncio.create_task(one(client, r)) for r in requests]
            try:
                for _ in tasks:
                    item = await done.get()
                    if isinstance(item, BaseException):
                        raise item
                    yield item
                    del item
                    if slots is not None:
                        slots.release()
            finally:
                # Reached on normal exit, on aclose() and on cancellation (Ctrl-C under
                # asyncio.run): stop the stragglers before the client's connections close.
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)


#: CPython's young-generation collection threshold while fetch_all runs (its default: 700).
GC_YOUNG_THRESHOLD = 7_000
_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved: tuple[int, int, int] | None = None


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector's young generation less often while feeds download.

    Every request allocates a few hundred short-lived containers (httpx and aiohttp request,
    response and header objects, tasks, futures); at the default threshold a young
    collection ran every few requests and traversed every object of the requests in flight:
    15 % of a warm poll's CPU (issue #7), which a threshold ten times higher cuts to a
    third. Reference counting still frees almost everything at once; what waits longer is
    cyclic garbage, at most a few thousand objects. Nested and concurrent polls share one
    raised threshold; the last one to finish puts the old one back (unless someone else
    has changed it meanwhile).
    """
    global _gc_users, _gc_saved
    with _gc_lock:
        if _gc_users == 0:
            _gc_saved = gc.get_threshold()
            # 0 means the collector is off: leave it off.
            if 0 < _gc_saved[0] < GC_YOUNG_THRESHOLD:
                gc.set_threshold(GC_YOUNG_THRESHOLD, *_gc_saved[1:])
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0 and _gc_saved is not None:
                if gc.get_threshold()[0] == GC_YOUNG_THRESHOLD:
                    gc.set_threshold(*_gc_saved)
                _gc_saved = None


def fetch_sync(requests: Sequence[FeedRequest], settings: Settings, **kw: Any) -> list[FetchResult]:
    """fetch_all for scripts and tests: results in order of completion, as a list."""

    async def collect() -> list[FetchResult]:
        return [result async for result in fetch_all(requests, settings, **kw)]

    return asyncio.run(collect())


class _NoCookies(httpx.Cookies):
    """Cookies that are never kept: a feed server's cookie is neither stored nor sent back,
    so no server can follow the aggregator from feed to feed, a poll does not depend on the
    order its feeds came back in, and no response pays for http.cookiejar's parsing, nor for
    the urllib request and response that httpx builds to hand each response to a jar (7 %,
    then 3 % of a warm poll)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set_cookie_header(self, request: httpx.Request) -> None:
        return None

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        return None


class _Client(httpx.AsyncClient):
    """An AsyncClient whose cookies are always the empty _NoCookies (httpx wraps whatever
    `cookies=` it is given in a Cookies of its own, whose extract_cookies does the work)."""

    @property  # type: ignore[override]
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        return None


_NO_COOKIES = _NoCookies()


def _make_client(
    settings: Settings, user_agent: str | None, guard: Guard | None = None
) -> httpx.AsyncClient:
    return _Client(
        transport=_AiohttpTransport(settings.concurrency, guard),
        follow_redirects=False,  # _fetch_one follows them, to vet each hop (see there)
        event_hooks={"response": [_vet_redirect]},
        headers={
            "User-Agent": user_agent or settings.user_agent or aggregator.USER_AGENT,
            "Accept": ACCEPT,
            "Accept-Encoding": ACCEPT_ENCODING,
        },
        timeout=httpx.Timeout(
            connect=settings.connect_timeout,
            read=settings.read_timeout,
            write=settings.read_timeout,
            pool=settings.total_timeout,
        ),
    )


class _AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx's API over aiohttp's connection pool.

    Why: httpcore's pool gets slower with concurrency on many short requests (issue #7:
    120-270 req/s on loopback, aiohttp ~4,800); through this transport a warm poll of 500
    feeds went from 0.79 s to 0.37 s. httpx stays the interface (URLs, requests, responses,
    exception classes); aiohttp only moves bytes: no decompression (see _Inflater), no
    redirects, no cookies, no headers of its own. aiohttp errors become the httpx exceptions
    httpcore would have raised, so FetchResult.error_class names do not change.
    """

    def __init__(self, limit: int, guard: Guard | None = None) -> None:
        self._limit = max(1, limit)
        self._guard = guard
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, float | None], aiohttp.ClientTimeout] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._limit,
                    limit_per_host=0,
                    resolver=_GuardedResolver(self._guard) if self._guard else None,
                ),
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
            )
        timeout = request.extensions.get("timeout", {})
        limits = (timeout.get("connect"), timeout.get("read"))
        if limits not in self._timeouts:
            self._timeouts[limits] = aiohttp.ClientTimeout(
                total=None, sock_connect=limits[0], sock_read=limits[1]
            )
        # Header values go out as UTF-8 in aiohttp; ours (validators included) are UTF-8 text.
        headers = [(k.decode("ascii"), v.decode("utf-8")) for k, v in request.headers.raw]
        with _map_errors():
            response = await self._session.request(
                request.method,
                # httpx has already percent-encoded the URL (and IDNA-encoded the host):
                # encoded=True spares aiohttp parsing and quoting it a second time.
                yarl.URL(str(request.url), encoded=True),
                headers=headers,
                allow_redirects=False,
                timeout=self._timeouts[limits],
            )
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_AiohttpStream(response),
            request=request,
            extensions={"reason_phrase": (response.reason or "").encode("latin-1", "replace")},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _GuardedResolver(aiohttp.ThreadedResolver):
    """Vets every address a name resolves to *for the connection itself*: the lookup the
    guard made before the request could differ from the one used to connect (DNS
    rebinding), so the addresses aiohttp will connect to are checked here."""

    def __init__(self, guard: Guard) -> None:
        super().__init__()
        self._guard = guard

    async def resolve(self, host: str, port: int = 0, family: Any = 0) -> list[Any]:
        found = await super().resolve(host, port, family)
        for address in found:
            try:
                self._guard(f"http://{host}/", address["host"])
            except AggregatorError as e:
                raise _Failure(type(e).__name__, str(e)) from None
        return found


class _AiohttpStream(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _map_errors():
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        # A body read to its end returns the connection to the pool; a half-read one is
        # closed, so a refused body stops here.
        self._response.release()


@contextlib.contextmanager
def _map_errors() -> Iterator[None]:
    try:
        yield
    except aiohttp.ConnectionTimeoutError as e:
        raise httpx.ConnectTimeout(str(e) or "connect timed out") from e
    except aiohttp.SocketTimeoutError as e:
        raise httpx.ReadTimeout(str(e) or "read timed out") from e
    except aiohttp.ClientConnectorError as e:
        raise httpx.ConnectError(str(e)) from e
    except aiohttp.ClientPayloadError as e:
        # "Response payload is not completed: <ContentLengthError: 400, message='Not enough
        # data ... (received 300 of 5000 bytes).'>": keep the readable part.
        found = re.search(r"message='([^']+)'", str(e))
        message = f"incomplete body: {found.group(1)}" if found else str(e) or "incomplete body"
        raise httpx.RemoteProtocolError(message) from e
    except aiohttp.ServerDisconnectedError as e:
        raise httpx.RemoteProtocolError(str(e) or type(e).__name__) from e
    except aiohttp.ClientResponseError as e:  # an unreadable status line or header
        raise httpx.RemoteProtocolError(str(e) or type(e).__name__) from e
    except aiohttp.ClientOSError as e:
        raise httpx.ReadError(str(e) or type(e).__name__) from e
    except aiohttp.InvalidURL as e:
        raise httpx.UnsupportedProtocol(str(e)) from e


class _Limiter:
    """A slot = one of settings.per_host for the host, then one of settings.concurrency."""

    def __init__(self, total: int, per_host: int) -> None:
        self._total = asyncio.Semaphore(max(1, total))
        self._per_host = max(1, per_host)
        self._hosts: dict[str, asyncio.Semaphore] = {}

    def slot(self, host: str) -> _Slot:
        host_sem = self._hosts.get(host)
        if host_sem is None:
            host_sem = self._hosts[host] = asyncio.Semaphore(self._per_host)
        return _Slot(host_sem, self._total)


class _Slot:
    """`async with` one host slot, then one global slot (a class: a generator-based context
    manager costs a few microseconds more per request)."""

    __slots__ = ("_host", "_total")

    def __init__(self, host: asyncio.Semaphore, total: asyncio.Semaphore) -> None:
        self._host, self._total = host, total

    async def __aenter__(self) -> None:
        # Host first: 500 queued feeds of one host then hold at most per_host global
        # slots, instead of filling all of them while waiting for their host.
        await self._host.acquire()
        try:
            await self._total.acquire()
        except BaseException:
            self._host.release()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._total.release()
        self._host.release()


class _Failure(Exception):
    """A per-feed failure on its way to becoming FetchResult.error_class/error_message."""

    def __init__(
        self, error_class: str, message: str, status: int | None = None, headers: tuple = ()
    ) -> None:
        super().__init__(message)
        self.error_class, self.message = error_class, message
        self.status, self.headers = status, headers


@dataclass(slots=True)
class _Hop:
    """One HTTP response on the way to the feed."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    location: str | None = None
    body: bytes | None = None


async def _fetch_one(
    client: httpx.AsyncClient,
    request: FeedRequest,
    limiter: _Limiter,
    settings: Settings,
    guard: Guard | None = None,
) -> FetchResult:
    # Timed from the first request sent, not from the queue: a log saying "took 40 s" for
    # a feed that waited 39 s behind its host's other feeds would mislead.
    started, t0 = datetime.now(UTC), time.monotonic()
    headers = _request_headers(client, request)
    statuses: list[int] = []
    url: httpx.URL | None = None
    # The deadline covers time spent holding a slot; waiting in the queue does not count.
    budget = settings.total_timeout
    try:
        url = _http_url(request.url)
        while True:
            if guard is not None:  # the guard may resolve names: keep it off the event loop
                await _vet(guard, str(url))
            async with limiter.slot(url.host):
                t_hop = time.monotonic()
                if not statuses:
                    started, t0 = datetime.now(UTC), t_hop
                try:
                    async with asyncio.timeout(max(budget, 0.0)):
                        hop = await _get(client, url, headers, settings.max_body_bytes)
                except TimeoutError:
                    raise _Failure(
                        "TotalTimeout",
                        f"{url.host}: no complete response within {settings.total_timeout:g} s",
                    ) from None
                finally:
                    budget -= time.monotonic() - t_hop
            statuses.append(hop.status)
            if hop.location is None:
                break
            if len(statuses) > MAX_REDIRECTS:
                raise _Failure(
                    "TooManyRedirects",
                    f"{url.host}: more than {MAX_REDIRECTS} redirects, last to {hop.location}",
                    hop.status,
                    hop.headers,
                )
            url = _redirect_target(url, hop)
    except _Failure as f:
        error_class, message, status, headers = f.error_class, f.message, f.status, f.headers
    except httpx.HTTPError as e:
        where = url.host if url is not None else request.url
        error_class, message = type(e).__name__, f"{where}: {e or type(e).__name__}"
        status, headers = None, ()
    except Exception as e:  # a bug or a library surprise: still only this feed's problem
        log.warning("unexpected error fetching %s", request.url, exc_info=True)
        error_class, message, status, headers = type(e).__name__, f"{request.url}: {e}", None, ()
    else:
        error_class = message = None
        status, headers = hop.status, hop.headers
        if hop.status >= 300 and hop.status != 304:
            error_class, message = "HTTPStatus", f"HTTP {hop.status} {hop.reason}".rstrip()
    ok = error_class is None
    return FetchResult(
        url=request.url,
        final_url=str(url) if url is not None else request.url,
        status=status,
        started=started,
        duration=time.monotonic() - t0,
        content=hop.body if ok and status != 304 else None,
        headers=headers,
        not_modified=ok and status == 304,
        # Only an all-permanent chain that ended in a usable answer may rewrite the feed
        # URL: a temporary hop anywhere means the first URL is still the one to ask.
        permanent_redirect=ok
        and len(statuses) > 1
        and all(s in _PERMANENT_STATUSES for s in statuses[:-1]),
        error_class=error_class,
        error_message=message,
    )


def _request_headers(client: httpx.AsyncClient, request: FeedRequest) -> httpx.Headers:
    """The client's headers and the feed's validators: what build_request would merge."""
    headers = list(client.headers.raw)
    # Validators go back exactly as the server sent them (str -> the same bytes); httpx
    # would otherwise refuse a non-ASCII value. They are sent on every hop, like httpx does.
    if request.etag is not None:
        headers.append((b"If-None-Match", request.etag.encode()))
    if request.last_modified is not None:
        headers.append((b"If-Modified-Since", request.last_modified.encode()))
    return httpx.Headers(headers)


def _http_url(text: str) -> httpx.URL:
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as e:
        raise _Failure("InvalidURL", f"{text!r}: {e}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise _Failure("InvalidURL", f"{text!r} is not an http(s) URL")
    return url


async def _vet_redirect(response: httpx.Response) -> None:
    """Refuse a redirect to a non-http URL before httpx itself looks at it.

    httpx 0.28 builds a redirect's next request even with follow_redirects=False, and a
    Location like "javascript:alert(1)" made that raise InvalidURL inside send(), logged as
    an unexpected error without the status (issue 6).
    """
    if response.status_code not in _REDIRECT_STATUSES:
        return
    location = response.headers.get("location")
    if location is not None:
        hop = _Hop(response.status_code, "", _kept_headers(response), location)
        _redirect_target(response.request.url, hop)


def _redirect_target(url: httpx.URL, hop: _Hop) -> httpx.URL:
    assert hop.location is not None
    try:
        target = url.join(hop.location)
    except httpx.InvalidURL as e:
        raise _Failure("InvalidURL", f"redirect to {hop.location!r}: {e}", hop.status) from None
    # Never follow a feed into file://, ftp://, data: ... (a hostile feed reading local files).
    if target.scheme not in ("http", "https") or not target.host:
        raise _Failure(
            "UnsupportedRedirect",
            f"{url.host}: refused redirect to {hop.location!r}",
            hop.status,
            hop.headers,
        )
    return target


async def _vet(guard: Guard, url: str) -> None:
    """The guard's check of a URL before it is requested (it may resolve: off the loop)."""
    try:
        await asyncio.to_thread(guard, url, None)
    except AggregatorError as e:
        raise _Failure(type(e).__name__, str(e)) from None


async def _get(
    client: httpx.AsyncClient,
    url: httpx.URL,
    headers: httpx.Headers,
    max_bytes: int,
) -> _Hop:
    # Not client.build_request(): it merges the client's URL, headers, cookies and query
    # parameters into every request (a fifth of httpx's cost per request on a warm poll,
    # issue #7); the headers are merged once per feed (_request_headers), and there is no
    # base URL, no cookie and no query parameter to merge.
    request = httpx.Request(
        "GET", url, headers=headers, extensions={"timeout": client.timeout.as_dict()}
    )
    response = await client.send(request, stream=True)
    try:
        # The standard phrase when there is one: servers send "NOT FOUND", "Not found", ...
        reason = httpx.codes.get_reason_phrase(response.status_code) or response.reason_phrase
        hop = _Hop(response.status_code, reason, _kept_headers(response))
        if hop.status in _REDIRECT_STATUSES and "location" in response.headers:
            hop.location = response.headers["location"]
        elif 200 <= hop.status < 300:
            try:
                hop.body = await _read_body(response, max_bytes, hop)
            except httpx.HTTPError as e:  # a response arrived: keep its status and headers
                message = f"{url.host}: {e or type(e).__name__}"
                raise _Failure(type(e).__name__, message, hop.status, hop.headers) from e
        return hop
    finally:
        # Closing a half-read stream drops the connection, so a refused body stops here.
        await response.aclose()


def _kept_headers(response: httpx.Response) -> tuple[tuple[str, str], ...]:
    """KEPT_HEADERS in that order, repeated ones joined by ", " as httpx.Headers[name] does,
    in one pass over the headers (a lookup by name scans them all each time)."""
    found: dict[str, list[str]] = {}
    for name, value in response.headers.multi_items():
        if name in _KEPT:
            found.setdefault(name, []).append(value)
    return tuple((k, ", ".join(found[k])) for k in KEPT_HEADERS if k in found)


async def _read_body(response: httpx.Response, max_bytes: int, hop: _Hop) -> bytes:
    def too_large(what: str) -> _Failure:
        return _Failure("BodyTooLarge", f"{what} over {max_bytes} bytes", hop.status, hop.headers)

    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large(f"Content-Length {declared} is")
    inflater = _Inflater(response.headers.get("content-encoding", ""))
    body = bytearray()
    async for raw in response.aiter_raw():
        body += inflater.feed(raw, max_bytes - len(body) + 1)
        if len(body) > max_bytes:
            raise too_large("body is")
    inflater.finish()
    return bytes(body)


class _Inflater:
    """Content-Encoding gzip/deflate decoding with a size cap and an end-of-stream check.

    Why not httpx's `aiter_bytes()`: its decoders (httpx 0.28) return a gzip stream cut
    short as if it were complete, so a truncated feed would be stored with its new ETag, and
    they inflate a whole network chunk at once (64 KiB of gzip bomb is ~64 MB). Here output
    stops at the cap, and a stream without its end is a DecodingError.
    """

    def __init__(self, content_encoding: str) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",")]
        codings = [c for c in codings if c in ("gzip", "x-gzip", "deflate")]
        if len(codings) > 1:
            raise httpx.DecodingError(f"unsupported Content-Encoding {content_encoding!r}")
        self._coding = codings[0] if codings else None
        # wbits 47 accepts a gzip or zlib header; "deflate" is zlib-wrapped per RFC 9110,
        # but some servers send it raw, so that case is retried with raw deflate.
        self._zlib = zlib.decompressobj(47 if self._coding != "deflate" else zlib.MAX_WBITS)
        self._fed = False

    def feed(self, data: bytes, limit: int) -> bytes:
        if self._coding is None:
            return data
        try:
            out = self._zlib.decompress(data, limit)
        except zlib.error as e:
            if self._coding == "deflate" and not self._fed:
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                self._fed = True
                return self.feed(data, limit)
            raise httpx.DecodingError(f"{self._coding} body: {e}") from None
        self._fed = True
        return out

    def finish(self) -> None:
        if self._coding is not None and self._fed and not self._zlib.eof:
            raise httpx.DecodingError(f"{self._coding} body ends before its end-of-stream mark")
