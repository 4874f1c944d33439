"""Datasette through its own client, on a database filled by the real pipeline."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import sqlite3
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode

import feedparser
import pytest

from aggregator.models import FeedConfig
from aggregator.store import Store
from aggregator.update import update
from aggregator.web import (
    ARTICLE_COLUMNS,
    DASHBOARD,
    database_name,
    make_datasette,
    metadata_for,
)
from conftest import make_config, rss


def get(ds, path: str):
    return asyncio.run(ds.client.get(path))


def rows_of(path: str | Path, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
    """Read the database directly, to check what Datasette shows against the stored rows."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def charts(path: Path) -> dict[str, dict]:
    return metadata_for(path)["plugins"]["datasette-dashboards"][DASHBOARD]["charts"]


def chart_rows(ds, path: Path, chart: str, **filters: str) -> list[dict]:
    """What the dashboard's JavaScript fetches for one chart: its SQL plus the filters."""
    query = urlencode({"sql": charts(path)[chart]["query"], "_shape": "objects", **filters})
    response = get(ds, f"/{database_name(path)}.json?{query}")
    assert response.status_code == 200, (chart, response.text[:500])
    data = response.json()
    assert not data.get("truncated"), chart
    return data["rows"]


def test_every_table_served_with_rows(demo_db: Path) -> None:
    ds = make_datasette(demo_db)
    db = database_name(demo_db)
    tables = metadata_for(demo_db)["databases"][db]["tables"]
    empty_until_pruned = {"tombstones"}
    for table in tables:
        response = get(ds, f"/{db}/{table}.json?_shape=objects")
        assert response.status_code == 200, table
        rows = response.json()["rows"]
        assert bool(rows) != (table in empty_until_pruned), f"{table}: {len(rows)} rows"


def test_every_canned_query_has_rows(demo_db: Path) -> None:
    ds = make_datasette(demo_db)
    db = database_name(demo_db)
    queries = metadata_for(demo_db)["databases"][db]["queries"]
    params = {
        "latest_by_topic": "topic=sanctions",
        "topic_feed": "topic=sanctions",
        "search": "q=Zelensky*",
        "story": "story_id=1",
        "story_feed": "story_id=1",
        "outlets_missing_story": "story_id=1",
    }
    assert set(params) <= set(queries)
    for name in queries:
        response = get(ds, f"/{db}/{name}.json?_shape=objects&{params.get(name, '')}")
        assert response.status_code == 200, (name, response.text[:300])
        assert response.json()["rows"], f"canned query {name} returned no rows"


def test_every_table_and_column_has_a_description(demo_db: Path) -> None:
    """The list comes from the database Datasette serves, so a new column needs a description."""
    ds = make_datasette(demo_db)
    db = database_name(demo_db)
    described = metadata_for(demo_db)["databases"][db]["tables"]
    data = get(ds, f"/{db}.json").json()
    shown = {t["name"]: t["columns"] for t in data["tables"] if not t["hidden"]}
    shown |= {v["name"]: [] for v in data["views"]}
    for name, _ in rows_of(demo_db, "select name, 1 from sqlite_master where type = 'view'"):
        shown[name] = [r["name"] for r in rows_of(demo_db, f"pragma table_info([{name}])")]
    assert {"articles", "stories", "story_outlets", "feeds"} <= set(shown)
    missing = []
    for table, columns in shown.items():
        meta = described.get(table, {})
        if not (meta.get("description") or "").strip():
            missing.append(table)
        missing += [f"{table}.{c}" for c in columns if not meta.get("columns", {}).get(c)]
    assert not missing, f"no description for {missing}"
    # ... and no description names a table or column that is not there (stale docs).
    stale = [t for t in described if t not in shown]
    stale += [f"{t}.{c}" for t, m in described.items() for c in m.get("columns", {})]
    stale = [s for s in stale if "." not in s or s.split(".")[1] not in shown.get(s.split(".")[0])]
    assert not stale, f"descriptions of nothing: {stale}"


