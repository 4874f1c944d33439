"""A URL or an IP address in, a BlockedURL refusal (or nothing) out: no private-network feeds.

Server-side request forgery (issue #6): a feed URL found in someone's OPML file or web page
can point at 127.0.0.1, at a cloud metadata service on 169.254.169.254, at a router on
192.168.0.1 ... and the aggregator would GET it and store the answer where Datasette shows
it. Feeds that come from outside (`aggregator add`, `aggregator import-opml`) are therefore
checked, unless `settings.allow_private_addresses: true` (or `--allow-private`) says not to:

- `blocked_reason(ip)` (pure) says why an address is not a public one, or None. IPv4 inside
  IPv6 (::ffff:10.0.0.1, NAT64 64:ff9b::/96, 6to4, Teredo) is judged by its IPv4 address.
- `check_url(url)` reads an IP literal in every spelling the system resolver accepts
  (127.1, 2130706433, 0x7f.0.0.1, [::ffff:127.0.0.1]) or else resolves the host name, and
  refuses when *any* of its addresses is not public: the connection could go to either.
- `Guard` is what fetch.py calls before each request, redirects included, and again with
  the address it actually connected to, so that a name answering differently the second
  time (DNS rebinding) is refused too.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from .errors import BlockedURL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: A host name in, its addresses (text) out; raises OSError when it cannot resolve.
Resolver = Callable[[str], Sequence[str]]

ALLOW_HINT = "set `allow_private_addresses: true` under settings (or pass --allow-private)"
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def blocked_reason(ip: IPAddress) -> str | None:
    """Why `ip` is no address to fetch feeds from (e.g. "a loopback address"), or None."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
        if embedded is not None:  # the packets go to the IPv4 address: judge that one
            reason = blocked_reason(embedded)
            return f"{reason} ({embedded} inside IPv6)" if reason else None
        for tunnelled in (ip.sixtofour, ip.teredo[1] if ip.teredo else None):
            if tunnelled is not None and (reason := blocked_reason(tunnelled)):
                return f"{reason} ({tunnelled} inside IPv6)"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:  # e.g. 100.64.0.0/10, carrier-grade NAT
        return "not a public address"
    return None


def ip_literal(host: str) -> IPAddress | None:
    """The address when `host` is an IP literal in any spelling a resolver accepts, else None."""
    text = host.strip("[]").split("%")[0]  # [fe80::1%eth0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if not text or not all(c.isalnum() or c == "." for c in text):
        return None
    try:
        # inet_aton reads the legacy forms getaddrinfo also accepts: 127.1, 0x7f.1, 2130706433.
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


def system_resolver(host: str) -> tuple[str, ...]:
    """Every address the system resolver gives for `host` (raises OSError when none)."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return tuple(dict.fromkeys(str(info[4][0]) for info in infos))


def check_url(url: str, resolve: Resolver = system_resolver) -> None:
    """Raise BlockedURL when `url` is not http(s) or any address of its host is not public."""
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname
    except ValueError:  # e.g. "http://[::1" or a bad port
        scheme, host = "", None
    if scheme not in ("http", "https") or not host:
        raise BlockedURL(f"refused {url}: not an http(s) URL with a host", url=url)
    literal = ip_literal(host)
    if literal is not None:
        reason = blocked_reason(literal)
        if reason:
            raise BlockedURL(f"refused {url}: {literal} is {reason}; {ALLOW_HINT}", url=url)
        return
    try:
        addresses = resolve(host)
    except (OSError, UnicodeError) as e:
        why = getattr(e, "strerror", None) or str(e) or type(e).__name__
        raise BlockedURL(f"refused {url}: cannot resolve {host} ({why})", url=url) from e
    for address in addresses:
        check_address(url, address, via=host)


def check_address(url: str, address: str, *, via: str | None = None) -> None:
    """Raise BlockedURL when `address` (text, maybe with a %zone) is not public."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        raise BlockedURL(f"refused {url}: {address!r} is not an IP address", url=url) from None
    reason = blocked_reason(ip)
    if reason:
        who = f"{via} resolves to {ip}, " if via else f"{ip} is "
        raise BlockedURL(f"refused {url}: {who}{reason}; {ALLOW_HINT}", url=url)


def check_urls(
    urls: Iterable[str], resolve: Resolver = system_resolver, *, workers: int = 16
) -> dict[str, BlockedURL | None]:
    """check_url for many URLs at once (name lookups in threads): url -> refusal or None."""

    def one(url: str) -> BlockedURL | None:
        try:
            check_url(url, resolve)
        except BlockedURL as e:
            return e
        return None

    unique = list(dict.fromkeys(urls))
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(unique) or 1))) as pool:
        return dict(zip(unique, pool.map(one, unique), strict=True))


class Guard:
    """The callable fetch.py takes as `guard`: `(url, None)` before a request, `(url, peer)` after.

    Before: the URL's host is checked (and resolved). Then every address the connection's
    own lookup returns is checked (fetch._GuardedResolver), which closes the gap between
    our lookup and the one used to connect.
    """

    def __init__(self, resolve: Resolver = system_resolver) -> None:
        self.resolve = resolve

    def __call__(self, url: str, peer: str | None = None) -> None:
        if peer is None:
            check_url(url, self.resolve)
        else:
            check_address(url, peer)
