"""Feed discovery: the corpus pages (pure), then `aggregator add` against a real loopback server."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from aggregator.cli import cli
from aggregator.config import load_config
from aggregator.discover import decode_html, feed_links, guess_urls
from conftest import CORPUS, rss

PAGES = CORPUS / "discovery"
PAGE_URL = "https://site.example/news/page.html"

#: What each corpus page advertises, from corpus/SOURCES.md and, for fftests.html, the
#: Firefox test inside the page itself: every link titled 1..13 is a feed, no "Bogus" one is.
EXPECTED = {
    "simplepie__fftests.html": [
        f"https://site.example/{n}"
        for n in (
            "1.atom",
            "2.rss",
            "3.xml",
            "4.atom",
            "5.atom",
            "6.atom",
            "7.atom",
            "8.atom",
            "9.atom",
            "10.atom",
            "11.atom",
            "12.atom",
            "13.atom",
        )
    ],  # fmt: skip
    "simplepie__microformats__h-feed-simple.html": [],
    "nnw__coco-theatlantic.html": [
        "https://site.example/feed/all/",
        "https://site.example/feed/best-of/",
    ],
    "nnw__sixcolors.html": ["http://feedpress.me/sixcolors"],
    "nnw__YouTubeTheVolvoRocks.html": [
        "https://www.youtube.com/feeds/videos.xml?channel_id=UCct7QF2jcWRY6dhXWMSq9LQ"
    ],
    "nnw__rscore__daringfireball.html": [
        "https://site.example/feeds/main",
        "https://site.example/feeds/json",
    ],
    "nnw__rscore__inessential.html": [
        "https://inessential.com/xml/rss.xml",
        "https://inessential.com/feed.json",
    ],
    "nnw__rscore__scripting.html": ["http://scripting.com/rss.xml"],
    "nnw__rscore__apple.html": [],
    "nnw__rscore__unsung.html": [],
}


def test_every_corpus_page_is_listed() -> None:
    assert sorted(p.name for p in PAGES.glob("*.html")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_page_feeds(name: str) -> None:
    page = decode_html((PAGES / name).read_bytes(), "text/html")
    found = [c.url for c in feed_links(page, PAGE_URL)]
    assert found == EXPECTED[name]


def test_fftests_titles_and_kinds() -> None:
    page = (PAGES / "simplepie__fftests.html").read_text(encoding="utf-8")
    found = feed_links(page, PAGE_URL)
    assert [c.title for c in found] == [str(n) for n in range(1, 14)]
    assert not any("bogus" in c.url.lower() for c in found)
    kinds = {c.title: c.kind for c in found}
    assert (kinds["1"], kinds["2"], kinds["3"]) == ("Atom", "RSS", "feed")


def test_json_feed_type_and_generic_types_need_a_feed_like_url() -> None:
    page = """<head>
      <link rel="alternate" type="application/json" href="/wp-json/wp/v2/pages/2">
      <link rel="alternate" type="application/json+oembed" href="/oembed?url=x">
      <link rel="alternate" type="application/rdf+xml" href="/people/me/foaf">
      <link rel="alternate" type="application/rdf+xml" href="/index.rdf">
      <link rel="alternate" type="application/feed+json" href="/feed.json">
      <link rel="alternate" hreflang="de" href="/de/">
    </head>"""
    found = feed_links(page, PAGE_URL)
    # A specific type ranks above a generic one guessed from its URL.
    assert [(c.url, c.kind) for c in found] == [
        ("https://site.example/feed.json", "JSON Feed"),
        ("https://site.example/index.rdf", "RDF"),
    ]


def test_base_href_relative_links_and_comment_feeds_last() -> None:
    page = """<html><head><base href="/blog/">
      <link rel="alternate" type="application/rss+xml" title="Comments Feed" href="comments/feed">
      <link rel="alternate" type="application/rss+xml" title="Posts" href="feed">
      <link rel="alternate" type="application/rss+xml" title="Again" href="./feed#top">
      <link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
      <link rel="alternate" type="application/rss+xml" href="">
    </head><body><link rel="alternate" type="application/atom+xml" href="//cdn.example/a.atom">
    </body></html>"""
    found = feed_links(page, PAGE_URL)
    assert [c.url for c in found] == [
        "https://site.example/blog/feed",
        "https://cdn.example/a.atom",
        "https://site.example/blog/comments/feed",
    ]
    assert found[0].title == "Posts"


def test_broken_html_does_not_raise() -> None:
    page = '<link rel=alternate type=application/rss+xml href=/a.xml><link rel="alt<<<'
    assert [c.url for c in feed_links(page, PAGE_URL)] == ["https://site.example/a.xml"]


def test_guess_urls_beside_the_page_then_the_root() -> None:
    urls = guess_urls("https://site.example/blog/post?id=3")
    assert urls[0] == "https://site.example/blog/feed"
    assert "https://site.example/rss.xml" in urls and "https://site.example/atom.xml" in urls
    assert "https://site.example/feeds/posts/default" in urls
    assert urls.index("https://site.example/feed") > urls.index("https://site.example/blog/rss")
    assert len(urls) == len(set(urls))


def test_decode_html_uses_declared_charsets() -> None:
    body = '<meta charset="windows-1251"><title>Новости</title>'.encode("windows-1251")
    assert "Новости" in decode_html(body, "text/html")
    assert "Новости" in decode_html("<p>Новости</p>".encode("koi8-r"), "text/html; charset=koi8-r")


# --------------------------------------------------------------------------- `aggregator add`


def add(config: Path, *args: str, input: str | None = None):
    return CliRunner().invoke(cli, ["-c", str(config), "add", *args], input=input)


def feed(title: str) -> str:
    return rss([{"title": "Talks resume", "link": "https://e.org/1"}], title=title)


def test_add_a_feed_url(tmp_path: Path, feed_dir: Path, feed_server) -> None:
    (feed_dir / "world.xml").write_text(feed("World desk"))
    config = tmp_path / "feeds.yaml"
    url = feed_server.base_url + "world.xml"
    result = add(config, url, "--allow-private", "--interval", "30m", "--title", "World")
    assert result.exit_code == 0, result.output
    assert "World desk  [RSS]" in result.output  # the feed's own title, shown before asking
    loaded = load_config(config)
    assert [(f.url, f.title, f.interval) for f in loaded.feeds] == [(url, "World", 1800)]
    again = add(config, url, "--allow-private", "-y")
    assert again.exit_code == 1 and "already in" in again.output
    assert len(load_config(config).feeds) == 1


def test_add_a_page_lists_its_feeds_and_adds_the_chosen_one(
    tmp_path: Path, feed_dir: Path, feed_server
) -> None:
    (feed_dir / "news").mkdir()
    (feed_dir / "news" / "world.xml").write_text(feed("World"))
    (feed_dir / "news" / "europe.xml").write_text(feed("Europe"))
    (feed_dir / "news" / "index.html").write_text(
        "<html><head><title>News</title>"
        '<link rel="alternate" type="application/rss+xml" title="All world news" href="world.xml">'
        '<link rel="alternate" type="application/rss+xml" title="Gone" href="/gone.xml">'
        '<link rel="alternate" type="application/rss+xml" href="europe.xml">'
        "</head><body>hello</body></html>"
    )
    config = tmp_path / "feeds.yaml"
    page = feed_server.base_url + "news/index.html"
    result = add(config, page, "--allow-private", "--outlet", "Desk", "--topic", "world",
                 input="2\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1. All world news  [RSS]" in result.output
    assert "2. Europe  [RSS]" in result.output  # no title on the link: the feed's own
    assert "gone.xml: HTTP 404" in result.output  # advertised but not a feed: not offered
    loaded = load_config(config)
    assert [(f.url, f.outlet, f.topics) for f in loaded.feeds] == [
        (feed_server.base_url + "news/europe.xml", "Desk", ("world",))
    ]
    assert [o.name for o in loaded.outlets] == ["Desk"]
    assert [t.name for t in loaded.topics] == ["world"]


def test_add_a_page_without_links_finds_a_common_path(
    tmp_path: Path, feed_dir: Path, feed_server
) -> None:
    (feed_dir / "index.html").write_text("<html><head><title>Home</title></head></html>")
    (feed_dir / "atom.xml").write_text(feed("Site feed"))
    config = tmp_path / "feeds.yaml"
    result = add(config, feed_server.base_url + "index.html", "--allow-private", "--pick", "1")
    assert result.exit_code == 0, result.output
    assert [f.url for f in load_config(config).feeds] == [feed_server.base_url + "atom.xml"]


def test_add_a_page_without_any_feed_fails_clearly(
    tmp_path: Path, feed_dir: Path, feed_server
) -> None:
    (feed_dir / "index.html").write_text("<html><head><title>Home</title></head></html>")
    config = tmp_path / "feeds.yaml"
    result = add(config, feed_server.base_url + "index.html", "--allow-private", "-y")
    assert result.exit_code == 1
    assert "no feed found" in result.output and "index.html" in result.output
    assert not config.exists()


def test_add_keeps_the_existing_file_and_its_comments(
    tmp_path: Path, feed_dir: Path, feed_server
) -> None:
    (feed_dir / "a.xml").write_text(feed("A"))
    config = tmp_path / "feeds.yaml"
    before = "# my feeds\nfeeds:\n  # the first one\n  - url: https://e.org/rss  # main\n"
    config.write_text(before)
    result = add(config, feed_server.base_url + "a.xml", "--allow-private", "-y")
    assert result.exit_code == 0, result.output
    after = config.read_text()
    assert after.startswith(before)
    assert after[len(before) :] == f"  - url: {feed_server.base_url}a.xml\n"


def test_add_zero_adds_nothing(tmp_path: Path, feed_dir: Path, feed_server) -> None:
    (feed_dir / "a.xml").write_text(feed("A"))
    (feed_dir / "p.html").write_text('<link rel="feed" href="a.xml">')
    config = tmp_path / "feeds.yaml"
    result = add(config, feed_server.base_url + "p.html", "--allow-private", input="0\n")
    assert result.exit_code == 0 and "Nothing added" in result.output
    assert not config.exists()


def test_add_rejects_a_bad_interval_before_any_request(tmp_path: Path, feed_server) -> None:
    result = add(tmp_path / "f.yaml", feed_server.base_url + "a.xml", "--interval", "often")
    assert result.exit_code == 2 and "--interval" in result.output
    assert feed_server.hits == {}
