"""Strings in, strings out: the feedparser 6 rules fastparse.py reproduces, without feedparser.

Its namespace and handler tables, the text repair at the end of its pop(), its URL joins and
the attribute rewriting of its RelativeURIResolver. tests/test_fastparse.py checks the copied
tables against the installed feedparser and the URL shortcuts against urllib.
"""

from __future__ import annotations

import html
import re
import urllib.parse


class Unsure(Exception):
    """The input is not one these rules are sure about: the caller uses feedparser."""


#: feedparser 6.0's namespace URI -> standard prefix table (mixin._FeedParserMixin.namespaces,
#: lower-cased), for the URIs this module meets; tests check it against feedparser's.
NAMESPACES = {
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
OTHER_KNOWN_NAMESPACES = frozenset(
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

CP1252 = {
    i: bytes([i]).decode("cp1252") for i in range(128, 160) if i not in (129, 141, 143, 144, 157)
}
_URI_FIXER = re.compile("^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")
LINK_ENTITY = re.compile("&([A-Za-z0-9_]+);")
#: feedparser's looks_like_html triggers: a close tag or an entity reference.
HTMLISH = re.compile(r"</\w+>|&#?\w+;")
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
ACCEPTABLE_URI_SCHEMES = frozenset(
    """file ftp gopher h323 hdl http https imap magnet mailto mms news nntp prospero rsync
    rtsp rtspu sftp shttp sip sips snews svn svn+ssh telnet wais aim callto cvs facetime
    feed git gtalk irc ircs irc6 itms msnim skype ssh smb ymsg""".split()
)
_HTML_ENTITIES = frozenset(html.entities.name2codepoint) | {"apos"}


def repair(output: str) -> str:
    """The end of feedparser's pop(): the utf-8-read-as-latin-1 repair and cp1252."""
    if output.isascii():
        return output
    try:
        output = output.encode("iso-8859-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    return output.translate(CP1252)


def resolve_html(value: str, base: str, resolved: dict[tuple[str, str], str]) -> str:
    """Start tags rewritten as feedparser's RelativeURIResolver writes them: attributes
    sorted, relative a/@href and img/@src made absolute against `base` (`resolved` caches
    the joins). The sanitiser (normalize.py) re-serialises the rest, so only what survives
    it has to be equal. Raises Unsure on HTML where feedparser's sgmllib may read it
    differently (comments, scripts, unknown references, "<" not starting a tag)."""
    if "<" not in value and "&" not in value:
        return value
    if _HTML_HARD.search(value):
        raise Unsure
    for m in _HTML_REF.finditer(value):
        if m.group(2) is not None or (m.group(1) and m.group(1) not in _HTML_ENTITIES):
            raise Unsure
    starts = value.count("<") - value.count("</")
    if not starts:
        return value
    done = 0

    def resolve(v: str) -> str:
        key = (base, v)
        if key not in resolved:
            resolved[key] = safe_absolute(base, v.strip()) or v
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
                raise Unsure
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
        raise Unsure
    return result


def split_author(author: str) -> tuple[str, str | None]:
    """feedparser's _sync_author_detail: "jane@x.example (Jane Doe)" -> ("Jane Doe", email)."""
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
    return author, email


# --------------------------------------------------------------------------- URLs


def is_html_type(type_: str) -> bool:
    """feedparser's map_content_type(type) in html_types."""
    type_ = type_.lower()
    return type_ in ("text/html", "application/xhtml+xml", "html", "xhtml")


def enforce_href(a: dict[str, str]) -> dict[str, str]:
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


def urljoin(base: str, uri: str) -> str:
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


def safe_absolute(base: str, rel: str) -> str:
    """feedparser.urls.make_safe_absolute_uri (base is never empty here)."""
    if not rel:
        try:
            scheme = urllib.parse.urlparse(base)[0]
        except ValueError:
            return ""
        return base if not scheme or scheme in ACCEPTABLE_URI_SCHEMES else ""
    uri = urljoin(base, rel)
    if uri.strip().split(":", 1)[0] not in ACCEPTABLE_URI_SCHEMES:
        return ""
    return uri
