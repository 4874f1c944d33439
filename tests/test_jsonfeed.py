"""jsonfeed.py: JSON Feed bytes in, ParsedFeed out (exact values from lemon24/reader's files)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.errors import ParseError
from aggregator.jsonfeed import parse_json_feed
from aggregator.models import Enclosure, ParsedFeed

JSONFEED = Path(__file__).parent / "data" / "corpus" / "jsonfeed"


def _parse(name: str) -> ParsedFeed:
    return parse_json_feed(
        (JSONFEED / name).read_bytes(), url=f"https://feeds.example/jsonfeed/{name}"
    )


def test_jsonfeed_full():
    feed = _parse("lemon24__full.json")
    assert (feed.version, feed.title, feed.link, feed.language) == (
        "json11",
        "My Example Feed",
        "https://example.org/",
        "en",
    )
    second, initial = feed.entries
    assert second.guid == "2"
    assert second.link == "https://example.org/second-item"
    assert second.title == "Title"
    assert second.content == 'Content with <a href="http://example.com/">link</a>'
    assert second.summary == "A summary"
    assert second.language == "de"
    assert second.authors == ("joe@example.com",)  # only a mailto: url
    assert second.published == datetime(2020, 1, 2, 21, 0, tzinfo=UTC)  # 14:00-07:00
    assert second.updated == datetime(2020, 1, 4, 0, 0, tzinfo=UTC)  # 01:00+0100
    assert second.enclosures == (
        Enclosure("http://example.com/downloads/file.m4a", "audio/x-m4a", 12345678),
        Enclosure("http://example.com/downloads/another.mp3"),
    )
    assert initial.authors == ("Jane",)  # JSON Feed 1.0 "author"
    assert initial.published == datetime(2020, 1, 2, 12, 0, tzinfo=UTC)
    assert initial.language == "en"  # the feed's


def test_jsonfeed_with_type_violations_keeps_entries_and_drops_bad_fields():
    feed = _parse("lemon24__invalid.json")
    assert feed.title is None and feed.link is None and feed.language is None
    by_id = {e.guid: e for e in feed.entries}
    assert list(by_id) == [
        "2",
        "3.1415",
        "author name",
        "author url",
        "author name fallback",
        "author empty dict",
        "author empty list",
        "second author is good",
    ]
    bad = by_id["2"]
    assert (bad.title, bad.content, bad.summary, bad.link) == (None, None, None, None)
    assert (bad.published, bad.updated) == (None, None)
    # The three attachments with a non-empty string url (relative, so resolved); none has a
    # usable size_in_bytes ("float size" is 100.123456, "non-number size" is {}).
    assert [x.url for x in bad.enclosures] == [
        "https://feeds.example/jsonfeed/control",
        "https://feeds.example/jsonfeed/float size",
        "https://feeds.example/jsonfeed/non-number size",
    ]
    assert all(x.length is None for x in bad.enclosures)
    assert by_id["author name fallback"].authors == ("joe@example.com",)
    assert by_id["author url"].authors == ()
    assert by_id["second author is good"].authors == ("Jane",)


def test_jsonfeed_unknown_version_is_an_empty_feed():
    feed = _parse("lemon24__unknown.json")
    assert feed.entries == ()
    assert feed.version == "json"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "JSONDecodeError"),
        (b"[]", "top level is not an object"),
        (b'{"version": "https://example.com/1", "items": []}', "no jsonfeed.org version"),
        (b'{"version": "https://jsonfeed.org/version/1", "items": {}}', "'items' is not a list"),
    ],
)
def test_not_a_json_feed(body, message):
    with pytest.raises(ParseError, match=f"invalid JSON Feed: {message}") as info:
        parse_json_feed(body, url="https://e.example/feed.json")
    assert info.value.url == "https://e.example/feed.json"
