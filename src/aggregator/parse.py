"""Raw bytes + response headers in, models.ParsedFeed out (RSS/Atom via feedparser, JSON Feed).

Well-formed UTF-8 RSS 2.0 and Atom 1.0 first try fastparse.py (lxml), which gives the same
result or declines; `AGGREGATOR_PARSER=feedparser` skips it. Otherwise RSS 0.9x/1.0/2.0,
Atom 0.3/1.0 and CDF go through feedparser, fed the raw bytes so that it
can honour the declared encoding (HTTP Content-Type charset, XML declaration, BOM) and resolve
relative links against xml:base and the feed URL (passed as Content-Location, as lemon24/reader
does). JSON Feed 1.0/1.1 goes to jsonfeed.py, since feedparser 6 does not read it.

Security: feedparser does not expand external entities. Before parsing it strips the DOCTYPE
and keeps only "safe" internal entity declarations (feedparser.sanitizer.replace_doctype), and
it turns off `feature_external_ges` on the SAX parser; a `<!ENTITY x SYSTEM "file:///etc/passwd">`
therefore stays the literal text "&x;" and nested "billion laughs" entities are not expanded
(tests/test_parse.py::test_external_entity_not_expanded and ::test_billion_laughs_not_expanded).
The fast path declines any document with a DOCTYPE or entity declaration before parsing,
and its lxml parser has entity resolution, DTD loading and network access off
(tests/test_fastparse.py::test_external_entity_documents_are_declined and friends).

feedparser is called with sanitize_html=False: normalize.py sanitises with nh3 instead.
"""

from __future__ import annotations

import html
import io
import os
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser
import feedparser.mixin
from feedparser.datetimes import _parse_date

from . import fastparse, jsonfeed
from .errors import ParseError
from .jsonfeed import _abs_link, _describe, _length, _str, _unique
from .models import Enclosure, ParsedEntry, ParsedFeed

__all__ = ["parse_feed"]

# feedparser resolves a permalink <guid> (and an Atom <id>) against the feed URL, so the guid
# "123" of a feed fetched from http://a/f.xml becomes "http://a/123" and changes when the feed
# moves or redirects, and it becomes the entry's link too. An entry's identity must not depend
# on where the document was fetched from, so ids are kept as written. This is a class attribute
# read only by feedparser's own pop(); nothing else in aggregator relies on the old behaviour.
feedparser.mixin._FeedParserMixin.can_be_relative_uri = frozenset(
    feedparser.mixin._FeedParserMixin.can_be_relative_uri
) - {"id"}

#: Response headers feedparser looks at (encoding, base URL, base language, HTML-vs-XML).
_PASSED_HEADERS = ("content-type", "content-location", "content-language")

_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_HTML_START = re.compile(
    rb"\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body|div|p|a|span|img|figure|picture"
    rb"|section|article|header|main|nav|table|ul|ol|h[1-6]|meta|link|script|style|title)\b",
    re.I | re.S,
)
_UTF16LE_START = re.compile(rb"(?:[\t\n\r ]\x00)*<\x00[!?A-Za-z]\x00")
_UTF16BE_START = re.compile(rb"(?:\x00[\t\n\r ])*\x00<\x00[!?A-Za-z]")
_XML_DECL_ENCODING = re.compile(r"""^(\s*<\?xml[^>]*?)\s+encoding=["'][^"']*["']""")
_HTTP_URL = re.compile(r"^https?://[^\s/?#]+", re.I)
_TAG = re.compile(r"<[^>]*>")

#: feedparser bozo exceptions that say "the encoding was not what was declared" or "served as
#: text/html": the document itself was still parsed completely (strict parser).
_HARMLESS_BOZO = ("CharacterEncodingOverride", "NonXMLContentType")

#: sy:updatePeriod in seconds (http://web.resource.org/rss/1.0/modules/syndication/).
_SY_PERIODS = {
    "hourly": 3600,
    "daily": 86400,
    "weekly": 7 * 86400,
    "monthly": 30 * 86400,
    "yearly": 365 * 86400,
}


def parse_feed(content: bytes, *, url: str, headers: Mapping[str, str] | None = None) -> ParsedFeed:
    """Parse one fetched document; raise ParseError when it is not a feed at all.

    `url` is the final URL of the document (the base for relative links); `headers` are the
    response headers (any case), of which Content-Type, Content-Location and Content-Language
    matter.
    """
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    body = _strip_bom(content).strip()
    if not body:
        raise ParseError("empty document", url=url)
    content_type = hdrs.get("content-type", "").split(";")[0].strip().lower()
    if content_type in jsonfeed.CONTENT_TYPES or body[:1] == b"{":
        return jsonfeed.parse_json_feed(content, url=url)
    return _parse_xml_feed(content, url=url, hdrs=hdrs)


# --------------------------------------------------------------------------- RSS / Atom


