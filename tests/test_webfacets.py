"""Table-page facets from the summary tables, and the bounded table search, through Datasette's
own client on the demo database: the same facets Datasette computes itself, read from
facet_counts instead of every row."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from datasette.database import Database

from aggregator import web, webfacets
from aggregator.web import database_name, make_datasette

OUTLET = "Kyiv Ledger"
WORD = "prisoner"

#: Pages whose facets come from the summaries (see datasette/summaries.yml).
PAGES = [
    "articles.json",
    f"articles.json?outlet={quote_plus(OUTLET)}",
    f"articles.json?_search={WORD}",
    "stories.json",
    f"stories.json?first_outlet={quote_plus(OUTLET)}",
    "articles.json?topics__arraycontains=sanctions",
    "stories.json?topics__arraycontains=diplomacy",
    # Datasette's own facets (not in summaries.yml), still the same through the plugin.
    f"articles.json?outlet={quote_plus(OUTLET)}&topics__arraycontains=diplomacy",
    "articles.json?topics__arraycontains=sanctions&topics__arraycontains=diplomacy",
]
#: Of those, the pages whose row count comes from the summaries too (`counts`).
COUNTED = [p for p in PAGES[:7] if "topics__arraycontains" in p]


def get_json(ds, path: str) -> dict:
    response = asyncio.run(ds.client.get(path))
    assert response.status_code == 200, response.text[:300]
    return response.json()


def datasettes_own(monkeypatch, path: Path, page: str) -> dict:
    """The page with every facet and count computed by Datasette itself (no summaries)."""
    real = webfacets.summaries()
    with monkeypatch.context() as m:
        m.setattr(webfacets, "summaries", lambda: {**real, "facets": {}, "counts": {}})
        return get_json(make_datasette(path), f"/{database_name(path)}/{page}")


@pytest.mark.parametrize("page", PAGES)
def test_facets_equal_datasettes_own(demo_db: Path, monkeypatch, page: str) -> None:
    ours = get_json(make_datasette(demo_db), f"/{database_name(demo_db)}/{page}")
    own = datasettes_own(monkeypatch, demo_db, page)
    assert ours["facet_results"] == own["facet_results"]
    assert ours["filtered_table_rows_count"] == own["filtered_table_rows_count"] > 0
    assert ours["rows"] == own["rows"]
    # Every facet of the table's metadata is there, with counts.
    assert len(ours["facet_results"]) == 4
    assert all(f["results"] for f in ours["facet_results"].values())


@pytest.mark.parametrize("page", PAGES[:7])
def test_facets_are_read_from_the_summaries(demo_db: Path, monkeypatch, page: str) -> None:
    monkeypatch.setitem(web.SETTINGS, "trace_debug", True)
    data = get_json(
        make_datasette(demo_db),
        f"/{database_name(demo_db)}/{page}{'&' if '?' in page else '?'}_trace=1",
    )
    facet_sql = [t["sql"] for t in data["_trace"]["traces"] if " as count" in t["sql"]]
    assert len(facet_sql) == 4
    for sql in facet_sql:
        if "_search" in page:
            # Only the newest matches are read, not every match of the word.
            assert "order by rowid desc limit 1000" in sql and "with inner" not in sql
        else:
            assert "from facet_counts" in sql


@pytest.mark.parametrize("page", COUNTED)
def test_topic_counts_are_read_from_the_summaries(demo_db: Path, monkeypatch, page: str) -> None:
    """Datasette's count of a topic's rows reads every row's JSON; the summary counts it."""
    monkeypatch.setitem(web.SETTINGS, "trace_debug", True)
    data = get_json(make_datasette(demo_db), f"/{database_name(demo_db)}/{page}&_trace=1")
    # Only the rows query (50 rows, newest first through the published index) reads topics.
    (reads_topics,) = [t["sql"] for t in data["_trace"]["traces"] if "json_each(" in t["sql"]]
    assert reads_topics.endswith("limit 51")
    assert not [t for t in data["_trace"]["traces"] if t["sql"].startswith("select count(")]
    table, topic = page.split(".json")[0], page.rsplit("=", 1)[1]
    (stored,) = (
        sqlite3.connect(demo_db)
        .execute(
            f"SELECT count(*) FROM {table} WHERE ? IN (SELECT value FROM json_each(topics))",
            [topic],
        )  # fmt: skip
        .fetchone()
    )
    assert data["filtered_table_rows_count"] == stored > 0


def _tampered_copy(tmp_path: Path, demo_db: Path, facet: str, value: str) -> Path:
    """A copy of the demo database whose articles summary over-counts `value` by 1,000."""
    path = tmp_path / "copy.db"
    shutil.copy(demo_db, path)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "UPDATE facet_counts SET n = n + 1000"
            " WHERE tbl = 'articles' AND scope = '' AND facet = ? AND value = ?",
            [facet, value],
        )
    conn.close()
    return path


