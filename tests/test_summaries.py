"""Summary tables of migrations m004 (topic_days, outlet_days, feed_counts, topic_articles),
m005 (facet_counts, story_outlet_lags, outlet_first_reports) and m007 (facet_counts of one
topic's rows): kept equal to a GROUP BY over the
base tables by triggers through real fetches, edits, retags, prunes and reclusters, and
backfilled by the migrations. Real server, real SQLite files."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlite_utils
from click.testing import CliRunner

from aggregator import schema
from aggregator.cli import cli
from aggregator.schema import M007_SUMMARY_QUERIES, MIGRATIONS, SUMMARY_QUERIES
from aggregator.store import Store
from conftest import rss

NOW = datetime.now(UTC)

TOPICS = """
topics:
  sanctions: {keywords: [sanction, "price cap"]}
  diplomacy: {keywords: [talks, summit, ceasefire]}
  military: {keywords: [drone, missile, strike]}
  other: {fallback: true}
"""


def item(title: str, slug: str, age: timedelta, host: str = "example.org") -> dict[str, str]:
    return {
        "title": title,
        "link": f"https://{host}/{slug}",
        "guid": slug,
        "description": title,
        "pubDate": (NOW - age).strftime("%a, %d %b %Y %H:%M:%S +0000"),
    }


ITEMS = [
    item("Sanctions package targets shadow fleet", "a1", timedelta(days=1)),
    item("Ceasefire talks in Geneva stall", "a2", timedelta(days=1, hours=3)),
    item("Drone strike on Odesa port; sanctions answer", "a3", timedelta(days=2)),
    item("Summit on grain corridor opens", "a4", timedelta(days=200)),
    item("Weather in the region", "a5", timedelta(days=3)),
]
OTHER = [
    item("Missile strike near Kharkiv", "b1", timedelta(days=1)),
    # Alpha's a2 story, reported by Beta an hour later: a story of two outlets.
    item("Ceasefire talks in Geneva stall", "b3", timedelta(days=1, hours=2), "beta.example"),
    # The same article as a1 carried by a second outlet: a sighting, not an article.
    ITEMS[0],
    item("Price cap debate in Brussels", "b2", timedelta(days=190)),
]


def summary_rows(db: Path) -> dict[str, tuple[set[tuple], set[tuple]]]:
    """Each summary table's rows beside what a GROUP BY over the base tables gives."""
    conn = sqlite3.connect(db)
    try:
        out = {}
        for table, sql in {**SUMMARY_QUERIES, **M007_SUMMARY_QUERIES}.items():
            expected = {
                r
                for r in conn.execute(sql)
                if r[-1] or table == "topic_articles" or table in M007_SUMMARY_QUERIES
            }
            stored = set(conn.execute(f"SELECT * FROM {table}"))
            if table == "feed_counts":
                expected = {r for r in conn.execute(sql) if r[1] or r[2]}
                stored = {r for r in stored if r[1] or r[2]}
            out[table] = (stored, expected)
        return out
    finally:
        conn.close()


def assert_summaries_match(db: Path) -> None:
    for table, (stored, expected) in summary_rows(db).items():
        assert stored == expected, table
        assert expected or table == "feed_counts", f"{table} is empty: the test proves nothing"