def _parse_xml_feed(content: bytes, *, url: str, hdrs: dict[str, str]) -> ParsedFeed:
    content, response_headers, base = _prepare_xml(content, url=url, hdrs=hdrs)
    if os.environ.get("AGGREGATOR_PARSER", "").strip().lower() != "feedparser":
        fast = _fast_feed(content, base=base, response_headers=response_headers)
        if fast is not None:
            return fast
    return _feedparser_feed(
        content, url=url, hdrs=hdrs, base=base, response_headers=response_headers
    )


def _prepare_xml(
    content: bytes, *, url: str, hdrs: dict[str, str]
) -> tuple[bytes, dict[str, str], str]:
    """(bytes, response headers, base URL) exactly as both parser paths get them."""
    response_headers = {k: hdrs[k] for k in _PASSED_HEADERS if k in hdrs}
    content_type = response_headers.get("content-type", "")
    if not content_type or (
        content_type.lower().startswith("text/") and "charset" not in content_type.lower()
    ):
        # feedparser follows RFC 3023: text/xml without charset means us-ascii, and a missing
        # Content-Type is a bozo. RFC 7303 (and every browser) let the XML declaration decide.
        response_headers["content-type"] = "application/xml"
    content = _sniff_utf16(content)
    if content[:1].isspace() and content.lstrip().startswith(b"<?xml"):
        # Whitespace before the XML declaration is fatal to expat but common in the wild
        # (corpus illformed/simplepie__feed-with-whitespace-before-xml-declaration.xml).
        content = content.lstrip()
    # The base for relative URLs: Content-Location (itself relative to the URL), else the URL.
    base = urljoin(url, hdrs["content-location"]) if hdrs.get("content-location") else url
    response_headers["content-location"] = base
    return content, response_headers, base


def _fast_feed(content: bytes, *, base: str, response_headers: dict[str, str]) -> ParsedFeed | None:
    """The lxml path (fastparse.py) for well-formed UTF-8 RSS 2.0/Atom 1.0, else None."""
    if "content-language" in response_headers:
        return None  # feedparser's base language: not modelled
    found = fastparse.parse_fast(
        content,
        base=base,
        content_type=response_headers["content-type"],
        parse_date=_parse_date,
    )
    if found is None:
        return None
    feed, raw_entries, version = found
    entries = []
    for raw in raw_entries:
        try:
            entries.append(_entry_from_feedparser(raw, base))
        except Exception:  # as below: one bad entry must not lose the feed
            continue
    if not entries and not raw_entries:
        return None  # feedparser decides what an empty document is (bozo or not)
    return _feed_from_feedparser(feed, entries, version, base, None)


def _feedparser_feed(
    content: bytes, *, url: str, hdrs: dict[str, str], base: str, response_headers: dict[str, str]
) -> ParsedFeed:
    # BytesIO, never bytes: feedparser treats a bytes/str argument that looks like a URL or a
    # path as something to open.
    try:
        d = feedparser.parse(
            io.BytesIO(content),
            response_headers=response_headers,
            resolve_relative_uris=True,
            sanitize_html=False,
        )
    except Exception as e:  # feedparser is meant never to raise; be sure one document can't
        raise ParseError(f"feedparser failed: {_describe(e)}", url=url) from e

    exc = d.get("bozo_exception") if d.get("bozo") else None
    version = d.get("version") or ""
    entries = []
    for raw in d.get("entries", ()):
        try:
            entries.append(_entry_from_feedparser(raw, base))
        except Exception:  # one bad entry must not lose the feed (STYLE: Errors)
            continue

    if not entries:
        if not version:
            if _HTML_START.match(_strip_bom(content)) or "html" in hdrs.get("content-type", ""):
                raise ParseError("not a feed: HTML page", url=url)
            why = f" ({_describe(exc)})" if exc is not None else ""
            raise ParseError(f"not a feed: no RSS/Atom root element{why}", url=url)
        if exc is not None and type(exc).__name__ not in _HARMLESS_BOZO:
            raise ParseError(f"ill-formed feed with no entries: {_describe(exc)}", url=url)
    return _feed_from_feedparser(d.get("feed", {}), entries, version, base, exc)


def _feed_from_feedparser(
    feed: Any, entries: list[ParsedEntry], version: str, base: str, exc: BaseException | None
) -> ParsedFeed:
    return ParsedFeed(
        title=_plain_title(feed.get("title_detail")) or None,
        link=_abs_link(feed.get("link"), base),
        language=_str(feed.get("language")),
        version=version or "unknown",
        entries=tuple(entries),
        problem=_describe(exc) if exc is not None and not _is_content_type_bozo(exc) else None,
        ttl_seconds=_ttl_seconds(feed),
    )