def test_a_topic_page_counts_what_the_summary_says(tmp_path: Path, demo_db: Path) -> None:
    """A topic's count changed in facet_counts (and only there) is the count the page shows."""
    path = _tampered_copy(tmp_path, demo_db, "topics", "sanctions")
    conn = sqlite3.connect(path)
    (stored,) = conn.execute(
        "SELECT count(*) FROM article_topics WHERE topic = 'sanctions'"
    ).fetchone()
    conn.close()
    db = database_name(path)
    data = get_json(make_datasette(path), f"/{db}/articles.json?topics__arraycontains=sanctions")
    assert data["filtered_table_rows_count"] == stored + 1000
    # Another statement is left alone: the same filter with a second one is counted by Datasette.
    data = get_json(
        make_datasette(path),
        f"/{db}/articles.json?topics__arraycontains=sanctions&topics__arraycontains=sanctions",
    )
    assert data["filtered_table_rows_count"] == stored


def test_aggregators_connections_get_a_bigger_page_cache(demo_db: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    ds = make_datasette(demo_db)
    ds.add_database(Database(ds, str(other)), name="other")

    def cache_size(name: str) -> int:
        # Datasette's own connection to the database (?sql= allows no such PRAGMA).
        return asyncio.run(ds.get_database(name).execute("PRAGMA cache_size")).first()[0]

    assert cache_size(database_name(demo_db)) == -webfacets.CACHE_KIB
    assert webfacets.CACHE_KIB > 2000  # SQLite's default: -2000 (KiB)
    assert cache_size("other") == -2000


def test_tampered_summary_shows_it_is_what_the_page_reads(tmp_path: Path, demo_db: Path) -> None:
    """A count changed in facet_counts (and only there) is what the articles page shows."""
    path = _tampered_copy(tmp_path, demo_db, "outlet", OUTLET)
    data = get_json(make_datasette(path), f"/{database_name(path)}/articles.json")
    (stored,) = (
        sqlite3.connect(path)
        .execute("SELECT count(*) FROM articles WHERE outlet = ?", [OUTLET])
        .fetchone()
    )
    shown = {r["value"]: r["count"] for r in data["facet_results"]["outlet"]["results"]}
    assert shown[OUTLET] == stored + 1000


def test_table_search_shows_the_newest_matches_and_says_so(demo_db: Path, monkeypatch) -> None:
    db = database_name(demo_db)
    real = webfacets.summaries()
    conn = sqlite3.connect(demo_db)
    matches = [
        r[0]
        for r in conn.execute(
            "SELECT rowid FROM articles_fts WHERE articles_fts MATCH ? ORDER BY rowid DESC", [WORD]
        )
    ]
    conn.close()
    assert len(matches) > 2
    monkeypatch.setattr(webfacets, "summaries", lambda: {**real, "search_newest": {"articles": 2}})
    ds = make_datasette(demo_db)
    data = get_json(ds, f"/{db}/articles.json?_search={WORD}")
    assert sorted(r[0] for r in data["rows"]) == sorted(matches[:2])
    assert data["filtered_table_rows_count"] == 2
    assert "where the article is among the 2 newest matches" in data["human_description_en"]
    html = asyncio.run(ds.client.get(f"/{db}/articles?_search={WORD}")).text
    assert "among the 2 newest matches" in html


@pytest.mark.parametrize("mode", ["", "&_searchmode=raw"])
def test_table_search_reads_only_the_newest_matches(demo_db: Path, monkeypatch, mode) -> None:
    """Datasette's clause for every match is dropped: rows and count read the newest N only,
    and show what both clauses together show (the newest matches, newest published first)."""
    db = database_name(demo_db)
    monkeypatch.setitem(web.SETTINGS, "trace_debug", True)
    real = webfacets.summaries()
    monkeypatch.setattr(webfacets, "summaries", lambda: {**real, "search_newest": {"articles": 3}})
    data = get_json(make_datasette(demo_db), f"/{db}/articles.json?_search={WORD}{mode}&_trace=1")
    match = "match :search" if mode else "match escape_fts(:search)"
    for sql in [t["sql"] for t in data["_trace"]["traces"] if " from articles " in t["sql"]]:
        assert sql.count(f"articles_fts {match}") == 1, sql
        assert f"articles_fts {match} order by rowid desc limit 3)" in sql, sql
    conn = sqlite3.connect(demo_db)
    both = [
        tuple(r)
        for r in conn.execute(
            "SELECT id FROM articles WHERE id IN (SELECT rowid FROM articles_fts"
            " WHERE articles_fts MATCH ? ORDER BY rowid DESC LIMIT 3) AND id IN"
            " (SELECT rowid FROM articles_fts WHERE articles_fts MATCH ?)"
            " ORDER BY published DESC",
            [WORD, WORD],
        )
    ]
    conn.close()
    assert [(r[0],) for r in data["rows"]] == both and len(both) == 3
    assert data["filtered_table_rows_count"] == 3


#: The canned queries as they were before migration m005 (issue 7): every story member grouped,
#: every match ranked.
FIRST_REPORTERS_BEFORE = """
    select so.outlet, sum(so.lag_seconds = 0) as first_reports, count(*) as stories_covered,
      round(avg(case when so.lag_seconds > 0 then so.lag_seconds end) / 3600.0, 1)
        as avg_lag_hours_when_not_first
    from story_outlets so join stories s on s.id = so.story_id
    where s.outlets >= 2
    group by so.outlet"""
SEARCH_BEFORE = """
    select a.published, a.outlet, a.title, a.url, a.topics,
      snippet(articles_fts, -1, '[', ']', ' … ', 12) as snippet, m.story_id, a.id
    from articles_fts join articles a on a.id = articles_fts.rowid
    left join story_members m on m.article_id = a.id
    where articles_fts match ?
    order by rank
    limit 100"""


def test_first_reporters_equals_a_group_by_over_every_story(demo_db: Path) -> None:
    data = get_json(make_datasette(demo_db), f"/{database_name(demo_db)}/first_reporters.json")
    conn = sqlite3.connect(demo_db)
    expected = {tuple(r) for r in conn.execute(FIRST_REPORTERS_BEFORE)}
    conn.close()
    assert len(expected) > 3, "the demo has stories of several outlets"
    assert {tuple(r) for r in data["rows"]} == expected
    counts = [(r[1], r[2]) for r in data["rows"]]
    assert counts == sorted(counts, reverse=True)


@pytest.mark.parametrize("q", [WORD, "ceasefire OR sanctions", "zelensky*"])
def test_search_ranks_like_before_below_its_window(demo_db: Path, q: str) -> None:
    """Fewer matches than the 10,000 window: the same rows in the same order as ranking all."""
    data = get_json(
        make_datasette(demo_db), f"/{database_name(demo_db)}/search.json?q={quote_plus(q)}"
    )
    conn = sqlite3.connect(demo_db)
    expected = [tuple(r) for r in conn.execute(SEARCH_BEFORE, [q])]
    conn.close()
    assert expected
    assert [tuple(r) for r in data["rows"]] == expected


def counts(page: dict) -> dict[str, list[tuple]]:
    return {
        name: [(r["value"], r["count"]) for r in facet["results"]]
        for name, facet in page["facet_results"].items()
    }


@pytest.mark.parametrize("filters", ["", f"outlet={quote_plus(OUTLET)}&"])
def test_a_later_page_shows_the_first_pages_facets(demo_db: Path, filters: str) -> None:
    """Facets and count stay those of the whole filter on page 2 (as the count always was)."""
    ds = make_datasette(demo_db)
    db = database_name(demo_db)
    first = get_json(ds, f"/{db}/articles.json?{filters}_size=5")
    second = get_json(ds, f"/{db}/articles.json?{filters}_size=5&_next={first['next']}")
    assert second["rows"] and second["rows"][0] != first["rows"][0]
    assert counts(second) == counts(first)
    assert second["filtered_table_rows_count"] == first["filtered_table_rows_count"]


@pytest.mark.parametrize(
    ("table", "column"), [("articles", "published"), ("stories", "first_published")]
)
def test_a_day_filter_gives_datasettes_rows(
    demo_db: Path, monkeypatch, table: str, column: str
) -> None:
    conn = sqlite3.connect(demo_db)
    (day,) = conn.execute(
        f"SELECT date({column}) FROM {table} GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()
    conn.close()
    page = f"{table}.json?{column}__date={day}&_size=max"
    ours = get_json(make_datasette(demo_db), f"/{database_name(demo_db)}/{page}")
    real = webfacets.summaries()
    with monkeypatch.context() as m:
        m.setattr(webfacets, "summaries", lambda: {**real, "date_ranges": {}, "facets": {}})
        own = get_json(make_datasette(demo_db), f"/{database_name(demo_db)}/{page}")
    assert ours["filtered_table_rows_count"] == own["filtered_table_rows_count"] > 1
    assert ours["rows"] == own["rows"]
    assert ours["facet_results"] == own["facet_results"]
    monkeypatch.setitem(web.SETTINGS, "trace_debug", True)
    data = get_json(make_datasette(demo_db), f"/{database_name(demo_db)}/{page}&_trace=1")
    (count_sql,) = [t["sql"] for t in data["_trace"]["traces"] if "count(*) from" in t["sql"]]
    assert f"{column}_day_0, '+1 day')" in count_sql
