"""JSON Feed 1.0/1.1 bytes in, models.ParsedFeed out (https://jsonfeed.org/version/1.1).

feedparser 6 does not read JSON Feed, so this small mapper does; parse.py sends a document
here when it is served as JSON or starts with "{". Every text field becomes HTML, as feedparser
gives it for RSS/Atom: plain `title`, `summary` and `content_text` are escaped.

Type violations (a number where a string belongs, an author that is not an object) drop that
field, never the entry or the feed. The small value helpers at the end are shared with parse.py.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from .errors import ParseError
from .models import Enclosure, ParsedEntry, ParsedFeed

__all__ = ["CONTENT_TYPES", "parse_json_feed"]

#: Content-Type values (without parameters) that mean "this is JSON".
CONTENT_TYPES = ("application/feed+json", "application/json")

_VERSIONS = {
    "https://jsonfeed.org/version/1": "json10",
    "https://jsonfeed.org/version/1.1": "json11",
}
_VERSION_PREFIX = ("https://jsonfeed.org/version/", "http://jsonfeed.org/version/")


def parse_json_feed(content: bytes, *, url: str) -> ParsedFeed:
    """Read one JSON Feed document; raise ParseError when it is not one.

    `url` is the final URL of the document (the base for relative links). A jsonfeed.org
    version this module does not know still reads, as version "json".
    """
    try:
        doc = json.loads(content)  # json.loads detects UTF-8/16/32 and skips a UTF-8 BOM
    except (ValueError, UnicodeDecodeError) as e:
        raise ParseError(f"invalid JSON Feed: {_describe(e)}", url=url) from e
    if not isinstance(doc, dict):
        raise ParseError("invalid JSON Feed: top level is not an object", url=url)
    version_url = doc.get("version")
    if not isinstance(version_url, str) or not version_url.startswith(_VERSION_PREFIX):
        raise ParseError("invalid JSON Feed: no jsonfeed.org version", url=url)
    items = doc.get("items")
    if not isinstance(items, list):
        raise ParseError("invalid JSON Feed: 'items' is not a list", url=url)

    base = url
    feed_language = _str(doc.get("language"))
    entries = []
    for item in items:
        if isinstance(item, dict):
            entries.append(_entry_from_json(item, base, feed_language))
    home = doc.get("home_page_url")
    return ParsedFeed(
        title=_str(doc.get("title")),
        link=_abs_link(home, base) if isinstance(home, str) else None,
        language=feed_language,
        version=_VERSIONS.get(version_url.rstrip("/"), "json"),
        entries=tuple(entries),
        problem=None,
        ttl_seconds=None,
    )


def _entry_from_json(item: dict[str, Any], base: str, feed_language: str | None) -> ParsedEntry:
    raw_id = item.get("id")
    # The spec says string; JSON Feed 1.0 feeds in the wild use numbers (reader does the same).
    guid = (
        _str(str(raw_id))
        if isinstance(raw_id, str | int | float) and not isinstance(raw_id, bool)
        else None
    )
    link = None
    for key in ("url", "external_url"):
        if isinstance(item.get(key), str):
            link = _abs_link(item[key], base)
            if link:
                break

    content = _str(item.get("content_html"))
    if content is None and _str(item.get("content_text")):
        content = html.escape(item["content_text"], quote=False)
    summary = _str(item.get("summary"))
    title = _str(item.get("title"))

    authors_raw = item.get("authors")
    if not isinstance(authors_raw, list):
        authors_raw = [item.get("author")]  # JSON Feed 1.0
    authors = []
    for author in authors_raw:
        if not isinstance(author, dict):
            continue
        name = _str(author.get("name"))
        author_url = _str(author.get("url")) or ""
        if name is None and author_url.lower().startswith("mailto:"):
            name = author_url[7:] or None
        authors.append(name)

    enclosures: dict[str, Enclosure] = {}
    attachments = item.get("attachments")
    for att in attachments if isinstance(attachments, list) else ():
        if not isinstance(att, dict) or not isinstance(att.get("url"), str):
            continue
        att_url = _abs_link(att["url"], base)
        if att_url and att_url not in enclosures:
            enclosures[att_url] = Enclosure(
                url=att_url,
                type=_str(att.get("mime_type")),
                length=_length(att.get("size_in_bytes")),
            )

    tags = item.get("tags")
    return ParsedEntry(
        guid=guid,
        link=link,
        title=html.escape(title, quote=False) if title else None,
        summary=html.escape(summary, quote=False) if summary else None,
        content=content,
        authors=_unique(authors),
        categories=_unique(_str(t) for t in tags) if isinstance(tags, list) else (),
        enclosures=tuple(enclosures.values()),
        language=_str(item.get("language")) or feed_language,
        published=_from_rfc3339(item.get("date_published")),
        updated=_from_rfc3339(item.get("date_modified")),
    )


def _from_rfc3339(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text[-1:] in "zZ":
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# --------------------------------------------------------------------------- helpers
# Also used by parse.py for RSS/Atom (it imports them from here: jsonfeed must not import
# parse, which imports feedparser).


def _str(value: Any) -> str | None:
    """A stripped non-empty string, else None (also for non-strings: JSON type violations)."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return None


def _abs_link(value: Any, base: str) -> str | None:
    value = _str(value)
    if value is None:
        return None
    try:
        return urljoin(base, value) if not urlsplit(value).scheme else value
    except ValueError:  # e.g. an invalid IPv6 literal
        return value


def _length(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _unique(values: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