def _entry_from_feedparser(e: Any, base: str) -> ParsedEntry:
    guid = _str(e.get("id"))
    link = _str(e.get("link"))
    if e.get("guidislink") and link == guid:
        # The link came from a permalink guid (feedparser's guidislink): keep it only when it
        # is an absolute http(s) URL; "123" or a bare uuid is not a link.
        link = guid if guid and _HTTP_URL.match(guid) else None
    else:
        link = _abs_link(link, base)
    if link is None:
        for candidate in e.get("links", ()):
            if candidate.get("rel", "alternate") == "alternate" and candidate.get("href"):
                link = _abs_link(candidate["href"], base)
                break
    content = None
    contents = e.get("content") or ()
    if contents:
        # Prefer an HTML body when several are given (lemon24 relative.rss has text+html).
        chosen = next((c for c in contents if "html" in (c.get("type") or "")), contents[0])
        content = _as_html(chosen.get("value"), chosen.get("type"))
    summary_detail = e.get("summary_detail") or {}
    summary = _as_html(e.get("summary"), summary_detail.get("type"))
    title_detail = e.get("title_detail") or {}
    title = _as_html(e.get("title"), title_detail.get("type"))

    language = None
    for detail in (title_detail, summary_detail, *(contents[:1])):
        language = _str(detail.get("language"))
        if language:
            break

    return ParsedEntry(
        guid=guid,
        link=link,
        title=title,
        summary=summary,
        content=content,
        authors=_feedparser_authors(e),
        categories=_unique(_str(t.get("term")) for t in e.get("tags") or ()),
        enclosures=_feedparser_enclosures(e, base),
        language=language,
        # dict.get: FeedParserDict.get("updated_parsed") silently answers published_parsed
        # when there is no update time (feedparser issue 310's deprecated fallback).
        published=_from_struct(dict.get(e, "published_parsed")),
        updated=_from_struct(dict.get(e, "updated_parsed")),
    )


def _feedparser_authors(e: Any) -> tuple[str, ...]:
    found = []
    for a in e.get("authors") or ():
        found.append(_str(a.get("name")) or _str(a.get("email")))
    if not found:
        detail = e.get("author_detail") or {}
        found.append(_str(detail.get("name")) or _str(detail.get("email")) or _str(e.get("author")))
    return _unique(found)


def _feedparser_enclosures(e: Any, base: str) -> tuple[Enclosure, ...]:
    found: dict[str, Enclosure] = {}
    # feedparser gives every Atom <link> without a type the type "text/html"; for an
    # enclosure that is an invention, not what the feed said.
    candidates = [
        (
            link.get("href"),
            None if link.get("type") == "text/html" else link.get("type"),
            link.get("length"),
        )
        for link in e.get("links") or ()
        if link.get("rel") == "enclosure"
    ]
    candidates += [
        (m.get("url"), m.get("type"), m.get("filesize") or m.get("fileSize"))
        for m in e.get("media_content") or ()
    ]
    for href, type_, length in candidates:
        href = _abs_link(href, base)
        # An empty href="" comes back from feedparser resolved to the document itself.
        if href and href != base and href not in found:
            found[href] = Enclosure(url=href, type=_str(type_), length=_length(length))
    return tuple(found.values())


def _ttl_seconds(feed: Any) -> int | None:
    ttl = str(feed.get("ttl") or "").strip()
    if ttl.isdigit() and int(ttl) > 0:
        return int(ttl) * 60
    period = _SY_PERIODS.get(str(feed.get("sy_updateperiod") or "").strip().lower())
    if period is None:
        return None
    frequency = str(feed.get("sy_updatefrequency") or "1").strip()
    frequency_n = int(frequency) if frequency.isdigit() and int(frequency) > 0 else 1
    return period // frequency_n


def _as_html(value: Any, content_type: str | None) -> str | None:
    """feedparser decodes text/plain values; escape them so every ParsedEntry text is HTML."""
    if not isinstance(value, str) or not value.strip():
        return None
    if content_type and "html" not in content_type and "xml" not in content_type:
        return html.escape(value, quote=False)
    return value


def _plain_title(detail: Any) -> str:
    if not detail or not isinstance(detail.get("value"), str):
        return ""
    value = detail["value"]
    if "html" in (detail.get("type") or ""):
        value = html.unescape(_TAG.sub("", value))
    return " ".join(value.split())


def _from_struct(value: Any) -> datetime | None:
    """feedparser's *_parsed are UTC struct_time; anything impossible → None."""
    if not isinstance(value, time.struct_time | tuple) or len(value) < 6:
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


# --------------------------------------------------------------------------- helpers


def _sniff_utf16(content: bytes) -> bytes:
    """UTF-16 without BOM or declaration (XML 1.0 Appendix F): re-encode as UTF-8.

    feedparser 6.0.14 cannot detect it (corpus encoding/simplepie__feed-utf16le.xml).
    """
    if _UTF16LE_START.match(content):
        codec = "utf-16-le"
    elif _UTF16BE_START.match(content):
        codec = "utf-16-be"
    else:
        return content
    text = content.decode(codec, errors="replace")
    return _XML_DECL_ENCODING.sub(r"\1", text, count=1).encode("utf-8")


def _strip_bom(content: bytes) -> bytes:
    for bom in _BOMS:
        if content.startswith(bom):
            return content[len(bom) :]
    return content


def _is_content_type_bozo(exc: BaseException) -> bool:
    # "served as text/html": says nothing about the document itself.
    return type(exc).__name__ == "NonXMLContentType"
