"""Datasette through its own client, on a database filled by the real pipeline."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aggregator.demo import demo_config
from aggregator.feedserver import serve_folder
from aggregator.store import Store
from aggregator.update import update
from aggregator.web import database_name, make_datasette, metadata_for


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from aggregator.demo import sample_folder

    path = tmp_path_factory.mktemp("web") / "coverage.db"
    with serve_folder(sample_folder()) as server:
        config = demo_config(server.base_url, str(path))
        with Store(path) as store:
            summary = update(config, store)
    assert not summary.failed
    return path


def get(ds, path: str):
    return asyncio.run(ds.client.get(path))


def test_every_table_served_with_rows(demo_db: Path) -> None:
    ds = make_datasette(demo_db)
    db = database_name(demo_db)
    tables = metadata_for(demo_db)["databases"][db]["tables"]
    for table in tables:
        response = get(ds, f"/{db}/{table}.json?_shape=objects")
        assert response.status_code == 200, table
        assert response.json()["rows"], f"{table} has no rows"


def test_every_canned_query_has_rows(demo_db: Path) -> None:
    ds = make_datasette(demo_db)
    db = database_name(demo_db)
    queries = metadata_for(demo_db)["databases"][db]["queries"]
    params = {
        "latest_by_topic": "topic=sanctions",
        "search": "q=Zelensky*",
        "story": "story_id=1",
        "outlets_missing_story": "story_id=1",
    }
    assert set(params) <= set(queries)
    for name in queries:
        response = get(ds, f"/{db}/{name}.json?_shape=objects&{params.get(name, '')}")
        assert response.status_code == 200, (name, response.text[:300])
        assert response.json()["rows"], f"canned query {name} returned no rows"


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
