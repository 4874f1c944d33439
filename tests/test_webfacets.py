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
    # Datasette's own facets (not in summaries.yml), still the same through the plugin.
    "articles.json?topics__arraycontains=sanctions",
    f"articles.json?outlet={quote_plus(OUTLET)}&topics__arraycontains=diplomacy",
]


def get_json(ds, path: str) -> dict:
    response = asyncio.run(ds.client.get(path))
    assert response.status_code == 200, response.text[:300]
    return response.json()


def datasettes_own(monkeypatch, path: Path, page: str) -> dict:
    """The page with every facet computed by Datasette itself (no summary facets)."""
    real = webfacets.summaries()
    with monkeypatch.context() as m:
        m.setattr(webfacets, "summaries", lambda: {**real, "facets": {}})
        return get_json(make_datasette(path), f"/{database_name(path)}/{page}")


@pytest.mark.parametrize("page", PAGES)
def test_facets_equal_datasettes_own(demo_db: Path, monkeypatch, page: str) -> None:
    ours = get_json(make_datasette(demo_db), f"/{database_name(demo_db)}/{page}")
    own = datasettes_own(monkeypatch, demo_db, page)
    assert ours["facet_results"] == own["facet_results"]
    assert ours["filtered_table_rows_count"] == own["filtered_table_rows_count"]
    # Every facet of the table's metadata is there, with counts.
    assert len(ours["facet_results"]) == 4
    assert all(f["results"] for f in ours["facet_results"].values())


@pytest.mark.parametrize("page", PAGES[:5])
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


def test_tampered_summary_shows_it_is_what_the_page_reads(tmp_path: Path, demo_db: Path) -> None:
    """A count changed in facet_counts (and only there) is what the articles page shows."""
    path = tmp_path / "copy.db"
    shutil.copy(demo_db, path)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "UPDATE facet_counts SET n = n + 1000"
            " WHERE tbl = 'articles' AND scope = '' AND facet = 'outlet' AND value = ?",
            [OUTLET],
        )
    conn.close()
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
