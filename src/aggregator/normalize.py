"""ParsedFeed + now in, tuple of models.Entry out: identity, canonical URL, clean text. Pure.

Entry identity within one feed is the guid, else the link, else a hash of title and date
(`id_source` says which). A feed whose guids are mostly missing or shared by different items
(every item carrying the same guid, or the home page as guid) uses links for all its entries,
and hashes when links are just as bad, so that identity does not flip entry by entry. An item
repeated in one document is kept once (corpus news/20260218__al-monitor…: 9 duplicates).
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

import nh3

from .models import Entry, ParsedEntry, ParsedFeed

__all__ = ["canonical_url", "normalize_feed", "sanitize_html", "html_to_text", "clean_title"]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- canonical URL

#: Query parameter names that are tracking by definition (matched case-insensitively, after
#: percent-decoding). Deliberately conservative: id, p, page, story, q, ref, src, rss... stay.
_TRACKING_PARAMS = frozenset(
    {
        # ad-click ids
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid",
        "twclid", "ttclid", "li_fat_id", "igshid",
        # e-mail campaign ids: Mailchimp, HubSpot, Marketo, Vero
        "mc_cid", "mc_eid", "_hsenc", "_hsmi", "mkt_tok", "vero_id",
        # AT Internet / Piano Analytics (BBC: ?at_medium=RSS&at_campaign=rss)
        "at_medium", "at_campaign", "at_ptr_name", "at_link_id", "at_link_origin",
        "at_link_type", "at_format", "at_bbc_team",
        # Deutsche Welle (?maca=), Al Jazeera (?traffic_source=rss), Webtrekk (heise ?wt_mc=)
        "maca", "traffic_source", "wt_mc", "wt.mc_id", "wt.mc_ev",
        # Adobe/Microsoft/Guardian/comScore campaign ids
        "cmpid", "ocid", "ito", "s_cid",
        "ns_mchannel", "ns_source", "ns_campaign", "ns_linkname", "ns_fee",
        # Matomo/Piwik campaign parameters
        "pk_campaign", "pk_kwd", "pk_source", "pk_medium", "pk_content",
        # Alibaba "super position model" and Google linker
        "spm", "_ga", "_gl",
    }
)  # fmt: skip
#: Name prefixes that are tracking by definition: Google Analytics utm_*, Matomo mtm_*,
#: AT Internet custom at_custom1..n.
_TRACKING_PREFIXES = ("utm_", "mtm_", "at_custom")
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_HOST_PORT = re.compile(r"^(\[[^\]]*\]|[^:]*)(?::(\d*))?$")
_WEB_LINK = re.compile(r"\s*https?://", re.I)


def canonical_url(url: str) -> str:
    """The URL with scheme/host lower-cased, default port, fragment and tracking params removed.

    The path and every other query parameter (order, encoding) are kept byte for byte.
    Anything that is not an http(s) URL, or cannot be parsed, comes back only stripped.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.netloc:
        return url
    userinfo, at, hostport = parts.netloc.rpartition("@")
    match = _HOST_PORT.match(hostport)
    if match is None:
        return url
    host, port = match.group(1).lower(), match.group(2)
    netloc = f"{userinfo}{at}{host}"
    if port and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    query = "&".join(p for p in parts.query.split("&") if not _is_tracking(p))
    return f"{scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


def _is_tracking(pair: str) -> bool:
    name = pair.split("=", 1)[0]
    if "%" in name:
        name = unquote(name)
    name = name.lower()
    return name in _TRACKING_PARAMS or name.startswith(_TRACKING_PREFIXES)


# --------------------------------------------------------------------------- HTML and text