def test_search_box_finds_story(demo_db: Path) -> None:
    ds = make_datasette(demo_db)
    db = database_name(demo_db)
    response = get(ds, f"/{db}/articles.json?_search=prisoner&_shape=objects")
    rows = response.json()["rows"]
    assert rows and all(
        "prisoner" in (r["title"] + r["summary_text"] + r["content_text"]).lower() for r in rows
    )


def test_facets_and_newest_first(demo_db: Path) -> None:
    ds = make_datasette(demo_db)
    db = database_name(demo_db)
    data = get(ds, f"/{db}/articles.json?_shape=objects").json()
    facets = data["facet_results"]
    assert {"outlet", "feed_id", "topics", "published"} <= set(facets)
    topic_counts = {r["value"]: r["count"] for r in facets["topics"]["results"]}
    assert topic_counts.get("diplomacy", 0) > 10 and topic_counts.get("other", 0) > 10
    outlets = {r["value"] for r in facets["outlet"]["results"]}
    assert {"Kyiv Ledger", "Prospekt International", "Meridian Press"} <= outlets
    published = [r["published"] for r in data["rows"]]
    assert published == sorted(published, reverse=True)


def test_descriptions_shown(demo_db: Path) -> None:
    ds = make_datasette(demo_db)
    db = database_name(demo_db)
    html = get(ds, f"/{db}/articles").text
    assert "One row per distinct article" in html
    assert "Publication time, UTC" in html


def shown_columns(html: str) -> list[str]:
    return re.findall(r'<th [^>]*data-column="([^"]+)"', html)


def test_articles_page_shows_the_reading_columns(demo_db: Path) -> None:
    """The HTML table shows what a reader scans; asking for columns, or JSON, gives them all."""
    ds = make_datasette(demo_db)
    db = database_name(demo_db)
    every = [r[1] for r in rows_of(demo_db, "pragma table_info(articles)")]
    assert {"content_html", "dedup_key", "content_hash"} <= set(every)
    html = get(ds, f"/{db}/articles").text
    assert shown_columns(html) == ["id", *ARTICLE_COLUMNS]
    newest = rows_of(demo_db, "select title from articles order by published desc limit 1")
    assert newest[0]["title"].replace("&", "&amp;") in html
    # A search from that page keeps them (the search form carries ?_col=), as does the page of
    # a search typed into the URL.
    assert 'name="_col" value="summary_text"' in html
    search = get(ds, f"/{db}/articles?_search=prisoner").text
    assert shown_columns(search) == ["id", *ARTICLE_COLUMNS]
    assert "prisoner" in search.lower()
    # Columns the URL chooses are Datasette's choice, every one of them by default.
    chosen = get(ds, f"/{db}/articles?_nocol=topics").text
    assert shown_columns(chosen) == [c for c in every if c != "topics"]
    assert shown_columns(get(ds, f"/{db}/articles?_col=title").text) == ["id", "title"]
    assert get(ds, f"/{db}/articles.json").json()["columns"] == every
    assert shown_columns(get(ds, f"/{db}/stories").text)[-1] == "topics"


# --- the dashboard ------------------------------------------------------------------------


def test_landing_page_is_the_dashboard(demo_db: Path) -> None:
    ds = make_datasette(demo_db)
    response = get(ds, "/")
    assert response.status_code == 302
    assert response.headers["location"] == f"/-/dashboards/{DASHBOARD}"
    page = get(ds, f"/-/dashboards/{DASHBOARD}")
    assert page.status_code == 200
    html = page.text
    for chart in charts(demo_db).values():
        if chart["library"] != "markdown":
            assert markup_escape(chart["title"]) in html
    # The filter choices come from the database.
    for name in ("date_from", "date_to", "topic", "outlet"):
        assert f'name="{name}"' in html
    assert '<option value="sanctions"' in html and '<option value="Kyiv Ledger"' in html


