"""Well-formed UTF-8 RSS 2.0 / Atom 1.0 bytes in, feedparser-shaped dicts out (lxml), or None.

feedparser costs ~0.5 ms per entry, lxml a few µs (issue #7). This module walks the lxml tree
of the common, unambiguous documents and builds the very subset of feedparser's result dicts
that parse.py reads (`id`, `link`, `guidislink`, `links`, `title(_detail)`,
`summary(_detail)`, `content`, `authors`, `author(_detail)`, `tags`, `media_content`,
`*_parsed` dates; feed `title_detail`, `link`, `language`, `ttl`, `sy_*`), following what
feedparser 6's handlers do element by element, so parse.py turns both into a ParsedFeed with
the same code. Dates go through the date function parse.py passes in (feedparser's own).

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

import html
import re
import urllib.parse
from collections.abc import Callable
from datetime import datetime
from typing import Any

from lxml import etree

__all__ = ["parse_fast"]

#: A function of a date string to a UTC struct_time or None (feedparser's _parse_date).
DateParser = Callable[[str], Any]

_ATOM = "http://www.w3.org/2005/Atom"
_XML_NS = "http://www.w3.org/XML/1998/namespace"
_XML_BASE = f"{{{_XML_NS}}}base"
_XML_LANG = f"{{{_XML_NS}}}lang"

#: feedparser 6.0's namespace URI -> standard prefix table (mixin._FeedParserMixin.namespaces,
#: lower-cased), for the URIs this module meets; tests check it against feedparser's.
_NAMESPACES = {
    "": "",
    "http://backend.userland.com/rss": "",
    "http://blogs.law.harvard.edu/tech/rss": "",
    "http://purl.org/rss/1.0/": "",
    "http://www.w3.org/2005/atom": "",
    "http://purl.org/atom/ns#": "",
    "http://purl.org/rss/1.0/modules/content/": "content",
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://purl.org/dc/terms/": "dcterms",
    "http://search.yahoo.com/mrss": "media",
    "http://search.yahoo.com/mrss/": "media",
    "http://purl.org/rss/1.0/modules/syndication/": "sy",
    "http://purl.org/rss/1.0/modules/slash/": "slash",
    "http://wellformedweb.org/commentapi/": "wfw",
    "http://rssnamespace.org/feedburner/ext/1.0": "feedburner",
    "http://www.itunes.com/dtds/podcast-1.0.dtd": "itunes",
    "http://www.georss.org/georss": "georss",
    "http://www.w3.org/1999/xhtml": "xhtml",
    "http://purl.org/rss/1.0/modules/threading/": "thr",
    "http://webns.net/mvcb/": "admin",
}
#: Every other namespace feedparser knows: an element in one of them is declined (we would
#: have to know its prefix); tests check the union against feedparser's table.
_OTHER_KNOWN_NAMESPACES = frozenset(
    """http://my.netscape.com/rdf/simple/0.9/ http://example.com/newformat#
    http://example.com/necho http://purl.org/echo/ uri/of/echo/namespace#
    http://purl.org/pie/ http://purl.org/rss/1.0/modules/rss091#
    http://purl.org/rss/1.0/modules/aggregation/ http://purl.org/rss/1.0/modules/annotate/
    http://media.tangent.org/rss/1.0/ http://backend.userland.com/blogchannelmodule
    http://creativecommons.org/ns#license http://web.resource.org/cc/
    http://cyber.law.harvard.edu/rss/creativecommonsrssmodule.html
    http://backend.userland.com/creativecommonsrssmodule
    http://purl.org/rss/1.0/modules/company http://my.theinfo.org/changed/1.0/rss/
    http://purl.org/rss/1.0/modules/email/ http://purl.org/rss/1.0/modules/event/
    http://freshmeat.net/rss/fm/ http://xmlns.com/foaf/0.1/
    http://www.w3.org/2003/01/geo/wgs84_pos# http://www.opengis.net/gml http://postneo.com/icbm/
    http://purl.org/rss/1.0/modules/image/ http://example.com/dtds/podcast-1.0.dtd
    http://purl.org/rss/1.0/modules/link/ http://madskills.com/public/xml/rss/module/pingback/
    http://prismstandard.org/namespaces/1.2/basic/ http://www.w3.org/1999/02/22-rdf-syntax-ns#
    http://www.w3.org/2000/01/rdf-schema# http://purl.org/rss/1.0/modules/reference/
    http://purl.org/rss/1.0/modules/richequiv/ http://purl.org/rss/1.0/modules/search/
    http://schemas.xmlsoap.org/soap/envelope/ http://purl.org/rss/1.0/modules/servicestatus/
    http://hacks.benhammersley.com/rss/streaming/ http://purl.org/rss/1.0/modules/subscription/
    http://schemas.pocketsoap.com/rss/mydescmodule/ http://purl.org/rss/1.0/modules/taxonomy/
    http://purl.org/rss/1.0/modules/textinput/ http://madskills.com/public/xml/rss/module/trackback/
    http://purl.org/rss/1.0/modules/wiki/ http://www.w3.org/1999/xlink
    http://www.w3.org/xml/1998/namespace http://podlove.org/simple-chapters""".split()
)