_ALLOWED_TAGS = frozenset(
    "a abbr b bdi bdo blockquote br caption cite code col colgroup dd del dfn div dl dt em "
    "figcaption figure h1 h2 h3 h4 h5 h6 hr i img ins kbd li mark ol p pre q rp rt ruby s "
    "samp small span strong sub summary details sup table tbody td tfoot th thead time tr u "
    "ul var wbr".split()
)
_ALLOWED_ATTRIBUTES = {
    "*": {"lang", "dir", "title"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "abbr": {"title"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "ol": {"start", "reversed"},
    "time": {"datetime"},
    "del": {"datetime"},
    "ins": {"datetime"},
}
# One Cleaner for the process: building it per entry costs more than cleaning a summary.
# No `style` attribute and no <style> element: CSS (and CSS expressions) never survives;
# url_schemes drops javascript:/data:/vbscript: URLs from href and src alike.
_CLEANER = nh3.Cleaner(
    tags=set(_ALLOWED_TAGS),
    clean_content_tags={"script", "style", "noscript", "template", "title"},
    attributes={k: set(v) for k, v in _ALLOWED_ATTRIBUTES.items()},
    url_schemes={"http", "https", "mailto"},
    link_rel="noopener noreferrer",
    strip_comments=True,
)

_ANY_TAG = re.compile(r"<(?:[^>\"']|\"[^\"]*\"|'[^']*')*>")
_BLOCK_TAG = re.compile(
    r"</?(?:p|br|div|li|ul|ol|dl|dt|dd|h[1-6]|tr|table|thead|tbody|tfoot|blockquote|pre|hr|"
    r"figure|figcaption|caption|details|summary|section|article|header|footer)\b[^>]*>",
    re.I,
)
_SPACES = re.compile(r"[^\S\n]+")
_NEWLINES = re.compile(r"\s*\n\s*")
_ENTITY = re.compile(r"&(?:#\d+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]{1,31});")
_ELEMENT = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")


def sanitize_html(value: str | None) -> str:
    """Safe HTML for display: see _CLEANER. "" for None."""
    if not value:
        return ""
    return _CLEANER.clean(value).strip()


def html_to_text(value: str | None) -> str:
    """Plain text: tags removed (block elements become line breaks), entities decoded,
    whitespace collapsed within lines, blank lines dropped. Expects sanitised HTML (no
    <script>/<style> bodies)."""
    if not value:
        return ""
    text = _BLOCK_TAG.sub("\n", value)
    text = html.unescape(_ANY_TAG.sub("", text))
    text = _SPACES.sub(" ", text)
    return _NEWLINES.sub("\n", text).strip()


def clean_title(value: str | None) -> str:
    """Title as plain text: tags stripped, entities decoded, whitespace collapsed.

    A second html.unescape runs only when the first one left an entity behind, which is
    how double-encoded titles ("Fish &amp;amp; Chips") look.
    """
    if not value:
        return ""
    text = html.unescape(_ANY_TAG.sub("", value))
    if "&" in text and _ENTITY.search(text):
        text = html.unescape(text)
    if "<" in text and _ELEMENT.search(text):
        # Markup that was escaped in the feed (RSS `&lt;b&gt;Breaking&lt;/b&gt;`, or a hostile
        # `&lt;script&gt;alert(1)&lt;/script&gt;`) is still markup: drop it, script bodies
        # included, so no title carries a tag (issue 6). "1 < 2" has no tag and stays.
        text = html_to_text(sanitize_html(text))
    return " ".join(text.split())


# --------------------------------------------------------------------------- identity


def _choose_rule(feed: ParsedFeed) -> str:
    """ "guid", "link" or "hash": the first key that is good for most of the feed's entries.

    A key is bad for an entry when it is missing, equals the feed's home page, or is shared
    with a different item (see _item_key). Repeats of the same item are not bad: they are
    duplicates, dropped later.
    """
    # Exact repeats of an item are one item: counted once, they cannot tip the rule (a
    # document listing its items twice chose another rule than the same document once).
    entries = tuple(dict.fromkeys(feed.entries))
    if not entries:
        return "guid"
    home = feed.link
    half = len(entries) / 2

    def bad_count(key: Callable[[ParsedEntry], str | None], same: Callable) -> int:
        seen: dict[str, set] = {}
        missing = 0
        for e in entries:
            k = key(e)
            if k is None or k == home:
                missing += 1
            else:
                seen.setdefault(k, set()).add(same(e))
        shared = sum(len(items) for items in seen.values() if len(items) > 1)
        # `shared` counts distinct items, a lower bound of the entries involved.
        return missing + shared

    if bad_count(lambda e: e.guid, lambda e: _item_key(e, home)) <= half:
        return "guid"
    if bad_count(lambda e: e.link, lambda e: (e.title, e.published)) <= half:
        return "link"
    return "hash"


def _entry_hash(e: ParsedEntry, title: str) -> str:
    date = e.published or e.updated
    parts = [title, date.isoformat() if date else ""]
    if not title and date is None:
        # Nothing else says which entry this is; its text does.
        parts += [e.summary or "", e.content or ""]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def _identity(
    e: ParsedEntry, rule: str, title: str, home: str | None, used: dict[str, ParsedEntry]
) -> tuple[str, str] | None:
    """(entry_id, id_source), or None when the entry repeats an earlier item of the document.

    Under the "guid" rule an entry whose guid is missing, is the home page, or was already
    taken by a *different* item falls back to its link, then to the hash; so a stray shared
    guid neither loses an article nor changes the identity of the first one.
    """
    keys: tuple[tuple[str, str | None], ...] = ()
    if rule == "guid":
        keys = (("guid", e.guid), ("link", e.link))
    elif rule == "link":
        keys = (("link", e.link),)
    for source, value in keys:
        if not value or value == home:
            continue
        other = used.get(value)
        if other is None:
            used[value] = e
            return value, source
        if _same_item(other, e, source, home):
            return None
    value = _entry_hash(e, title)
    if value in used:
        return None
    used[value] = e
    return value, "hash"


def _item_key(e: ParsedEntry, home: str | None) -> str | None:
    """What tells two items with one guid apart: the link, or the title when the link is
    missing or just the home page."""
    return e.link if e.link and e.link != home else e.title


def _same_item(a: ParsedEntry, b: ParsedEntry, source: str, home: str | None) -> bool:
    if source == "guid":
        return _item_key(a, home) == _item_key(b, home)
    return a.title == b.title


# --------------------------------------------------------------------------- entries


def normalize_feed(feed: ParsedFeed, *, now: datetime) -> tuple[Entry, ...]:
    """Entries of one parsed document, in document order, each identity once.

    `now` is the fallback publication time for entries without any date (date_is_fallback);
    it never feeds entry_id or content_hash.
    """
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    rule = _choose_rule(feed)
    used: dict[str, ParsedEntry] = {}
    result = []
    for e in feed.entries:
        try:
            title = clean_title(e.title)
            identity = _identity(e, rule, title, feed.link, used)
            if identity is None:
                continue
            result.append(_entry(e, feed, identity, title, now))
        except Exception:  # one bad entry is skipped, not the feed (STYLE: Errors)
            log.warning("skipping an entry of %s", feed.link or feed.title, exc_info=True)
    return tuple(result)


def _entry(
    e: ParsedEntry, feed: ParsedFeed, identity: tuple[str, str], title: str, now: datetime
) -> Entry:
    summary_html = sanitize_html(e.summary)
    content_html = sanitize_html(e.content)
    # Only web links are links: a "javascript:alert(1)" item link or enclosure is dropped,
    # like nh3 drops it from href (issue 6), so no stored URL column carries one.
    link = e.link if e.link and _WEB_LINK.match(e.link) else None
    enclosures = tuple(x for x in e.enclosures if _WEB_LINK.match(x.url))
    published = _utc(e.published) or _utc(e.updated)
    updated = _utc(e.updated)
    hashed = [
        title,
        link,
        summary_html,
        content_html,
        list(e.authors),
        list(e.categories),
        [[x.url, x.type, x.length] for x in enclosures],
        published.isoformat() if published else None,
        updated.isoformat() if updated else None,
    ]
    content_hash = hashlib.sha256(
        json.dumps(hashed, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    ).hexdigest()
    return Entry(
        entry_id=identity[0],
        id_source=identity[1],
        url=link,
        canonical_url=canonical_url(link) if link else None,
        title=title,
        summary_html=summary_html,
        content_html=content_html,
        summary_text=html_to_text(summary_html),
        content_text=html_to_text(content_html),
        authors=e.authors,
        categories=e.categories,
        enclosures=enclosures,
        language=e.language or feed.language,
        published=published or now,
        updated=updated,
        date_is_fallback=published is None,
        content_hash=content_hash,
    )


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
