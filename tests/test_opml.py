"""OPML import and export: the corpus round trip, folders to topics, problems with their place."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import listparser
import pytest
from click.testing import CliRunner

from aggregator.cli import cli
from aggregator.config import load_config
from aggregator.opml import slug
from conftest import CORPUS, rss

OPML_FILES = sorted(CORPUS.rglob("*.opml"))
#: Feeds (outlines with an xmlUrl) per corpus file, from corpus/SOURCES.md.
FEED_COUNTS = {
    "syndikit__subscriptionList.opml": 13,
    "syndikit__development.opml": 663,  # 664 outlines, one URL (miqu.me) twice
    "syndikit__category.opml": 0,
    "syndikit__directory.opml": 0,
    "syndikit__states.opml": 0,
    "nnw__Subs.opml": 207,
    "nnw__SubsNoTitleAttributes.opml": 207,
}


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_every_corpus_opml_is_counted() -> None:
    assert sorted(p.name for p in OPML_FILES) == sorted(FEED_COUNTS)


@pytest.mark.parametrize("source", OPML_FILES, ids=lambda p: p.name)
def test_round_trip_keeps_every_feed_url(tmp_path: Path, source: Path) -> None:
    config = tmp_path / "feeds.yaml"
    # --allow-private: the check would look up hundreds of real host names (no network here).
    imported = run("-c", str(config), "import-opml", str(source), "--allow-private")
    assert imported.exit_code in (0, 3), imported.output
    original = {f.url for f in listparser.parse(source.read_bytes()).feeds}
    assert len(original) == FEED_COUNTS[source.name]
    if original:
        assert {f.url for f in load_config(config).feeds} == original
    else:
        assert not config.exists() or not load_config(config).feeds

    exported = run("-c", str(config), "export-opml", "-o", str(tmp_path / "out.opml"))
    if not original:
        return
    assert exported.exit_code == 0, exported.output
    document = (tmp_path / "out.opml").read_bytes()
    again = listparser.parse(document)
    assert not again.bozo and again.version == "opml2"
    assert {f.url for f in again.feeds} == original

    # Importing the export into a fresh file gives the same feeds, titles and topics.
    second = tmp_path / "second.yaml"
    assert run("-c", str(second), "import-opml", str(tmp_path / "out.opml"),
               "--allow-private").exit_code == 0  # fmt: skip
    first_feeds = {(f.url, f.title, f.topics) for f in load_config(config).feeds}
    assert {(f.url, f.title, f.topics) for f in load_config(second).feeds} == first_feeds


def test_folders_become_topics_with_their_names(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    result = run("-c", str(config), "import-opml", str(CORPUS / "opml" / "nnw__Subs.opml"),
                 "--allow-private")  # fmt: skip
    assert result.exit_code == 0, result.output
    loaded = load_config(config)
    feeds = {f.url: f for f in loaded.feeds}
    gerrold = feeds["http://www.gerrold.com/feed/"]
    assert gerrold.topics == ("writers",) and gerrold.title == "Gerrold"
    assert feeds["http://daringfireball.net/feeds/main"].topics == ()  # top level: no folder
    topics = {t.name: t for t in loaded.topics}
    assert topics["writers"].description == "Writers"
    assert not topics["writers"].keywords  # given by the folder only, never by a rule


def test_category_attribute_paths_become_topics(tmp_path: Path) -> None:
    opml = tmp_path / "c.opml"
    opml.write_text(
        '<opml version="2.0"><head/><body><outline text="News">'
        '<outline text="W" type="rss" xmlUrl="https://w.example/rss" '
        'category="/World News/Europe,/Politics"/></outline></body></opml>'
    )
    config = tmp_path / "feeds.yaml"
    assert run("-c", str(config), "import-opml", str(opml), "--allow-private").exit_code == 0
    [feed] = load_config(config).feeds
    assert set(feed.topics) == {"world-news", "europe", "politics", "news"}


def test_bad_entries_are_reported_with_their_place(tmp_path: Path) -> None:
    opml = tmp_path / "bad.opml"
    opml.write_text(
        '<?xml version="1.0"?>\n<opml version="2.0"><head><title>t</title></head><body>\n'
        '<outline text="Tech">\n'
        '  <outline text="Good" type="rss" xmlUrl="https://good.example/rss"/>\n'
        '  <outline text="Site only" type="rss" htmlUrl="https://site.example/"/>\n'
        '  <outline text="Empty" type="rss" xmlUrl=""/>\n'
        '  <outline text="Gopher" type="rss" xmlUrl="gopher://old.example/feed"/>\n'
        "</outline>\n"
        '<outline text="More lists" type="link" url="https://lists.example/x.opml"/>\n'
        "</body></opml>\n"
    )
    config = tmp_path / "feeds.yaml"
    result = run("-c", str(config), "import-opml", str(opml), "--allow-private")
    assert result.exit_code == 3
    assert [f.url for f in load_config(config).feeds] == ["https://good.example/rss"]
    out = result.output
    assert "line 5, folder Tech ('Site only'): no xmlUrl" in out
    assert "line 6, folder Tech ('Empty'): empty xmlUrl" in out
    assert "line 7, folder Tech ('Gopher'): xmlUrl 'gopher://old.example/feed' is not" in out
    assert "line 9 ('More lists'): a link to https://lists.example/x.opml, not a feed" in out
    assert "Imported 1 feeds" in out and "4 not imported" in out


def test_duplicates_are_skipped_and_reported(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text("# mine\nfeeds:\n  - url: http://daringfireball.net/feeds/main\n")
    source = str(CORPUS / "opml" / "nnw__Subs.opml")
    first = run("-c", str(config), "import-opml", source, "--allow-private")
    assert "already configured: http://daringfireball.net/feeds/main" in first.output
    assert len(load_config(config).feeds) == 207
    text = config.read_text()
    assert text.startswith("# mine\nfeeds:\n  - url: http://daringfireball.net/feeds/main\n")
    second = run("-c", str(config), "import-opml", source, "--allow-private")
    assert second.exit_code == 0 and "Imported 0 feeds" in second.output
    assert config.read_text() == text


def test_not_opml_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.opml"
    bad.write_text("this is not xml at all <")
    result = run("-c", str(tmp_path / "feeds.yaml"), "import-opml", str(bad))
    assert result.exit_code == 1 and "not an OPML file" in result.output


def test_outlet_option_and_outlet_folders(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "outlets:\n  - name: BBC News\n"
        "feeds:\n  - url: https://feeds.bbci.co.uk/news/world/rss.xml\n    outlet: BBC News\n"
        "    topics: [world]\n"
        "topics:\n  world:\n    keywords: [world]\n"
    )
    out = tmp_path / "out.opml"
    assert run("-c", str(config), "export-opml", "-o", str(out)).exit_code == 0
    root = ET.parse(out).getroot()
    [folder] = root.find("body")
    assert folder.get("text") == "BBC News"
    [outline] = folder
    assert outline.get("xmlUrl") == "https://feeds.bbci.co.uk/news/world/rss.xml"
    assert outline.get("category") == "/world" and outline.get("type") == "rss"

    # Into a file that declares the outlet: the folder is the outlet again, not a topic.
    other = tmp_path / "other.yaml"
    other.write_text("outlets:\n  - name: BBC News\ntopics:\n  world:\n    keywords: [w]\n")
    assert run("-c", str(other), "import-opml", str(out), "--allow-private").exit_code == 0
    [feed] = load_config(other).feeds
    assert (feed.outlet, feed.topics) == ("BBC News", ("world",))

    # --outlet names one for every feed, declared when new.
    third = tmp_path / "third.yaml"
    assert run("-c", str(third), "import-opml", str(out), "--allow-private",
               "--outlet", "Wires").exit_code == 0  # fmt: skip
    loaded = load_config(third)
    assert [o.name for o in loaded.outlets] == ["Wires"]
    assert loaded.feeds[0].outlet == "Wires"
    assert set(loaded.feeds[0].topics) == {"bbc-news", "world"}


def test_export_has_html_url_once_fetched(tmp_path: Path, feed_dir: Path, feed_server) -> None:
    (feed_dir / "a.xml").write_text(rss([{"title": "t", "link": "https://e.org/1"}], title="A"))
    config = tmp_path / "feeds.yaml"
    url = feed_server.base_url + "a.xml"
    config.write_text(f"settings:\n  database: a.db\nfeeds:\n  - url: {url}\n    title: A & B\n")
    before = ET.fromstring(run("-c", str(config), "export-opml").stdout_bytes)
    assert before.find("body/outline").get("htmlUrl") is None  # not fetched yet: unknown
    assert run("-c", str(config), "fetch", "-q").exit_code == 0
    result = run("-c", str(config), "export-opml")
    root = ET.fromstring(result.stdout_bytes)
    assert root.get("version") == "2.0" and root.findtext("head/title")
    outline = root.find("body/outline")
    assert outline.get("text") == "A & B" and outline.get("xmlUrl") == url
    assert outline.get("htmlUrl") == "https://example.org/"  # the feed's own <link>


@pytest.mark.parametrize(
    ("name", "expected"),
    [("World News", "world-news"), ("  C++ & Rust ", "c-rust"), ("Café", "cafe")],
)
def test_slug(name: str, expected: str) -> None:
    assert slug(name) == expected


def test_slug_of_a_non_latin_name_is_stable_and_valid() -> None:
    assert slug("Новости") == slug("Новости") and slug("Новости").startswith("folder-")
    assert slug("Новости") != slug("Спорт")