#: Element keys ("prefix_localname" as feedparser dispatches them) that have a _start_/_end_
#: handler in feedparser 6.0; tests check this against the installed feedparser.
FEEDPARSER_HANDLERS = frozenset(
    """abstract author body category cc_license channel cloud content content_encoded
    contributor copyright created creativeCommons_license creativecommons_license dc_author
    dc_contributor dc_creator dc_date dc_description dc_language dc_publisher dc_rights
    dc_subject dc_title dcterms_created dcterms_issued dcterms_modified dcterms_valid
    description email enclosure entry expirationdate feed feedburner_browserfriendly fullitem
    generator geom georss_box georss_line georss_point georss_polygon georss_where georssgeom
    gml_exterior gml_linearring gml_linestring gml_point gml_polygon gml_pos gml_poslist guid
    height homepage id image info issued item itunes_author itunes_block itunes_category
    itunes_email itunes_explicit itunes_image itunes_keywords itunes_link itunes_name
    itunes_owner itunes_subtitle itunes_summary keywords language lastbuilddate link
    managingeditor media_category media_content media_credit media_description media_group
    media_keywords media_license media_player media_rating media_restriction media_thumbnail
    media_title modified name newlocation psc_chapter psc_chapters pubdate published rights
    rss source subtitle summary tagline tags textInput textinput title updated uri url
    webmaster where width xhtml_body""".split()
)

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

