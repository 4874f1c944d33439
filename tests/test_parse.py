"""parse.parse_feed over the 144-file corpus, exact values for a few files, and the eval set.

JSON Feed field mapping is in test_jsonfeed.py; here only the dispatch and the corpus run.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.errors import ParseError
from aggregator.models import Enclosure, ParsedFeed
from aggregator.normalize import canonical_url, normalize_feed
from aggregator.parse import parse_feed
from conftest import BILLION_LAUGHS

DATA = Path(__file__).parent / "data"
CORPUS = DATA / "corpus"
EVAL_DEV = DATA / "eval_dev"
NOW = datetime(2030, 1, 1, tzinfo=UTC)

CORPUS_FILES = sorted(
    p
    for p in CORPUS.rglob("*")
    if p.is_file() and p.name != "SOURCES.md" and p.parent.name not in ("opml", "discovery")
)


def _sources_counts() -> dict[str, int | None]:
    """File name → "Entries" column of SOURCES.md (None when it says "-")."""
    counts = {}
    row = re.compile(r"^\| `([^`]+)` \([\d,]+ B\) \|[^|]*\|[^|]*\| (\d+|-) \|")
    for line in (CORPUS / "SOURCES.md").read_text(encoding="utf-8").splitlines():
        if m := row.match(line):
            counts[m.group(1)] = None if m.group(2) == "-" else int(m.group(2))
    return counts


SOURCES_COUNTS = _sources_counts()

#: Where we differ from the feedparser 6.0.14 run recorded in SOURCES.md, and why.
COUNT_EXCEPTIONS = {
    # UTF-16 without BOM/declaration: parse.py sniffs it, feedparser alone found nothing.
    "simplepie__feed-utf16be.xml": 1,
    "simplepie__feed-utf16le.xml": 1,
    # "RSS in JSON" is not JSON Feed: rejected with ParseError.
    "nnw__ScriptingNews-rss-in-json.json": None,
    # lemon24 empty.rss: SOURCES counts its one <item> (a guid and nothing else).
}


def _url(path: Path) -> str:
    return f"https://feeds.example/{path.parent.name}/{path.name}"


def test_sources_table_was_read():
    assert len(SOURCES_COUNTS) == 144
    assert SOURCES_COUNTS["lemon24__full.rss"] == 5


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_file_parses_or_raises_parse_error(path: Path):
    try:
        feed = parse_feed(path.read_bytes(), url=_url(path))
    except ParseError as e:
        assert e.url == _url(path)
        assert str(e)
        expected = COUNT_EXCEPTIONS.get(path.name, SOURCES_COUNTS[path.name])
        # A document SOURCES.md credits with entries must not be refused.
        assert not expected, f"{path.name}: SOURCES.md lists {expected} entries, got {e}"
        return
    assert isinstance(feed, ParsedFeed)
    expected = COUNT_EXCEPTIONS.get(path.name, SOURCES_COUNTS[path.name])
    assert len(feed.entries) == expected

    entries = normalize_feed(feed, now=NOW)
    ids = [e.entry_id for e in entries]
    assert all(ids)
    assert len(set(ids)) == len(ids)
    assert len(entries) <= len(feed.entries)
    if feed.entries:
        assert entries, "every parsed entry was dropped"
    for entry in entries:
        assert entry.published.tzinfo is not None
        assert entry.published.utcoffset().total_seconds() == 0
        assert entry.id_source in ("guid", "link", "hash")
        assert "<script" not in entry.summary_html.lower()
        assert "<script" not in entry.content_html.lower()


@pytest.mark.parametrize(
    "path", sorted((CORPUS / "discovery").glob("*.html")), ids=lambda p: p.name
)
def test_html_pages_are_not_feeds(path: Path):
    with pytest.raises(ParseError, match="not a feed: HTML page"):
        parse_feed(path.read_bytes(), url=_url(path))


def _parse(relative: str, url: str | None = None) -> ParsedFeed:
    path = CORPUS / relative
    return parse_feed(path.read_bytes(), url=url or _url(path))


# --------------------------------------------------------------------------- exact values


def test_lemon24_full_rss():
    feed = _parse("wellformed/lemon24__full.rss")
    assert feed.version == "rss20"
    assert feed.title == "RSS Title"
    assert feed.link == "http://www.example.com/main.html"
    assert feed.ttl_seconds == 1800 * 60
    assert feed.problem is None
    first, second = feed.entries[:2]
    assert first.guid == "7bd204c6-1655-4c27-aeee-53f933c5395f"
    assert first.link == "http://www.example.com/blog/post/1"
    assert first.title == "Example entry"
    assert first.summary == "Here is some text containing an interesting description."
    assert first.authors == ("Example editor",)
    assert first.published == datetime(2009, 9, 6, 16, 20, tzinfo=UTC)
    # <enclosure url=""/> is dropped; length="xyz" is not a number.
    assert first.enclosures == (
        Enclosure("http://example.com/enclosure"),
        Enclosure("http://example.com/enclosure-with-type", type="image/jpeg"),
        Enclosure("http://example.com/enclosure-with-length", length=100000),
        Enclosure("http://example.com/enclosure-with-bad-length"),
    )
    # isPermaLink="false" guid, no <link>: no link.
    assert second.link is None
    assert second.published == datetime(2009, 9, 6, 0, 0, tzinfo=UTC)
    assert [e.guid for e in feed.entries[2:]] == [
        "source:only-url",
        "source:only-title",
        "source:empty",
    ]


def test_lemon24_full_atom():
    feed = _parse("wellformed/lemon24__full.atom")
    assert (feed.version, feed.title, feed.link) == (
        "atom10",
        "Example Feed",
        "http://example.org/",
    )
    entry = feed.entries[0]
    assert entry.guid == "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a"
    assert entry.link == "http://example.org/2003/12/13/atom03"
    # 2003-12-13T09:17:51-08:00
    assert entry.published == datetime(2003, 12, 13, 17, 17, 51, tzinfo=UTC)
    assert entry.updated == datetime(2003, 12, 13, 18, 30, 2, tzinfo=UTC)
    assert entry.authors == ("John Doe",)
    assert entry.summary == "Some text."
    # href="" must not become the feed's own URL; a missing type is not "text/html".
    assert entry.enclosures == (
        Enclosure("http://example.org/enclosure"),
        Enclosure("http://example.org/enclosure-with-type", type="text/whatever"),
        Enclosure("http://example.org/enclosure-with-length", length=1000),
        Enclosure("http://example.org/enclosure-with-bad-length"),
    )
    assert feed.entries[1].published is None
    assert feed.entries[1].updated == datetime(2003, 12, 13, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "link"),
    [
        ("lemon24__relative.rss", "https://example.com/feeds/blog/post/1"),  # <link>blog/post/1
        ("lemon24__relative.atom", "https://example.com/feeds/entries/entry.html"),
    ],
)
def test_relative_urls_resolve_against_the_feed_url(name, link):
    feed = _parse(f"wellformed/{name}", url="https://example.com/feeds/relative")
    assert feed.link == "https://example.com/feeds/file.html"
    (entry,) = feed.entries
    assert entry.link in (
        "https://example.com/feeds/blog/post/1",
        "https://example.com/feeds/entries/entry.html",
    )
    assert entry.link == link  # each file's own <link>, not either of the two
    assert entry.enclosures[0].url == "https://example.com/feeds/enclosure?q=a#fragment"
    assert entry.summary == 'one <a href="https://example.com/feeds/target">two</a> three'


def test_content_location_header_is_the_base():
    path = CORPUS / "wellformed/lemon24__relative.atom"
    feed = parse_feed(
        path.read_bytes(),
        url="https://example.com/feeds/relative",
        headers={"Content-Location": "/elsewhere/feed.xml"},
    )
    assert feed.entries[0].link == "https://example.com/elsewhere/entries/entry.html"


def test_permalink_guid_is_not_resolved_against_the_feed_url():
    # lemon24 relative.rss: <guid isPermaLink="true">7bd204c6-…</guid> with a <link>.
    feed = _parse("wellformed/lemon24__relative.rss", url="https://example.com/feeds/relative")
    assert feed.entries[0].guid == "7bd204c6-1655-4c27-aeee-53f933c5395f"
    doc = b'<rss version="2.0"><channel><item><guid>123</guid></item></channel></rss>'
    entry = parse_feed(doc, url="https://example.com/feed").entries[0]
    assert (entry.guid, entry.link) == ("123", None)
    doc = (
        b'<rss version="2.0"><channel><item><guid>https://a.example/1</guid></item></channel></rss>'
    )
    assert parse_feed(doc, url="https://example.com/feed").entries[0].link == "https://a.example/1"


def test_guid_not_permalink_gives_no_link():
    (entry,) = _parse("wellformed/feedparser__wellformed__rss__item_guid_not_permalink.xml").entries
    assert entry.guid
    assert entry.link is None


def test_json_feed_goes_to_jsonfeed_by_first_byte_or_content_type():
    body = (CORPUS / "jsonfeed/lemon24__full.json").read_bytes()
    assert parse_feed(b" \n" + body, url="https://e.example/feed").version == "json11"
    # Not starting with "{": only the Content-Type sends it to the JSON Feed reader.
    json_type = {"Content-Type": "application/feed+json; charset=utf-8"}
    with pytest.raises(ParseError, match="invalid JSON Feed: top level is not an object"):
        parse_feed(b"[1]", url="https://e.example/feed", headers=json_type)
    with pytest.raises(ParseError, match="not a feed"):
        parse_feed(b"[1]", url="https://e.example/feed")


@pytest.mark.parametrize(
    ("relative", "message"),
    [
        ("illformed/nnw__allthis-partial.json", "invalid JSON Feed: JSONDecodeError"),
        ("jsonfeed/nnw__ScriptingNews-rss-in-json.json", "invalid JSON Feed: no jsonfeed"),
        ("illformed/feedparser__illformed__rss_empty_document.xml", "not a feed"),
        ("illformed/feedparser__illformed__aaa_illformed.xml", "ill-formed feed with no entries"),
    ],
)
def test_not_a_feed(relative, message):
    with pytest.raises(ParseError, match=message):
        _parse(relative)


@pytest.mark.parametrize("body", [b"", b"   \n", b"\xef\xbb\xbf  "])
def test_empty_document(body):
    with pytest.raises(ParseError, match="empty document"):
        parse_feed(body, url="https://example.com/feed")


def test_illformed_with_entries_reports_a_problem():
    feed = _parse("illformed/fastfeedparser__undefined-entity-atom__3d13901a267083a8.xml")
    assert len(feed.entries) == 56
    assert feed.problem.startswith("SAXParseException: ")
    assert "undefined entity" in feed.problem


def test_wellformed_feed_without_entries_is_fine():
    feed = _parse("wellformed/feedparser__wellformed__rss__rss_version_20.xml")
    assert (feed.version, feed.entries, feed.problem) == ("rss20", (), None)


def test_koi8r_declared():
    feed = _parse("encoding/miniflux__encoding__koi8r.xml")
    assert feed.title == "Пример RSS ленты"
    assert [e.title for e in feed.entries] == ["Первая новость", "Вторая новость"]
    assert "Ёжик, чай, Москва" in feed.entries[0].summary


def test_windows_1251_declared():
    feed = _parse("encoding/miniflux__parser__encoding_WINDOWS-1251.xml")
    assert feed.title == "iBash.Org.Ru"
    assert feed.entries[0].title == "Цитата #17703"
    assert "есть у кого жаба программер" in feed.entries[0].summary
    assert feed.entries[0].published == datetime(2018, 3, 21, 7, 27, 32, tzinfo=UTC)  # +0300


@pytest.mark.parametrize("name", ["simplepie__feed-utf16le.xml", "simplepie__feed-utf16be.xml"])
def test_utf16_without_bom_or_declaration(name):
    feed = _parse(f"encoding/{name}")
    assert feed.title == "Test feed"
    assert feed.entries[0].title == "Test feed title 1"


def test_charset_header_wins_over_a_wrong_guess():
    body = "<rss version='2.0'><channel><title>Привет</title></channel></rss>".encode("cp1251")
    feed = parse_feed(
        body, url="https://e.example/", headers={"content-type": "text/xml; charset=windows-1251"}
    )
    assert feed.title == "Привет"


def test_text_xml_without_charset_follows_the_xml_declaration():
    body = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Ёж</title>'
    body += "</channel></rss>"
    feed = parse_feed(body.encode(), url="https://e.example/", headers={"Content-Type": "text/xml"})
    assert (feed.title, feed.problem) == ("Ёж", None)


def test_sy_update_period():
    body = b"""<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">
    <channel><title>t</title><sy:updatePeriod>hourly</sy:updatePeriod>
    <sy:updateFrequency>4</sy:updateFrequency></channel></rss>"""
    assert parse_feed(body, url="https://e.example/").ttl_seconds == 900


def test_external_entity_not_expanded():
    body = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>t</title>
<item><title>a &xxe; b</title><link>https://e.example/1</link></item></channel></rss>"""
    feed = parse_feed(body, url="https://e.example/feed")
    assert "root:" not in (feed.entries[0].title or "")
    assert feed.entries[0].title == "a &amp;xxe; b"  # the literal text "&xxe;", as HTML


