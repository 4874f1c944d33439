"""Well-formed UTF-8 RSS 2.0 / Atom 1.0 bytes in, feedparser-shaped dicts out (lxml), or None.

feedparser costs ~0.5 ms per entry, lxml a few µs (issue #7). This module walks the lxml tree
of the common, unambiguous documents and builds the very subset of feedparser's result dicts
that parse.py reads (`id`, `link`, `guidislink`, `links`, `title(_detail)`,
`summary(_detail)`, `content`, `authors`, `author(_detail)`, `tags`, `media_content`,
`*_parsed` dates; feed `title_detail`, `link`, `language`, `ttl`, `sy_*`), following what
feedparser 6's handlers do element by element, so parse.py turns both into a ParsedFeed with
the same code. Dates go through the date function parse.py passes in (feedparser's own);
feedparser's text, URL and HTML rules live in fpcompat.py.

Whenever the document is anything else it returns None, and parse.py uses feedparser: a
DOCTYPE or entity declaration (so no XXE, no billion laughs), any lxml error or warning, an
encoding other than UTF-8 or one the HTTP charset contradicts, a `base`/`lang` attribute
(xml:base is followed as feedparser's base stack does), xml:lang below the root,
Content-Language, several Atom authors, an entry without title or date (its identity may
hash raw HTML, which feedparser re-serialises), an element feedparser has a handler
for in a place this module does not model, content that is not text/html/plain (xhtml,
base64, src=), text fields with child elements, HTML this module cannot resolve relative
URLs in exactly (comments, scripts, odd entities, unbalanced quotes), and RSS titles that
feedparser would guess to be HTML. Declining is always safe; a wrong answer is a bug
(tests/test_fastparse.py compares both paths over the corpus and generated feeds).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from lxml import etree

from . import fpcompat

__all__ = ["parse_fast"]

#: A function of a date string to a UTC struct_time or None (feedparser's _parse_date).
DateParser = Callable[[str], Any]

_ATOM = "http://www.w3.org/2005/Atom"
_XML_NS = "http://www.w3.org/XML/1998/namespace"
_XML_BASE = f"{{{_XML_NS}}}base"
_XML_LANG = f"{{{_XML_NS}}}lang"

#: Element keys without a handler whose text feedparser would store under a key parse.py
#: reads (directly or through FeedParserDict's key map): declined wherever they appear.
_DANGEROUS_PLAIN = frozenset(
    """id link guidislink links title title_detail summary summary_detail authors
    author_detail author tags media_content published_parsed updated_parsed date
    date_parsed issued_parsed modified_parsed description_detail language ttl
    sy_updateperiod sy_updatefrequency entries items""".split()
)

#: Handled elements, per context, that touch nothing parse.py reads (their descendants are
#: checked again). Keys without a handler are harmless unless in _DANGEROUS_PLAIN.
_HARMLESS_IN_FEED = frozenset(
    """description generator lastbuilddate pubdate published updated copyright rights
    managingeditor webmaster category cloud subtitle info dc_date dc_publisher dc_rights
    dc_creator dc_author dc_subject dc_description dcterms_modified dcterms_created
    dcterms_issued itunes_author itunes_block itunes_category itunes_email itunes_explicit
    itunes_image itunes_keywords itunes_name itunes_owner itunes_subtitle itunes_summary
    media_thumbnail media_category media_keywords media_rating media_credit
    media_description media_copyright media_restriction media_license name email uri url
    newlocation keywords icon logo feedburner_browserfriendly tagline""".split()
)
_HARMLESS_IN_ENTRY = frozenset(
    """media_thumbnail media_credit media_rating media_restriction media_license media_player
    itunes_image itunes_explicit itunes_block itunes_subtitle dcterms_created expirationdate
    rights copyright dc_rights""".split()
)
#: Containers whose children are only read by feedparser into their own dictionary.
_IMAGE_CHILDREN = frozenset("title link url width height description name".split())

_XML_DECL = re.compile(rb"^<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']*)[\"']")
_CONTENT_TYPES = {
    "text": "text/plain",
    "plain": "text/plain",
    "html": "text/html",
    "text/plain": "text/plain",
    "text/html": "text/html",
}
_XML_CONTENT_TYPES = frozenset(
    "application/xml text/xml application/rss+xml application/atom+xml".split()
)


class _EntryState:
    """feedparser's per-entry bookkeeping that decides which title and summary stay."""

    __slots__ = ("title_depth", "title_map", "summary_map", "has_content")

    def __init__(self) -> None:
        self.title_depth = -1
        self.title_map: int | None = None
        self.summary_map: int | None = None
        self.has_content = False