def test_every_chart_has_data_with_and_without_filters(demo_db: Path) -> None:
    ds = make_datasette(demo_db)
    filtered = {"topic": "sanctions", "outlet": "Meridian Press", "date_from": "2026-11-17"}
    for name, chart in charts(demo_db).items():
        if chart["library"] == "markdown":
            continue
        assert chart_rows(ds, demo_db, name), f"{name} is empty"
        assert chart_rows(ds, demo_db, name, **filtered), f"{name} is empty with filters"


def test_period_defaults_to_the_ten_days_up_to_the_newest_article(demo_db: Path) -> None:
    ds = make_datasette(demo_db)
    newest = rows_of(demo_db, "select max(published) from articles")[0][0][:10]
    days = sorted({r["day"] for r in chart_rows(ds, demo_db, "topic_day")})
    assert days[-1] == newest and len(days) == 10
    assert chart_rows(ds, demo_db, "period")[0]["period"] == f"{days[0]} – {newest}"
    # An explicit range is honoured, both ends included.
    ranged = chart_rows(ds, demo_db, "outlet_day", date_from="2026-11-18", date_to="2026-11-20")
    assert {r["day"] for r in ranged} == {"2026-11-18", "2026-11-19", "2026-11-20"}
    stored = rows_of(
        demo_db,
        "select count(*) from articles "
        "where published >= '2026-11-18' and published < '2026-11-21'",
    )[0][0]
    assert sum(r["articles"] for r in ranged) == stored


def test_articles_per_topic_per_day_match_the_stored_tags(demo_db: Path) -> None:
    ds = make_datasette(demo_db)
    got = {(r["day"], r["topic"]): r["articles"] for r in chart_rows(ds, demo_db, "topic_day")}
    days = {day for day, _ in got}
    tags = rows_of(
        demo_db,
        "select a.published, t.topic from articles a join article_topics t on t.article_id = a.id",
    )
    expected = Counter((p[:10], topic) for p, topic in tags if p[:10] in days)
    assert {k: v for k, v in got.items() if v} == dict(expected)
    only = chart_rows(ds, demo_db, "topic_day", topic="mediation")
    assert {r["topic"] for r in only} == {"mediation"}


def test_topic_share_is_a_ratio_of_each_outlets_articles(demo_db: Path) -> None:
    ds = make_datasette(demo_db)
    rows = chart_rows(ds, demo_db, "topic_share", date_from="2026-11-01", date_to="2026-11-30")
    assert all(0 <= r["share"] <= 1 for r in rows)
    articles = rows_of(
        demo_db,
        "select a.id, a.outlet, group_concat(t.topic) as topics from articles a "
        "left join article_topics t on t.article_id = a.id "
        "where a.published >= '2026-11-01' and a.published < '2026-12-01' group by a.id",
    )
    totals = Counter(a["outlet"] for a in articles)
    tagged = Counter((a["outlet"], t) for a in articles for t in (a["topics"] or "").split(","))
    for r in rows:
        assert r["outlet_articles"] == totals[r["outlet"]]
        expected = tagged[r["outlet"], r["topic"]] / totals[r["outlet"]]
        assert r["share"] == pytest.approx(expected, abs=1e-4)
    # Outlets publish at very different rates; the share is comparable, the count is not.
    busiest = max(totals, key=totals.get)
    assert totals[busiest] > 1.5 * min(totals.values())


def test_biggest_stories_link_to_the_story_page(demo_db: Path) -> None:
    ds = make_datasette(demo_db)
    db = database_name(demo_db)
    rows = chart_rows(ds, demo_db, "stories")
    outlets = [r["Outlets (count)"] for r in rows]
    assert outlets == sorted(outlets, reverse=True) and outlets[0] >= 5
    story_id = int(re.search(r"story_id=(\d+)", rows[0]["Story (first headline)"])[1])
    stored = rows_of(demo_db, "select title, outlets from stories where id = ?", (story_id,))[0]
    assert stored["outlets"] == outlets[0]
    page = get(ds, f"/{db}/story?story_id={story_id}")
    assert page.status_code == 200
    assert str(markup_escape(stored["title"])) in page.text