_CP1252 = {
    i: bytes([i]).decode("cp1252") for i in range(128, 160) if i not in (129, 141, 143, 144, 157)
}
_XML_DECL = re.compile(rb"^<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']*)[\"']")
_URI_FIXER = re.compile("^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")
_LINK_ENTITY = re.compile("&([A-Za-z0-9_]+);")
#: feedparser's looks_like_html triggers: a close tag or an entity reference.
_HTMLISH = re.compile(r"</\w+>|&#?\w+;")
_EMAIL = re.compile(
    r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"""  # noqa: E501  (feedparser's own)
)
#: HTML this module does not reproduce feedparser's rewriting of: comments, declarations,
#: CDATA, processing instructions, script/style bodies, "<" not starting a tag.
_HTML_HARD = re.compile(r"<[!?]|<(?:script|style|textarea|xmp|plaintext)\b|<(?![A-Za-z/])", re.I)
#: "&" starting a reference: a named one must be known and end in ";", a numeric one must be
#: complete; any other "&" is text to both parsers.
_HTML_REF = re.compile(r"&(?:#[0-9]+;|#[xX][0-9A-Fa-f]+;|([A-Za-z][A-Za-z0-9]*);|([A-Za-z#]|$))")
#: A start tag with attributes (rewritten), and one without (left alone, only counted).
_HTML_START_TAG = re.compile(
    r"<([A-Za-z][A-Za-z0-9:-]*)((?:\s+[^\s\"'<>/=]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?)+)\s*(/?)>"
)
_HTML_BARE_TAG = re.compile(r"<[A-Za-z][A-Za-z0-9:-]*\s*/?>")
_HTML_ATTR = re.compile(r"\s+([^\s\"'<>/=]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'=<>`]+)))?")
_BARE_AMPERSAND = re.compile(r"&(?!#\d+;|#x[0-9a-fA-F]+;|\w+;)")
_ACCEPTABLE_URI_SCHEMES = frozenset(
    """file ftp gopher h323 hdl http https imap magnet mailto mms news nntp prospero rsync
    rtsp rtspu sftp shttp sip sips snews svn svn+ssh telnet wais aim callto cvs facetime
    feed git gtalk irc ircs irc6 itms msnim skype ssh smb ymsg""".split()
)
_HTML_ENTITIES = frozenset(html.entities.name2codepoint) | {"apos"}
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


class _Decline(Exception):
    """The document is not one this module is sure about: use feedparser."""


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
        self.base = self._settled(_safe_absolute(self.base, self.base) or self.base)
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
        if lowered in _NAMESPACES:
            prefix = _NAMESPACES[lowered]
        elif lowered in _OTHER_KNOWN_NAMESPACES:
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

    def _rebase(self, parent: str, el: Any) -> str:
        """The base URL inside `el`, as feedparser's unknown_starttag tracks xml:base."""
        xml_base = el.get(_XML_BASE)
        if not xml_base:
            return parent
        return self._settled(_safe_absolute(parent, xml_base) or parent)

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
        if (_safe_absolute(base, base) or base) != base:
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
            if k in FEEDPARSER_HANDLERS or k in _DANGEROUS_PLAIN:
                raise _Decline

    def _unknown(self, el: Any) -> None:
        k = self.key(el)
        if k in FEEDPARSER_HANDLERS or k in _DANGEROUS_PLAIN:
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

    @staticmethod
    def finish(output: str) -> str:
        """The end of feedparser's pop(): the utf-8-read-as-latin-1 repair and cp1252."""
        if output.isascii():
            return output
        try:
            output = output.encode("iso-8859-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
        return output.translate(_CP1252)

    def text(self, el: Any) -> str:
        return self.finish(self.raw_text(el))

    def content_text(self, el: Any, default_type: str, rss: bool) -> tuple[str, str]:
        """(value, type) of a push_content element: title, description, summary, content."""
        a = self.attrs(el)
        if "src" in a or "mode" in a:
            raise _Decline
        type_ = _CONTENT_TYPES.get(a.get("type", default_type).lower())
        if type_ is None:
            raise _Decline  # xhtml, base64 and other MIME types
        output = self.raw_text(el)
        if rss and type_ == "text/plain" and _HTMLISH.search(output):
            raise _Decline  # feedparser guesses (looks_like_html)
        if type_ == "text/html":
            output = self.resolve_html(output)
        return self.finish(output), type_

    def resolve_html(self, value: str) -> str:
        """Start tags rewritten as feedparser's RelativeURIResolver writes them: attributes
        sorted, relative a/@href and img/@src made absolute. The sanitiser (normalize.py)
        re-serialises the rest, so only what survives it has to be equal."""
        if "<" not in value and "&" not in value:
            return value
        if _HTML_HARD.search(value):
            raise _Decline
        for m in _HTML_REF.finditer(value):
            if m.group(2) is not None or (m.group(1) and m.group(1) not in _HTML_ENTITIES):
                raise _Decline
        starts = value.count("<") - value.count("</")
        if not starts:
            return value
        done = 0
        resolved = self.resolved
        base = self.base

        def resolve(v: str) -> str:
            key = (base, v)
            if key not in resolved:
                resolved[key] = _safe_absolute(base, v.strip()) or v
            return resolved[key]

        def tag(m: re.Match[str]) -> str:
            nonlocal done
            done += 1
            name = m.group(1).lower()
            found = _HTML_ATTR.findall(m.group(2))
            if len(found) == 1 and name not in ("a", "img"):
                # Nothing to sort or resolve: the sanitiser sees the same element either way.
                return m.group(0)
            attrs: dict[str, str] = {}
            for a in _HTML_ATTR.finditer(m.group(2)):
                key = a.group(1).lower()
                if key in attrs or key == "reversed":
                    raise _Decline
                # Values as written: feedparser's sgmllib decodes no references in them.
                raw = next((v for v in a.group(2, 3, 4) if v is not None), None)
                v = key if raw is None else raw
                if key in ("rel", "type"):
                    v = v.lower()
                elif (name, key) in (("a", "href"), ("img", "src")):
                    v = resolve(v)
                v = v.replace(">", "&gt;").replace("<", "&lt;").replace('"', "&quot;")
                attrs[key] = _BARE_AMPERSAND.sub("&amp;", v)
            rendered = "".join(f' {k}="{v}"' for k, v in sorted(attrs.items()))
            return f"<{name}{rendered}{m.group(3)}>"

        bare = len(_HTML_BARE_TAG.findall(value)) if "<" in value else 0
        result = _HTML_START_TAG.sub(tag, value) if bare != starts else value
        if bare + done != starts:
            raise _Decline
        return result

    def resolve_uri(self, uri: str) -> str:
        return _urljoin(self.base, uri)

    # ----------------------------------------------------------------- dates

    def date(self, el: Any) -> Any:
        value = self.text(el)
        if value not in self.dates:
            self.dates[value] = self.parse_date(value)
        return self.dates[value]

    # ----------------------------------------------------------------- RSS

    def _channel(self, channel: Any, feed: dict[str, Any]) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        titles = 0
        feed_links: list[dict[str, str]] = []
        for el in channel:
            saved, saved_lang = self.base, self.lang
            if self.scoped:
                self.base = self._rebase(saved, el)
                self.lang = self._relang(saved_lang, el)
            try:
                k = self.key(el)
                if k == "item":
                    entries.append(self._item(el))
                elif k == "title":
                    titles += 1
                    if titles > 1:
                        raise _Decline
                    value, type_ = self.content_text(el, "text/plain", rss=True)
                    if value:
                        feed["title_detail"] = self.detail(type_, value)
                elif k == "link":
                    self._feed_link(el, feed, feed_links)
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
                elif k in _HARMLESS_IN_FEED:
                    self._inert(el)
                else:
                    self._unknown(el)
            finally:
                self.base, self.lang = saved, saved_lang
        return entries

    def _feed_link(self, el: Any, feed: dict[str, Any], links: list[dict[str, str]]) -> None:
        a = _enforce_href(self.attrs(el))
        if len(el):
            raise _Decline
        rel = a.setdefault("rel", "alternate")
        a.setdefault("type", "application/atom+xml" if rel == "self" else "text/html")
        if "href" in a:
            a["href"] = self.resolve_uri(a["href"])
            links.append(a)
            if rel == "alternate" and _is_html_type(a["type"]):
                feed["link"] = a["href"]
            return
        output = self.raw_text(el)
        if output:
            output = self.resolve_uri(output)
        output = _LINK_ENTITY.sub(r"&\g<1>", self.finish(output))
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
        entries: list[dict[str, Any]] = []
        titles = 0
        feed_links: list[dict[str, str]] = []
        for el in root:
            saved, saved_lang = self.base, self.lang
            if self.scoped:
                self.base = self._rebase(saved, el)
                self.lang = self._relang(saved_lang, el)
            try:
                k = self.key(el)
                if k == "entry":
                    if el.attrib:
                        raise _Decline
                    e: dict[str, Any] = {}
                    self._entry_children(el, e, rss=False)
                    _check_identity(e)
                    entries.append(e)
                elif k == "title":
                    titles += 1
                    if titles > 1:
                        raise _Decline
                    value, type_ = self.content_text(el, "text/plain", rss=False)
                    if value:
                        feed["title_detail"] = self.detail(type_, value)
                elif k == "link":
                    self._feed_link(el, feed, feed_links)
                elif k in ("author", "contributor"):
                    self._inert(el, frozenset({"name", "email", "uri"}))
                elif k == "id":
                    # _end_guid: a permalink id (Atom ids always are) is the link if none yet.
                    if len(el) or self.attrs(el).get("ispermalink", "true") != "true":
                        raise _Decline
                    feed.setdefault("link", self.text(el))
                elif k in _HARMLESS_IN_FEED:
                    self._inert(el)
                else:
                    self._unknown(el)
            finally:
                self.base, self.lang = saved, saved_lang
        return entries

    # ----------------------------------------------------------------- entries

    def _entry_children(self, item: Any, e: dict[str, Any], *, rss: bool) -> None:
        self._entry_level(item, e, _EntryState(), 1, rss)

    def _entry_level(
        self, parent: Any, e: dict[str, Any], state: _EntryState, depth: int, rss: bool
    ) -> None:
        """The children of an entry (depth 1) or of a media:group/content in it (deeper):
        depth matters to which title and summary feedparser keeps."""
        for el in parent:
            saved, saved_lang = self.base, self.lang
            if self.scoped:
                self.base = self._rebase(saved, el)
                self.lang = self._relang(saved_lang, el)
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
                    a = _enforce_href(self.attrs(el))
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
                self.base, self.lang = saved, saved_lang

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
        a = _enforce_href(self.attrs(el))
        rel = a.setdefault("rel", "alternate")
        a.setdefault("type", "application/atom+xml" if rel == "self" else "text/html")
        links = e.setdefault("links", [])
        links.append(a)
        if "href" in a:
            a["href"] = self.resolve_uri(a["href"])
            if rel == "alternate" and _is_html_type(a["type"]):
                e["link"] = a["href"]
            return
        output = self.raw_text(el)
        if output:
            output = self.resolve_uri(output)
        output = self.finish(output)
        output = output.replace("&amp;", "&")
        output = _LINK_ENTITY.sub(r"&\g<1>", output)
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
        email = None
        match = _EMAIL.search(author)
        if match:
            email = match.group(0)
            author = author.replace(email, "")
            author = author.replace("()", "")
            author = author.replace("<>", "")
            author = author.replace("&lt;&gt;", "")
            author = author.strip()
            if author and author[0] == "(":
                author = author[1:]
            if author and author[-1] == ")":
                author = author[:-1]
            author = author.strip()
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


# --------------------------------------------------------------------------- URLs


def _is_html_type(type_: str) -> bool:
    """feedparser's map_content_type(type) in html_types."""
    type_ = type_.lower()
    return type_ in ("text/html", "application/xhtml+xml", "html", "xhtml")


def _enforce_href(a: dict[str, str]) -> dict[str, str]:
    href = a.get("url", a.get("uri", a.get("href")))
    if href:
        a.pop("url", None)
        a.pop("uri", None)
        a["href"] = href
    return a


_SIMPLE_ABSOLUTE = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::[0-9]+)?(?:/[^\s;#?\[\]\\\x00-\x1f\x7f]*)?"
    r"(?:\?[^\s#\\\x00-\x1f\x7f]+)?"
)
_SIMPLE_PATH = re.compile(
    r"/[^/\s;#?\[\]\\\x00-\x1f\x7f][^\s;#?\[\]\\\x00-\x1f\x7f]*(?:\?[^\s#\\\x00-\x1f\x7f]+)?"
)
_SIMPLE_ORIGIN = re.compile(r"(https?://[A-Za-z0-9.-]+(?::[0-9]+)?)(?:[/?#]|$)")


def _urljoin(base: str, uri: str) -> str:
    """feedparser.urls._urljoin; the two commonest shapes without urllib (equal results:
    tests/test_fastparse.py::test_urljoin_shortcuts_equal_urllib)."""
    if _SIMPLE_ABSOLUTE.fullmatch(uri):
        return uri  # urljoin re-assembles it unchanged
    if _SIMPLE_PATH.fullmatch(uri):
        path = uri.partition("?")[0]
        origin = _SIMPLE_ORIGIN.match(base)
        if origin and "//" not in path and "/." not in path:
            return origin.group(1) + uri
    uri = _URI_FIXER.sub(r"\1\3", uri)
    try:
        return urllib.parse.urljoin(base, uri)
    except ValueError:
        return ""


def _safe_absolute(base: str, rel: str) -> str:
    """feedparser.urls.make_safe_absolute_uri (base is never empty here)."""
    if not rel:
        try:
            scheme = urllib.parse.urlparse(base)[0]
        except ValueError:
            return ""
        return base if not scheme or scheme in _ACCEPTABLE_URI_SCHEMES else ""
    uri = _urljoin(base, rel)
    if uri.strip().split(":", 1)[0] not in _ACCEPTABLE_URI_SCHEMES:
        return ""
    return uri