_Decline = fpcompat.Unsure


def parse_fast(
    content: bytes, *, base: str, content_type: str, parse_date: DateParser
) -> tuple[dict[str, Any], list[dict[str, Any]], str] | None:
    """(feed dict, entry dicts, version) as feedparser would give them, or None to decline.

    `content` and `content_type` are what parse.py hands feedparser; `base` is the URL
    relative links resolve against.
    """
    try:
        root = _parse_xml(content, content_type)
        if root is None:
            return None
        walker = _Walker(base, parse_date)
        return walker.run(root)
    except _Decline:
        return None


# --------------------------------------------------------------------------- XML


def _parse_xml(content: bytes, content_type: str) -> Any:
    mime, _, params = content_type.partition(";")
    if mime.strip().lower() not in _XML_CONTENT_TYPES:
        return None
    charset = re.search(r"charset\s*=\s*[\"']?([^\s;\"']+)", params, re.I)
    if charset and charset.group(1).lower() not in ("utf-8", "utf8"):
        return None
    if content.startswith(b"\xef\xbb\xbf"):
        content = content[3:]
    if not content.startswith(b"<?xml") and not content.startswith(b"<"):
        return None
    decl = _XML_DECL.match(content)
    if decl and decl.group(1).lower() not in (b"utf-8", b"utf8"):
        return None
    if b"<!" in content and re.search(rb"<!(?:DOCTYPE|ENTITY)", content, re.I):
        return None
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        recover=False,
    )
    try:
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError:
        return None
    if len(parser.error_log):
        return None
    return root


# --------------------------------------------------------------------------- the walk