def fetch(config: Path, *args: str) -> None:
    result = CliRunner().invoke(cli, ["-c", str(config), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def setup(tmp_path: Path, feed_dir: Path, feed_server) -> tuple[Path, Path]:
    (feed_dir / "a.xml").write_text(rss(ITEMS))
    (feed_dir / "b.xml").write_text(rss(OTHER))
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "settings: {database: test.db}\n"
        "outlets:\n  - {name: Alpha}\n  - {name: Beta}\n"
        "feeds:\n"
        f"  - {{url: '{feed_server.base_url}a.xml', outlet: Alpha}}\n"
        f"  - {{url: '{feed_server.base_url}b.xml', outlet: Beta}}\n" + TOPICS
    )
    fetch(config, "fetch", "-q")
    return config, tmp_path / "test.db"


def test_summaries_follow_inserts_edits_retag_prune_and_recluster(
    tmp_path, feed_dir, feed_server
) -> None:
    config, db = setup(tmp_path, feed_dir, feed_server)
    assert_summaries_match(db)
    (days,) = sqlite3.connect(db).execute("SELECT count(DISTINCT day) FROM topic_days").fetchone()
    assert days >= 4

    # Edits: a2's text now gives other topics, a3 moves to another day.
    edited = [dict(i) for i in ITEMS]
    edited[1]["title"] = edited[1]["description"] = "Missile strike ends Geneva hopes"
    edited[2]["pubDate"] = (NOW - timedelta(days=5)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    edited[2]["title"] = edited[2]["description"] = "Drone strike on Odesa port"
    (feed_dir / "a.xml").write_text(rss(edited))
    fetch(config, "fetch", "-q")
    conn = sqlite3.connect(db)
    assert conn.execute(
        "SELECT topic FROM article_topics t JOIN articles a ON a.id = t.article_id"
        " WHERE a.title = 'Missile strike ends Geneva hopes'"
    ).fetchall() == [("military",)]
    conn.close()
    assert_summaries_match(db)

    # Rules changed: every tag recomputed.
    config.write_text(config.read_text().replace("talks, summit", "summit, weather"))
    fetch(config, "retag")
    assert_summaries_match(db)

    fetch(config, "recluster")
    assert_summaries_match(db)

    fetch(config, "prune", "--older-than", "180d")
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM articles").fetchone() == (6,)  # 8 - a4, b2
    conn.close()
    assert_summaries_match(db)


def test_summaries_follow_direct_sql_writes(tmp_path, feed_dir, feed_server) -> None:
    """Whatever code writes the base tables (batched inserts, REPLACE, deletes), they follow."""
    _, db = setup(tmp_path, feed_dir, feed_server)
    with Store(db) as store, store.transaction():
        ex = store.db.execute
        (article_id,) = ex("SELECT id FROM articles ORDER BY id LIMIT 1").fetchone()
        # REPLACE over an existing row fires no delete trigger: it must not count twice.
        (topic,) = ex(
            "SELECT topic FROM article_topics WHERE article_id = ? LIMIT 1", [article_id]
        ).fetchone()
        ex(
            "INSERT OR REPLACE INTO article_topics (article_id, topic, rule) VALUES (?, ?, 'x')",
            [article_id, topic],
        )
        ex(
            "INSERT OR IGNORE INTO article_topics (article_id, topic, rule) VALUES (?, ?, 'y')",
            [article_id, topic],
        )
        ex("UPDATE article_topics SET topic = 'other' WHERE article_id = ? AND topic = ?",
           [article_id, topic])  # fmt: skip
        ex("UPDATE articles SET published = '2020-01-01T00:00:00Z', outlet = 'Beta'"
           " WHERE id = ?", [article_id])  # fmt: skip
        ex("DELETE FROM sightings WHERE article_id = ?", [article_id])
        ex("DELETE FROM story_members WHERE article_id = ?", [article_id])
        ex("DELETE FROM article_topics WHERE article_id = ?", [article_id + 1])
        # Stories: the two-outlet story's lags, outlet count and topics change, one goes.
        (story_id,) = ex("SELECT id FROM stories WHERE outlets = 2 LIMIT 1").fetchone()
        ex("UPDATE story_members SET lag_seconds = lag_seconds + 60 WHERE story_id = ?",
           [story_id])  # fmt: skip
        ex("UPDATE stories SET topics = '[\"sanctions\", \"sanctions\"]' WHERE id = ?",
           [story_id])  # fmt: skip
        ex("UPDATE articles SET topics = '[\"other\"]' WHERE id = ?", [article_id + 2])
        (gone,) = ex("SELECT min(id) FROM stories WHERE id != ?", [story_id]).fetchone()
        ex("DELETE FROM story_members WHERE story_id = ?", [gone])
        ex("DELETE FROM stories WHERE id = ?", [gone])
    assert_summaries_match(db)
    with Store(db) as store, store.transaction():
        store.db.execute("UPDATE stories SET outlets = 1 WHERE outlets = 2")
    # No story of two outlets left: nothing to count for first_reporters.
    rows = summary_rows(db)
    assert rows["story_outlet_lags"] == rows["outlet_first_reports"] == (set(), set())
    assert rows["facet_counts"][0] == rows["facet_counts"][1]


def assert_backfilled(db: Path, undo: Callable[[sqlite3.Connection], None]) -> None:
    """`undo` takes a migration back (its tables, triggers, rows and record); opening the
    store runs it again, and the summaries must be what they were, and match the data."""
    expected = {t: rows for t, (_, rows) in summary_rows(db).items()}
    conn = sqlite3.connect(db)
    undo(conn)
    conn.commit()
    conn.close()
    assert MIGRATIONS.pending(sqlite_utils.Database(db))
    with Store(db):
        pass
    assert {t: stored for t, (stored, _) in summary_rows(db).items()} == expected
    assert_summaries_match(db)


def test_m004_backfills_an_existing_database(tmp_path, feed_dir, feed_server) -> None:
    _, db = setup(tmp_path, feed_dir, feed_server)

    def before_m004(conn: sqlite3.Connection) -> None:
        for name, kind in conn.execute(
            "SELECT name, type FROM sqlite_master WHERE type IN ('trigger', 'table')"
            " AND (name LIKE '%summary%' OR name IN ('topic_days', 'outlet_days', 'feed_counts',"
            " 'topic_articles'))"
        ).fetchall():
            conn.execute(f"DROP {kind} {name}")
        conn.execute("DROP INDEX idx_stories_first_published")
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm004_summaries'")

    assert_backfilled(db, before_m004)


def test_m005_backfills_an_existing_database(tmp_path, feed_dir, feed_server) -> None:
    _, db = setup(tmp_path, feed_dir, feed_server)

    def before_m005(conn: sqlite3.Connection) -> None:
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND (name LIKE '%facets%'"
            " OR name LIKE '%lags%')"
        ).fetchall():
            conn.execute(f"DROP TRIGGER {name}")
        for table in ("facet_counts", "story_outlet_lags", "outlet_first_reports"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("DROP INDEX stories_first_outlet")
        # m007 extends m005's facet triggers and rows: it runs again after it.
        conn.execute("DELETE FROM _sqlite_migrations WHERE name LIKE 'm005%' OR name LIKE 'm007%'")

    assert_backfilled(db, before_m005)


def test_m007_backfills_an_existing_database(tmp_path, feed_dir, feed_server) -> None:
    _, db = setup(tmp_path, feed_dir, feed_server)
    expected = summary_rows(db)["facet_counts"][1]  # what m007's queries count
    by_topic = [r for r in expected if r[1].startswith("topics=")]
    assert {r[0] for r in by_topic} == {"articles", "stories"}
    assert {r[2] for r in by_topic} >= {"outlet", "feed_id", "published", "topics", "outlets"}

    def before_m007(conn: sqlite3.Connection) -> None:
        # m005's triggers, no rows of one topic, no record.
        conn.execute("DELETE FROM facet_counts WHERE scope LIKE 'topics=%'")
        for name, body in schema._facet_triggers(by_array=False).items():
            conn.execute(f"DROP TRIGGER {name}")
            conn.execute(f"CREATE TRIGGER {name} {body}")
        conn.execute("DELETE FROM _sqlite_migrations WHERE name LIKE 'm007%'")
        conn.commit()
        assert summary_rows(db)["facet_counts"][0] != expected

    assert_backfilled(db, before_m007)