def test_billion_laughs_not_expanded():
    body = BILLION_LAUGHS
    feed = parse_feed(body, url="https://e.example/feed")
    assert len(feed.entries[0].title or "") < 100


# --------------------------------------------------------------------------- eval dev set


def _eval_truth():
    return json.loads((EVAL_DEV / "truth.json").read_text(encoding="utf-8"))["entries"]


@pytest.fixture(scope="module")
def eval_entries():
    parsed = {}
    for path in sorted(EVAL_DEV.glob("*.xml")):
        feed = parse_feed(path.read_bytes(), url=f"https://feeds.example/{path.name}")
        parsed[path.name] = {e.entry_id: e for e in normalize_feed(feed, now=NOW)}
    return parsed


def test_eval_dev_entries_match_truth(eval_entries):
    truth = _eval_truth()
    assert len(truth) == 226
    for key, t in truth.items():
        feed_file, entry_id = key.split("|", 1)
        entry = eval_entries[feed_file].get(entry_id)
        assert entry is not None, key
        assert entry.url == t["link"], key
        assert canonical_url(entry.url) == t["canonical_url"], key
        assert entry.canonical_url == t["canonical_url"], key
        assert entry.published == datetime.fromisoformat(t["published_utc"]), key
        assert not entry.date_is_fallback
    # Nothing beyond the truth: every entry of the set is accounted for.
    assert sum(len(v) for v in eval_entries.values()) == len(truth)
