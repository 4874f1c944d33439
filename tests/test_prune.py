"""`aggregator prune`: old articles go with their FTS rows and story memberships, a tombstone
keeps each from coming back, and nothing newer is touched. Real server, real SQLite."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from aggregator import store_stories
from aggregator.cli import cli
from aggregator.store import Store
from conftest import rss

NOW = datetime.now(UTC)


def item(title: str, slug: str, age: timedelta) -> dict[str, str]:
    return {
        "title": title,
        "link": f"https://example.org/{slug}?utm_source=rss",
        "description": title,
        "pubDate": (NOW - age).strftime("%a, %d %b %Y %H:%M:%S +0000"),
    }


OLD = [
    item("Grain corridor talks in Istanbul collapse", "old-1", timedelta(days=180, hours=5)),
    item("Black Sea drone strike on Sevastopol port", "old-2", timedelta(days=200)),
]
# Same story as old-1, a day later: the story straddles the cutoff.
STRADDLING = item(
    "Grain corridor talks in Istanbul collapse, Kyiv says", "mid", timedelta(days=179)
)
RECENT = [
    item("Sanctions package targets shadow fleet tankers", "new-1", timedelta(days=2)),
    item("Peace summit in Geneva ends without deal", "new-2", timedelta(days=1)),
]


def q(db: Path, sql: str, *args: object) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def setup(tmp_path: Path, feed_dir: Path, feed_server) -> tuple[Path, Path]:
    # Old items last: they get the highest article ids (see the clustering check below).
    (feed_dir / "a.xml").write_text(rss([*RECENT, STRADDLING, *OLD]))
    config = tmp_path / "feeds.yaml"
    config.write_text(
        f"settings: {{database: test.db}}\nfeeds:\n  - url: '{feed_server.base_url}a.xml'\n"
    )
    result = CliRunner().invoke(cli, ["-c", str(config), "fetch", "-q"], catch_exceptions=False)
    assert result.exit_code == 0
    return config, tmp_path / "test.db"


def titles(db: Path) -> set[str]:
    return {r[0] for r in q(db, "SELECT title FROM articles")}


def test_prune_removes_old_articles_everywhere(tmp_path, feed_dir, feed_server) -> None:
    config, db = setup(tmp_path, feed_dir, feed_server)
    assert len(titles(db)) == 5
    (mid_story,) = q(
        db,
        "SELECT story_id FROM story_members m JOIN articles a ON a.id = m.article_id"
        " WHERE a.title = ?",
        STRADDLING["title"],
    )[0]
    (old_story,) = q(
        db,
        "SELECT story_id FROM story_members m JOIN articles a ON a.id = m.article_id"
        " WHERE a.title = ?",
        OLD[0]["title"],
    )[0]
    assert old_story == mid_story  # clustered together before the prune

    result = CliRunner().invoke(
        cli, ["-c", str(config), "prune", "--older-than", "180d"], catch_exceptions=False
    )
    assert result.exit_code == 0
    assert "Removed 2 articles" in result.output
    assert titles(db) == {STRADDLING["title"], *(i["title"] for i in RECENT)}
    # Gone from full-text search, topics, sightings and stories too.
    assert q(db, "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'Sevastopol'") == [
        (0,)
    ]
    assert q(db, "SELECT count(*) FROM sightings") == [(3,)]
    assert q(
        db, "SELECT count(*) FROM article_topics WHERE article_id NOT IN (SELECT id FROM articles)"
    ) == [(0,)]
    assert q(
        db, "SELECT count(*) FROM story_members WHERE article_id NOT IN (SELECT id FROM articles)"
    ) == [(0,)]
    # The straddling story lost its first report: its figures are recomputed.
    (articles, title) = q(db, "SELECT articles, title FROM stories WHERE id = ?", mid_story)[0]
    assert (articles, title) == (1, STRADDLING["title"])
    assert q(db, "PRAGMA foreign_key_check") == []
    assert len(q(db, "SELECT * FROM tombstones")) == 2
    # The highest article id was pruned (SQLite will reuse it): the survivors are not
    # clustered again, and the next new article is.
    with Store(db) as store:
        assert list(store_stories.unclustered(store)) == []
    fresh = item("Prisoner exchange brokered by the UAE", "new-3", timedelta(hours=3))
    (feed_dir / "a.xml").write_text(rss([*RECENT, STRADDLING, *OLD, fresh]))
    CliRunner().invoke(cli, ["-c", str(config), "fetch", "-q"], catch_exceptions=False)
    assert q(
        db, "SELECT count(*) FROM articles WHERE id NOT IN (SELECT article_id FROM story_members)"
    ) == [(0,)]
    assert q(db, "SELECT count(*) FROM story_members") == [(4,)]


def test_pruned_articles_do_not_come_back(tmp_path, feed_dir, feed_server) -> None:
    config, db = setup(tmp_path, feed_dir, feed_server)
    CliRunner().invoke(cli, ["-c", str(config), "prune", "--older-than", "180d"])
    # The feed still lists the old items, and gains one: only the new one is added.
    fresh = item("Prisoner exchange brokered by the UAE", "new-3", timedelta(hours=3))
    (feed_dir / "a.xml").write_text(rss([*OLD, STRADDLING, *RECENT, fresh]))
    result = CliRunner().invoke(cli, ["-c", str(config), "fetch", "-q"], catch_exceptions=False)
    assert result.exit_code == 0
    assert titles(db) == {STRADDLING["title"], fresh["title"], *(i["title"] for i in RECENT)}


def test_prune_dry_run_changes_nothing(tmp_path, feed_dir, feed_server) -> None:
    config, db = setup(tmp_path, feed_dir, feed_server)
    before = q(db, "SELECT count(*) FROM articles"), q(db, "SELECT count(*) FROM stories")
    result = CliRunner().invoke(
        cli, ["-c", str(config), "prune", "--older-than", "180d", "--dry-run"]
    )
    assert result.exit_code == 0 and "Would remove 2 articles" in result.output
    assert (q(db, "SELECT count(*) FROM articles"), q(db, "SELECT count(*) FROM stories")) == before
    assert q(db, "SELECT count(*) FROM tombstones") == [(0,)]


def test_prune_rejects_a_bad_age(tmp_path, feed_dir, feed_server) -> None:
    config, _ = setup(tmp_path, feed_dir, feed_server)
    result = CliRunner().invoke(cli, ["-c", str(config), "prune", "--older-than", "soon"])
    assert result.exit_code == 2 and "--older-than" in result.output