def markup_escape(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


def test_feed_health_counts_ok_failing_and_disabled(
    tmp_path: Path, feed_server, feed_dir: Path
) -> None:
    (feed_dir / "good.xml").write_text(
        rss([{"title": "Drone strike", "link": "https://x.example/1"}])
    )
    (feed_dir / "broken.xml").write_text("this is not a feed")
    base = feed_server.base_url
    config = make_config(tmp_path, [base + "good.xml", base + "broken.xml"])
    off = FeedConfig(url=base + "off.xml", enabled=False)
    config = dataclasses.replace(config, feeds=(*config.feeds, off))
    path = tmp_path / "health.db"
    with Store(path) as store:
        update(config, store)
    ds = make_datasette(path)
    counts = {r["health"]: r["feeds"] for r in chart_rows(ds, path, "feed_health")}
    assert counts == {"ok": 1, "failing": 1, "disabled": 1, "not polled yet": 0}
    db = database_name(path)
    health = get(ds, f"/{db}/feed_health.json?_shape=objects").json()["rows"]
    assert [r["health"] for r in health][0] == "failing"


# --- story page, links, Atom --------------------------------------------------------------


def test_story_page_shows_every_member_with_outlet_labels_and_lag(demo_db: Path) -> None:
    ds = make_datasette(demo_db)
    db = database_name(demo_db)
    story = rows_of(
        demo_db, "select * from stories where syndicated > 0 order by outlets desc limit 1"
    )[0]
    data = get(ds, f"/{db}/story.json?_shape=objects&story_id={story['id']}").json()["rows"]
    assert len(data) == story["articles"]
    assert len({r["outlet"] for r in data}) == story["outlets"]
    assert data[0]["lag_hours"] == 0 and data[0]["title"] == story["title"]
    assert all(r["lag_hours"] >= 0 for r in data)
    assert sum(r["syndicated"] == "copy" for r in data) == story["syndicated"]
    assert all("side: " in r["labels"] for r in data)
    html = " ".join(get(ds, f"/{db}/story?story_id={story['id']}").text.split())
    assert f"{story['articles']} articles from {story['outlets']} outlets" in html
    assert 'class="story-title"' in html and "story_feed.atom?story_id=" in html
    # Each headline links to its article.
    for r in data:
        assert f'<a href="{markup_escape(r["url"])}">' in html


def test_stories_table_titles_link_to_the_story_page(demo_db: Path) -> None:
    ds = make_datasette(demo_db)
    db = database_name(demo_db)
    html = get(ds, f"/{db}/stories").text
    links = re.findall(rf'<a href="/{db}/story\?story_id=(\d+)">', html)
    shown = get(ds, f"/{db}/stories.json?_shape=objects").json()["rows"]
    assert [int(x) for x in links] == [r["id"] for r in shown]
    search = get(ds, f"/{db}/search?q=prisoner").text
    assert re.search(rf'<a href="/{db}/story\?story_id=\d+">', search)


def test_topic_atom_feed_parses_and_matches_the_topic(demo_db: Path) -> None:
    ds = make_datasette(demo_db)
    db = database_name(demo_db)
    topic_page = get(ds, f"/{db}/latest_by_topic?topic=sanctions").text
    href = re.search(r'<a class="atom-feed" href="([^"]+)"', topic_page)[1].replace("&amp;", "&")
    response = get(ds, href)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    feed = feedparser.parse(response.content)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.feed.title == "aggregator: sanctions"
    tagged = rows_of(
        demo_db,
        "select a.url, a.title from article_topics t join articles a on a.id = t.article_id "
        "where t.topic = 'sanctions'",
    )
    assert len(feed.entries) == min(50, len(tagged))
    urls = {r["url"] for r in tagged}
    assert all(e.link in urls and e.updated_parsed for e in feed.entries)
    # The topics table links to the same feed.
    topics_html = get(ds, f"/{db}/topics").text
    assert href.replace("&", "&amp;") in topics_html


def test_story_atom_feed_parses(demo_db: Path) -> None:
    ds = make_datasette(demo_db)
    db = database_name(demo_db)
    story = rows_of(demo_db, "select id, articles, title from stories order by outlets desc")[0]
    html = get(ds, f"/{db}/story?story_id={story['id']}").text
    href = re.search(r'<a class="atom-feed" href="([^"]+)"', html)[1].replace("&amp;", "&")
    feed = feedparser.parse(get(ds, href).content)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.feed.title == f"Story: {story['title']}"
    assert len(feed.entries) == story["articles"]
    assert sum(e.title.endswith("(first report)") for e in feed.entries) == 1


class _Markup(HTMLParser):
    """Collects what a browser would run or load from a page: scripts, frames, handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_script = tag == "script"
        if tag in ("iframe", "object", "embed"):
            self.found.append(tag)
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"{tag} {name}={value}")

    def handle_data(self, data: str) -> None:
        if self._in_script and "alert(" in data:
            self.found.append(f"script {data[:40]}")


def live_markup(html: str) -> list[str]:
    parser = _Markup()
    parser.feed(html)
    return parser.found


def test_feeds_of_a_quiet_topic_or_a_gone_story_still_parse(demo_db: Path) -> None:
    """A feed reader subscribed to a new topic, or to a story a recluster renumbered."""
    ds = make_datasette(demo_db)
    db = database_name(demo_db)
    for path, says in (
        (f"/{db}/topic_feed.atom?topic=ceasefire-monitoring", "No articles on topic"),
        (f"/{db}/story_feed.atom?story_id=999999", "No story 999999"),
    ):
        response = get(ds, path)
        assert response.status_code == 200, path
        feed = feedparser.parse(response.content)
        assert feed.bozo == 0 and len(feed.entries) == 1, path
        assert feed.entries[0].title.startswith(says)


HOSTILE = (
    '<p>Talks <script>alert("s")</script><a href="javascript:alert(1)">here</a>'
    '<img src="https://x.example/i.png" onerror="alert(2)"><iframe src="https://evil.example">'
    "</iframe> resume.</p>"
)


def test_article_html_is_never_served_raw(tmp_path: Path, feed_server, feed_dir: Path) -> None:
    items = [
        {
            "title": "Sanctions: AT&amp;T &lt;&lt; EU &gt;&gt; deal",
            "link": f"https://x.example/{i}",
            "description": HOSTILE,
            "pubDate": f"Mon, 23 Nov 2026 1{i}:00:00 GMT",
        }
        for i in range(2)
    ]
    (feed_dir / "f.xml").write_text(rss(items))
    path = tmp_path / "hostile.db"
    with Store(path) as store:
        update(make_config(tmp_path, [feed_server.base_url + "f.xml"]), store)
    ds = make_datasette(path)
    db = database_name(path)
    stored = rows_of(path, "select title, summary_html from articles")
    # The plain-text title really holds markup characters (normalize drops whole tags, so
    # these are bare angle brackets: the pages must still escape them).
    assert "<< EU >>" in stored[0]["title"]
    for page in (
        f"/{db}/topic_feed.atom?topic=sanctions",
        f"/{db}/story_feed.atom?story_id=1",
        f"/{db}/articles",
        f"/{db}/story?story_id=1",
        f"/{db}/latest_by_topic?topic=sanctions",
        f"/{db}/stories",
    ):
        response = get(ds, page)
        assert response.status_code == 200, page
        if page.endswith(".atom") or ".atom?" in page:
            feed = feedparser.parse(response.content)
            assert feed.bozo == 0 and len(feed.entries) == 2, page
            for entry in feed.entries:
                assert "resume." in entry.content[0].value
                assert not live_markup(entry.content[0].value), (page, entry.content[0].value)
        else:
            assert "&lt;&lt; EU &gt;&gt;" in response.text  # the title is shown, escaped
            assert "<< EU >>" not in response.text
            assert not live_markup(response.text), page
    # Dashboard table cards go into the page as HTML: feed text must arrive escaped.
    for row in chart_rows(ds, path, "stories", date_from="2026-11-01"):
        assert "&lt;&lt; EU &gt;&gt;" in row["Story (first headline)"]
        assert "<< EU" not in row["Story (first headline)"]