class _Walker:
    """One document: feedparser's state for the elements this module models."""

    def __init__(self, base: str, parse_date: DateParser) -> None:
        self.base = base
        self.parse_date = parse_date
        self.dates: dict[str, Any] = {}
        self.resolved: dict[tuple[str, str], str] = {}
        self.keys: dict[tuple[str, str | None], str] = {}
        self.lang: str | None = None
        #: Some element below the root has xml:base or xml:lang (else the walk skips them).
        self.scoped = False

    def run(self, root: Any) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
        self._check_attributes(root)
        # feedparser's first start tag already does make_safe_absolute_uri(base, base).
        self.base = self._settled(fpcompat.safe_absolute(self.base, self.base) or self.base)
        self.base = self._rebase(self.base, root)
        tag = root.tag
        feed: dict[str, Any] = {}
        self.lang = self._relang(None, root)
        if self.lang:
            feed["language"] = self.lang.replace("_", "-")
        if tag == "rss":
            if root.nsmap.get(None):
                raise _Decline
            version = root.get("version", "")
            if not version.startswith("2."):
                raise _Decline
            channels = [c for c in root if c.tag == "channel"]
            if len(channels) != 1 or len(root) != 1:
                raise _Decline
            if set(channels[0].attrib) - {_XML_BASE, _XML_LANG}:
                raise _Decline  # CDF lastmod/href
            self.base = self._rebase(self.base, channels[0])
            self.lang = self._relang(self.lang, channels[0])
            entries = self._channel(channels[0], feed)
            return feed, entries, "rss20"
        if tag == f"{{{_ATOM}}}feed":
            if root.get("version") is not None:
                raise _Decline
            entries = self._atom_feed(root, feed)
            return feed, entries, "atom10"
        raise _Decline

    # ----------------------------------------------------------------- elements

    def key(self, el: Any) -> str:
        """feedparser's dispatch key of an element: "prefix_localname" or "localname"."""
        tag = el.tag
        if not isinstance(tag, str):
            raise _Decline  # an entity reference node or similar
        cache_key = (tag, el.prefix)
        found = self.keys.get(cache_key)
        if found is not None:
            return found
        if tag[0] == "{":
            ns, local = tag[1:].split("}", 1)
        else:
            ns, local = "", tag
        lowered = ns.lower()
        if "backend.userland.com/rss" in lowered:
            lowered = "http://backend.userland.com/rss"
        if lowered in fpcompat.NAMESPACES:
            prefix = fpcompat.NAMESPACES[lowered]
        elif lowered in fpcompat.OTHER_KNOWN_NAMESPACES:
            raise _Decline
        else:
            prefix = el.prefix or ""
        found = f"{prefix}_{local.lower()}" if prefix else local.lower()
        self.keys[cache_key] = found
        return found

    def detail(self, type_: str, value: str) -> dict[str, Any]:
        """feedparser's contentparams with the value: a *_detail dict or a content item."""
        lang = self.lang.replace("_", "-") if self.lang else self.lang
        return {"type": type_, "language": lang, "value": value}

    def _enter(self, el: Any) -> tuple[str, str | None]:
        """Step into `el`: its xml:base and xml:lang apply inside it. Returns the outer
        (base, lang), which the caller puts back when it leaves `el`."""
        saved = self.base, self.lang
        if self.scoped:
            self.base = self._rebase(saved[0], el)
            self.lang = self._relang(saved[1], el)
        return saved

    def _rebase(self, parent: str, el: Any) -> str:
        """The base URL inside `el`, as feedparser's unknown_starttag tracks xml:base."""
        xml_base = el.get(_XML_BASE)
        if not xml_base:
            return parent
        return self._settled(fpcompat.safe_absolute(parent, xml_base) or parent)

    @staticmethod
    def _relang(parent: str | None, el: Any) -> str | None:
        """The language inside `el`: its xml:lang ("" means none), else the parent's."""
        lang = el.get(_XML_LANG)
        if lang is None:
            return parent
        return lang or None

    @staticmethod
    def _settled(base: str) -> str:
        """feedparser re-joins the base with itself at every start tag: it must not change."""
        if (fpcompat.safe_absolute(base, base) or base) != base:
            raise _Decline
        return base

    def _check_attributes(self, root: Any) -> None:
        """base= and lang= attributes change feedparser's base URL and languages in ways
        not modelled: declined (xml:base and xml:lang are, see _rebase and _relang)."""
        for el in root.iter():
            if not el.attrib:
                continue
            for name in el.attrib:
                if name in ("base", "lang"):
                    raise _Decline
                if name in (_XML_BASE, _XML_LANG) and el is not root:
                    self.scoped = True

    def _inert(self, el: Any, allowed: frozenset[str] = frozenset()) -> None:
        """Descendants of an element feedparser stores away from every field we read."""
        for child in el.iterdescendants():
            k = self.key(child)
            if k in allowed:
                continue
            if k in fpcompat.FEEDPARSER_HANDLERS or k in _DANGEROUS_PLAIN:
                raise _Decline

    def _unknown(self, el: Any) -> None:
        k = self.key(el)
        if k in fpcompat.FEEDPARSER_HANDLERS or k in _DANGEROUS_PLAIN:
            raise _Decline
        self._inert(el)

    def attrs(self, el: Any) -> dict[str, str]:
        """feedparser's attrs_d for the attributes we read: lower-case names, rel/type values
        lower-cased; any namespaced attribute declines."""
        out: dict[str, str] = {}
        for name, value in el.attrib.items():
            if name[0] == "{":
                if name.startswith(f"{{{_XML_NS}}}"):
                    continue
                raise _Decline
            name = name.lower()
            out[name] = value.lower() if name in ("rel", "type") else value
        return out

    # ----------------------------------------------------------------- text

    def raw_text(self, el: Any) -> str:
        if len(el):
            raise _Decline  # markup inside a text element: feedparser re-serialises it
        return (el.text or "").strip()

    def text(self, el: Any) -> str:
        return fpcompat.repair(self.raw_text(el))

    def content_text(self, el: Any, default_type: str, rss: bool) -> tuple[str, str]:
        """(value, type) of a push_content element: title, description, summary, content."""
        a = self.attrs(el)
        if "src" in a or "mode" in a:
            raise _Decline
        type_ = _CONTENT_TYPES.get(a.get("type", default_type).lower())
        if type_ is None:
            raise _Decline  # xhtml, base64 and other MIME types
        output = self.raw_text(el)
        if rss and type_ == "text/plain" and fpcompat.HTMLISH.search(output):
            raise _Decline  # feedparser guesses (looks_like_html)
        if type_ == "text/html":
            output = self.resolve_html(output)
        return fpcompat.repair(output), type_

    def resolve_html(self, value: str) -> str:
        return fpcompat.resolve_html(value, self.base, self.resolved)

    def resolve_uri(self, uri: str) -> str:
        return fpcompat.urljoin(self.base, uri)

    # ----------------------------------------------------------------- dates

    def date(self, el: Any) -> Any:
        value = self.text(el)
        if value not in self.dates:
            self.dates[value] = self.parse_date(value)
        return self.dates[value]

    # ----------------------------------------------------------------- RSS

    def _feed_level(
        self,
        parent: Any,
        feed: dict[str, Any],
        own: Callable[[str, Any, dict[str, Any], list[dict[str, Any]]], bool],
        *,
        rss: bool,
    ) -> list[dict[str, Any]]:
        """The children of an RSS channel or Atom feed: title and links alike in both,
        the dialect's own elements (entries among them) through `own`, which says whether
        it took the element."""
        entries: list[dict[str, Any]] = []
        titles = 0
        feed_links: list[dict[str, str]] = []
        for el in parent:
            saved = self._enter(el)
            try:
                k = self.key(el)
                if own(k, el, feed, entries):
                    pass
                elif k == "title":
                    titles += 1
                    if titles > 1:
                        raise _Decline
                    value, type_ = self.content_text(el, "text/plain", rss=rss)
                    if value:
                        feed["title_detail"] = self.detail(type_, value)
                elif k == "link":
                    self._feed_link(el, feed, feed_links)
                elif k in _HARMLESS_IN_FEED:
                    self._inert(el)
                else:
                    self._unknown(el)
            finally:
                self.base, self.lang = saved
        return entries

    def _channel(self, channel: Any, feed: dict[str, Any]) -> list[dict[str, Any]]:
        return self._feed_level(channel, feed, self._channel_child, rss=True)

    def _channel_child(
        self, k: str, el: Any, feed: dict[str, Any], entries: list[dict[str, Any]]
    ) -> bool:
        if k == "item":
            entries.append(self._item(el))
        elif k in ("language", "dc_language"):
            feed["language"] = self.text(el)
        elif k in ("ttl", "sy_updateperiod", "sy_updatefrequency"):
            feed[k] = self.text(el)
        elif k in ("image", "textinput"):
            self._inert(el, _IMAGE_CHILDREN)
        elif k == "itunes_owner":
            self._inert(el, frozenset({"itunes_name", "itunes_email"}))
        elif k == "itunes_category":
            self._inert(el, frozenset({"itunes_category"}))
        else:
            return False
        return True

    def _feed_link(self, el: Any, feed: dict[str, Any], links: list[dict[str, str]]) -> None:
        a = fpcompat.enforce_href(self.attrs(el))
        if len(el):
            raise _Decline
        rel = a.setdefault("rel", "alternate")
        a.setdefault("type", "application/atom+xml" if rel == "self" else "text/html")
        if "href" in a:
            a["href"] = self.resolve_uri(a["href"])
            links.append(a)
            if rel == "alternate" and fpcompat.is_html_type(a["type"]):
                feed["link"] = a["href"]
            return
        output = self.raw_text(el)
        if output:
            output = self.resolve_uri(output)
        output = fpcompat.LINK_ENTITY.sub(r"&\g<1>", fpcompat.repair(output))
        feed["link"] = output

    def _item(self, item: Any) -> dict[str, Any]:
        if item.attrib:
            raise _Decline  # rdf:about, CDF lastmod
        e: dict[str, Any] = {}
        self._entry_children(item, e, rss=True)
        _check_identity(e)
        return e

    # ----------------------------------------------------------------- Atom

    def _atom_feed(self, root: Any, feed: dict[str, Any]) -> list[dict[str, Any]]:
        return self._feed_level(root, feed, self._atom_feed_child, rss=False)

    def _atom_feed_child(
        self, k: str, el: Any, feed: dict[str, Any], entries: list[dict[str, Any]]
    ) -> bool:
        if k == "entry":
            if el.attrib:
                raise _Decline
            e: dict[str, Any] = {}
            self._entry_children(el, e, rss=False)
            _check_identity(e)
            entries.append(e)
        elif k in ("author", "contributor"):
            self._inert(el, frozenset({"name", "email", "uri"}))
        elif k == "id":
            # _end_guid: a permalink id (Atom ids always are) is the link if none yet.
            if len(el) or self.attrs(el).get("ispermalink", "true") != "true":
                raise _Decline
            feed.setdefault("link", self.text(el))
        else:
            return False
        return True

    # ----------------------------------------------------------------- entries

    def _entry_children(self, item: Any, e: dict[str, Any], *, rss: bool) -> None:
        self._entry_level(item, e, _EntryState(), 1, rss)

    def _entry_level(
        self, parent: Any, e: dict[str, Any], state: _EntryState, depth: int, rss: bool
    ) -> None:
        """The children of an entry (depth 1) or of a media:group/content in it (deeper):
        depth matters to which title and summary feedparser keeps."""
        for el in parent:
            saved = self._enter(el)
            try:
                k = self.key(el)
                if depth > 1 and not k.startswith("media_"):
                    self._unknown(el)
                elif k in ("title", "media_title"):
                    value, type_ = self.content_text(el, "text/plain", rss=rss)
                    # pop(): a title at or below the depth of the last non-empty one is dropped;
                    # otherwise the shallowest wins. media:title leaves title_depth as it was.
                    if not -1 < state.title_depth <= depth and (
                        state.title_map is None or depth <= state.title_map
                    ):
                        e["title"] = value
                        e["title_detail"] = self.detail(type_, value)
                        state.title_map = depth
                    if value and k == "title":
                        state.title_depth = depth
                elif k == "link":
                    self._entry_link(el, e)
                elif k in ("guid", "id"):
                    self._guid(el, e)
                elif k in ("description", "summary", "media_description", "itunes_summary"):
                    if "summary" in e and not state.has_content:
                        # _start_description/_start_summary: a second summary is content.
                        self._content(el, e, state, "text/plain", rss)
                        continue
                    html_first = k in ("description", "media_description")
                    default = "text/html" if html_first else "text/plain"
                    value, type_ = self.content_text(el, default, rss=rss)
                    if state.summary_map is None or depth <= state.summary_map:
                        e["summary"] = value
                        e["summary_detail"] = self.detail(type_, value)
                        state.summary_map = depth
                elif k in ("content_encoded", "content"):
                    default = "text/html" if k == "content_encoded" else "text/plain"
                    self._content(el, e, state, default, rss)
                elif k in ("pubdate", "published", "issued", "dcterms_issued"):
                    e["published_parsed"] = self.date(el)
                elif k in ("updated", "modified", "dc_date", "lastbuilddate", "dcterms_modified"):
                    e["updated_parsed"] = self.date(el)
                elif k in ("author", "dc_creator", "dc_author", "itunes_author"):
                    if rss or k != "author":
                        self._rss_author(el, e)
                    else:
                        self._atom_author(el, e)
                elif k in ("category", "dc_subject", "media_category"):
                    self._category(el, e, rss=rss)
                elif k in ("media_keywords", "itunes_keywords"):
                    if el.attrib:
                        raise _Decline
                    tags = e.setdefault("tags", [])
                    for term in self.text(el).split(","):
                        if term.strip():
                            tags.append({"term": term.strip()})
                elif k == "enclosure":
                    if len(el):
                        raise _Decline
                    a = fpcompat.enforce_href(self.attrs(el))
                    a["rel"] = "enclosure"
                    e.setdefault("links", []).append(a)
                elif k == "media_content" or (k == "media_group" and not el.attrib):
                    if k == "media_content":
                        e.setdefault("media_content", []).append(self.media_attrs(el))
                    self._entry_level(el, e, state, depth + 1, rss)
                elif k == "contributor":
                    self._inert(el, frozenset({"name", "email", "uri"}))
                elif k in _HARMLESS_IN_ENTRY:
                    self._inert(el)
                else:
                    self._unknown(el)
            finally:
                self.base, self.lang = saved

    def _content(
        self, el: Any, e: dict[str, Any], state: _EntryState, default: str, rss: bool
    ) -> None:
        state.has_content = True
        value, type_ = self.content_text(el, default, rss=rss)
        e.setdefault("content", []).append(self.detail(type_, value))
        e.setdefault("summary", value)  # _end_content copies it when there is none yet

    def media_attrs(self, el: Any) -> dict[str, str]:
        # feedparser keeps media:content attributes as given (names lower-cased only).
        out: dict[str, str] = {}
        for name, value in el.attrib.items():
            if name[0] == "{":
                raise _Decline
            out[name.lower()] = value.lower() if name.lower() in ("rel", "type") else value
        return out

    def _entry_link(self, el: Any, e: dict[str, Any]) -> None:
        if len(el):
            raise _Decline
        a = fpcompat.enforce_href(self.attrs(el))
        rel = a.setdefault("rel", "alternate")
        a.setdefault("type", "application/atom+xml" if rel == "self" else "text/html")
        links = e.setdefault("links", [])
        links.append(a)
        if "href" in a:
            a["href"] = self.resolve_uri(a["href"])
            if rel == "alternate" and fpcompat.is_html_type(a["type"]):
                e["link"] = a["href"]
            return
        output = self.raw_text(el)
        if output:
            output = self.resolve_uri(output)
        output = fpcompat.repair(output)
        output = output.replace("&amp;", "&")
        output = fpcompat.LINK_ENTITY.sub(r"&\g<1>", output)
        e["link"] = output
        if output:
            a["href"] = output

    def _guid(self, el: Any, e: dict[str, Any]) -> None:
        a = self.attrs(el)
        guidislink = a.get("ispermalink", "true") == "true"
        value = self.text(el)
        e["id"] = value
        e.setdefault("guidislink", guidislink and "link" not in e)
        if guidislink:
            e.setdefault("link", value)

    def _rss_author(self, el: Any, e: dict[str, Any]) -> None:
        detail: dict[str, str] = {}
        e.setdefault("authors", []).append(detail)
        author = self.text(el)
        e["author"] = author
        if not author:
            return
        author, email = fpcompat.split_author(author)
        if author or email:
            e.setdefault("author_detail", detail)
        if author:
            detail["name"] = author
        if email:
            detail["email"] = email

    def _atom_author(self, el: Any, e: dict[str, Any]) -> None:
        if el.attrib or (el.text and el.text.strip()) or "authors" in e:
            # Several Atom authors go through feedparser's _sync_author_detail in ways
            # that mix them up ("Ann (ple"): not modelled.
            raise _Decline
        detail: dict[str, str] = {}
        e.setdefault("authors", []).append(detail)
        for child in el:
            k = self.key(child)
            if child.tail and child.tail.strip():
                raise _Decline
            if k in ("name", "email"):
                detail[k] = self.text(child)
            elif k == "uri":
                self.raw_text(child)
            else:
                raise _Decline
        if not detail.get("name"):
            raise _Decline
        e.setdefault("author_detail", detail)

    def _category(self, el: Any, e: dict[str, Any], *, rss: bool) -> None:
        a = self.attrs(el)
        tags = e.setdefault("tags", [])
        term = a.get("term")
        value = self.text(el)
        if term is not None and value:
            raise _Decline
        if term is not None:
            if term and not any(t.get("term") == term for t in tags):
                tags.append({"term": term})
            elif not term:
                raise _Decline
        elif value:
            tags.append({"term": value})


def _check_identity(e: dict[str, Any]) -> None:
    """An entry with neither a title nor a date may be identified by a hash of its raw HTML
    (normalize._entry_hash), and the raw HTML is where the paths differ (feedparser writes
    `<br />`): decline those."""
    if _valid_date(e.get("published_parsed")) or _valid_date(e.get("updated_parsed")):
        return
    title = e.get("title") or ""
    if title.split() and "<" not in title and "&" not in title:
        return
    if e.get("summary") or e.get("content"):
        raise _Decline


def _valid_date(value: Any) -> bool:
    try:
        datetime(*value[:6])
    except (TypeError, ValueError, OverflowError):
        return False
    return True
