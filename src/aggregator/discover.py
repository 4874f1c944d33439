"""An HTML page (bytes + its URL) in, the feeds it advertises out, best first; pure.

`feed_links` reads `<link>` elements the way browsers' feed finders do (the rules of
Firefox's feed discovery, whose torture test is corpus/discovery/simplepie__fftests.html):

- `rel` is a space-separated, case-insensitive list. "feed" makes any link a feed;
  "alternate" does when the type is a feed type, but not together with "stylesheet".
- The type is trimmed and case-insensitive. application/rss+xml, application/atom+xml and
  application/feed+json are feeds. Generic types (application/json, application/xml,
  text/xml, application/rdf+xml) are also used for oEmbed, the WordPress REST API, FOAF and
  DOAP, so they count only when the URL itself says feed, rss, atom or rdf
  (`/feeds/json`, `/feed.json`, `/index.rdf`, but not `/wp-json/wp/v2/pages/2`).
- hrefs are resolved against `<base href>` (itself resolved against the page URL); only
  http(s) results are kept, each URL once.

`guess_urls` lists the places feeds usually live (/feed, /rss.xml, /atom.xml, ...) for pages
that advertise nothing; the caller fetches them to see which are feeds.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit, urlunsplit

from .models import FeedCandidate

#: Types that make a rel="alternate" link a feed, and how they are shown.
FEED_TYPES = {
    "application/rss+xml": "RSS",
    "application/x-rss+xml": "RSS",
    "application/atom+xml": "Atom",
    "application/x.atom+xml": "Atom",
    "application/feed+json": "JSON Feed",
}
#: Types that count only when the URL looks like a feed.
GENERIC_TYPES = {
    "application/json": "JSON Feed",
    "application/xml": "RSS",
    "text/xml": "RSS",
    "application/rdf+xml": "RDF",
}
#: Paths tried when a page has no feed links, in order (Blogger's is /feeds/posts/default).
COMMON_PATHS = (
    "feed", "rss", "rss.xml", "atom.xml", "feed.xml", "index.xml", "feed.json",
    "feeds/posts/default",
)  # fmt: skip
_FEEDISH = re.compile(r"(?:^|[^a-z])(?:feeds?|rss|atom|rdf)(?:[^a-z]|$)", re.IGNORECASE)
_COMMENTS = re.compile(r"comment", re.IGNORECASE)
_SPACE = " \t\n\f\r"  # ASCII whitespace, as HTML splits rel


class _LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.links: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "link":
            self.links.append({k: v for k, v in attrs if v is not None})
        elif tag == "base" and self.base is None:
            href = dict(attrs).get("href")
            if href and href.strip(_SPACE):
                self.base = href.strip(_SPACE)

    handle_startendtag = handle_starttag


def feed_links(html: str, page_url: str) -> tuple[FeedCandidate, ...]:
    """The feeds `html` advertises with <link>, best first (see the module docstring)."""
    collector = _LinkCollector()
    try:
        collector.feed(html)
        collector.close()
    except Exception:  # html.parser is lenient; keep what was read before any surprise
        pass
    base = urljoin(page_url, collector.base) if collector.base else page_url
    found: dict[str, tuple[tuple[int, int, int], FeedCandidate]] = {}
    for index, attrs in enumerate(collector.links):
        kind, generic = _feed_kind(attrs)
        href = attrs.get("href", "").strip(_SPACE)
        if kind is None or not href:
            continue
        url = _absolute(base, href)
        if url is None or url in found:
            continue
        title = " ".join(attrs.get("title", "").split()) or None
        # Specific types first, then comment feeds last (WordPress lists "Comments Feed"
        # second already; others do not), then the page's order.
        comments = bool(_COMMENTS.search(title or "") or _COMMENTS.search(url))
        rank = (int(generic), int(comments), index)
        found[url] = (rank, FeedCandidate(url=url, title=title, kind=kind, source="link"))
    return tuple(c for _, c in sorted(found.values(), key=lambda item: item[0]))


def _feed_kind(attrs: dict[str, str]) -> tuple[str | None, bool]:
    """("RSS"/"Atom"/... or None, whether only a generic type made it a feed)."""
    rels = {r.lower() for r in attrs.get("rel", "").split()}
    mime = attrs.get("type", "").strip(_SPACE).split(";")[0].strip(_SPACE).lower()
    if "feed" in rels:
        return FEED_TYPES.get(mime) or GENERIC_TYPES.get(mime) or "feed", False
    if "alternate" not in rels or "stylesheet" in rels:
        return None, False
    if mime in FEED_TYPES:
        return FEED_TYPES[mime], False
    if mime in GENERIC_TYPES and _looks_like_feed(attrs.get("href", "")):
        return GENERIC_TYPES[mime], True
    return None, False


def _looks_like_feed(href: str) -> bool:
    parts = urlsplit(href.strip(_SPACE))
    return bool(_FEEDISH.search(parts.path) or _FEEDISH.search(parts.query))


def _absolute(base: str, href: str) -> str | None:
    try:
        url = urljoin(base, href)
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return urlunsplit(parts._replace(fragment=""))


def guess_urls(page_url: str) -> tuple[str, ...]:
    """Usual feed places for a page: beside it first (a blog under /blog/), then at the root."""
    parts = urlsplit(page_url)
    folder = parts.path.rsplit("/", 1)[0] + "/"
    roots = [folder] if folder != "/" else []
    roots.append("/")
    urls: dict[str, None] = {}
    for root in roots:
        for path in COMMON_PATHS:
            urls[urlunsplit((parts.scheme, parts.netloc, root + path, "", ""))] = None
    urls.pop(urlunsplit(parts._replace(query="", fragment="")), None)  # not the page itself
    return tuple(urls)


def kind_of_version(version: str) -> str:
    """feedparser's version name ("rss20", "atom10", "rss10", "json11") as a FeedCandidate kind."""
    if version.startswith("atom"):
        return "Atom"
    if version == "rss10" or version == "rss090":
        return "RDF"
    if version.startswith("json"):
        return "JSON Feed"
    if version.startswith("rss"):
        return "RSS"
    return "feed"


def decode_html(content: bytes, content_type: str | None) -> str:
    """Page bytes as text: the Content-Type charset, else a <meta charset>, else UTF-8."""
    charset = None
    if content_type and (m := re.search(r"charset=[\"']?([\w.:-]+)", content_type, re.I)):
        charset = m[1]
    elif m := re.search(rb"<meta[^>]+charset=[\"']?([\w.:-]+)", content[:4096], re.I):
        charset = m[1].decode("ascii")
    try:
        return content.decode(charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name
        return content.decode("utf-8", errors="replace")
