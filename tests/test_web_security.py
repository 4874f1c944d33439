"""Datasette as `aggregator serve` configures it: no writes through the web, a SQL time limit."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from pathlib import Path
from urllib.parse import quote

import pytest

from aggregator.feedserver import serve_folder
from aggregator.store import Store
from aggregator.update import update
from aggregator.web import database_name, make_datasette, metadata_for
from conftest import make_config, rss


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("websec")
    (tmp / "www").mkdir()
    items = [{"title": f"Drone strike {i}", "link": f"https://e.example/{i}"} for i in range(5)]
    (tmp / "www" / "feed.xml").write_text(rss(items))
    with serve_folder(tmp / "www") as server:
        config = make_config(tmp, [server.base_url + "feed.xml"])
        with Store(config.database_path) as store:
            assert not update(config, store).failed
    return Path(config.database_path)


def fingerprint(path: Path) -> str:
    """Everything in the database, as SQLite would dump it."""
    with sqlite3.connect(path) as conn:
        return hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()


WRITES = [
    "delete from articles",
    "update articles set title = 'pwned'",
    "insert into topics (name) values ('pwned')",
    "drop table articles",
    "create table pwned (x)",
    "pragma journal_mode = delete",
    "attach database 'pwned.db' as pwned",
    "vacuum",
    "select 1; delete from articles",
    "with x as (select 1) delete from articles",
    "replace into topics (name) values ('pwned')",
]


@pytest.mark.parametrize("sql", WRITES)
def test_no_write_through_the_sql_box(db: Path, sql: str) -> None:
    before = fingerprint(db)
    ds = make_datasette(db)
    name = database_name(db)

    async def attempt() -> list:
        return [
            await ds.client.get(f"/{name}.json?sql={quote(sql)}"),
            await ds.client.get(f"/{name}?sql={quote(sql)}"),
        ]

    for response in asyncio.run(attempt()):
        assert response.status_code in (400, 403), (sql, response.status_code)
    assert fingerprint(db) == before
    assert not Path(db.parent, "pwned.db").exists()


def test_canned_queries_do_not_write(db: Path) -> None:
    ds = make_datasette(db)
    name = database_name(db)
    queries = metadata_for(db)["databases"][name]["queries"]
    before = fingerprint(db)

    async def post_each() -> list:
        return [
            (q, await ds.client.post(f"/{name}/{q}", data={"topic": "x", "q": "x", "story": "1"}))
            for q in queries
        ]

    for query, response in asyncio.run(post_each()):
        # Refused; Datasette 0.65 answers 500 (its own AttributeError) for a POST to a
        # read-only canned query, which is ugly but writes nothing.
        assert response.status_code >= 400, (query, response.status_code)
    assert fingerprint(db) == before


def test_a_runaway_query_is_cut_off_by_the_time_limit(db: Path) -> None:
    ds = make_datasette(db)
    name = database_name(db)
    forever = (
        "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c"
    )

    async def run() -> object:
        # Without a limit this never ends; wait_for turns that into a failure.
        return await asyncio.wait_for(ds.client.get(f"/{name}.json?sql={quote(forever)}"), 60)

    response = asyncio.run(run())
    assert response.status_code == 400
    assert "SQL query took too long" in response.text
    # A visitor can lower the limit for a query, never raise it.
    raised = asyncio.run(
        asyncio.wait_for(ds.client.get(f"/{name}.json?sql={quote(forever)}&_timelimit=600000"), 60)
    )
    assert "SQL query took too long" in raised.text
