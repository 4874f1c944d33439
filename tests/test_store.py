"""Store: a real SQLite file in tmp_path; schema, FTS sync, retag, health bookkeeping."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.errors import StoreError
from aggregator.models import Entry, FetchResult, TopicMatch, TopicRule
from aggregator.store import MIGRATIONS, Store
from aggregator.topics import Tagger
from conftest import make_config

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def entry(entry_id: str, title: str, url: str | None = None, content_hash: str = "h1") -> Entry:
    return Entry(
        entry_id=entry_id,
        id_source="guid",
        url=url,
        canonical_url=url,
        title=title,
        summary_html="<p>Body</p>",
        content_html="",
        summary_text="Body",
        content_text="",
        authors=("A. Writer",),
        categories=("World",),
        enclosures=(),
        language="en",
        published=datetime(2026, 11, 19, 8, 30, tzinfo=UTC),
        updated=None,
        date_is_fallback=False,
        content_hash=content_hash,
    )


def ok_result(url: str) -> FetchResult:
    return FetchResult(
        url=url,
        final_url=url,
        status=200,
        started=NOW,
        duration=0.1,
        content=b"<rss/>",
        headers=(("etag", '"v1"'), ("last-modified", "Thu, 19 Nov 2026 08:30:00 GMT")),
    )


def no_tags(text: str, feed_topics) -> tuple[TopicMatch, ...]:
    return ()


@pytest.fixture
def store(tmp_path: Path):
    config = make_config(tmp_path, ["http://127.0.0.1:1/a.xml", "http://127.0.0.1:1/b.xml"])
    with Store(config.database_path) as s:
        s.sync_config(config)
        yield s


def test_schema_wal_fk_and_migrations_recorded(store: Store) -> None:
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    names = [r[0] for r in store.db.execute("SELECT name FROM _sqlite_migrations")]
    assert names == [m.name for m in MIGRATIONS._migrations]
    assert {"articles", "articles_fts", "sightings", "article_topics", "fetch_log"} <= set(
        store.db.table_names()
    )


def test_reopen_keeps_data_and_applies_nothing_twice(tmp_path: Path, store: Store) -> None:
    feed = store.feed_states()["http://127.0.0.1:1/a.xml"]
    store.save_entries(
        feed,
        ok_result(feed.url),
        [entry("1", "Hello", "https://e.org/1")],
        tag=no_tags,
        now=NOW,
        body_hash="b",
    )
    path = store.path
    store.close()
    with Store(path) as again:
        assert again.counts()["articles"] == 1
        assert again.db.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0] == len(
            MIGRATIONS._migrations
        )


def test_fts_follows_inserts_and_updates(store: Store) -> None:
    feed = store.feed_states()["http://127.0.0.1:1/a.xml"]
    store.save_entries(
        feed,
        ok_result(feed.url),
        [entry("1", "Grain corridor reopens", "https://e.org/1")],
        tag=no_tags,
        now=NOW,
        body_hash="b1",
    )
    search = "SELECT rowid FROM articles_fts WHERE articles_fts MATCH ?"
    assert store.db.execute(search, ["corridor"]).fetchall() == [(1,)]
    store.save_entries(
        feed,
        ok_result(feed.url),
        [entry("1", "Grain deal collapses", "https://e.org/1", content_hash="h2")],
        tag=no_tags,
        now=NOW,
        body_hash="b2",
    )
    assert store.db.execute(search, ["corridor"]).fetchall() == []
    assert store.db.execute(search, ["collapses"]).fetchall() == [(1,)]


def test_validators_replaced_together_and_health(store: Store) -> None:
    feed = store.feed_states()["http://127.0.0.1:1/a.xml"]
    store.save_entries(feed, ok_result(feed.url), [], tag=no_tags, now=NOW, body_hash="b")
    state = store.feed_states()[feed.url]
    assert (state.etag, state.last_modified) == ('"v1"', "Thu, 19 Nov 2026 08:30:00 GMT")
    failed = FetchResult(
        url=feed.url,
        final_url=feed.url,
        status=503,
        started=NOW,
        duration=0.2,
        error_class="HTTPStatus",
        error_message="HTTP 503 Service Unavailable",
    )
    store.record_attempt(
        feed,
        failed,
        outcome="error",
        error_class="HTTPStatus",
        error_message="HTTP 503 Service Unavailable",
    )
    store.record_attempt(
        feed,
        failed,
        outcome="error",
        error_class="HTTPStatus",
        error_message="HTTP 503 Service Unavailable",
    )
    row = store.db.execute(
        "SELECT error_count, last_error, last_success, etag FROM feeds WHERE id = ?", [feed.id]
    ).fetchone()
    assert row == (2, "HTTPStatus: HTTP 503 Service Unavailable", "2026-11-20T12:00:00Z", '"v1"')
    # A later 200 without an ETag clears the old one: it must not be sent back.
    bare = FetchResult(
        url=feed.url, final_url=feed.url, status=200, started=NOW, duration=0.1, content=b"x"
    )
    store.save_entries(feed, bare, [], tag=no_tags, now=NOW, body_hash="c")
    state = store.feed_states()[feed.url]
    assert (state.etag, state.last_modified) == (None, None)
    assert store.db.execute("SELECT error_count FROM feeds WHERE id = ?", [feed.id]).fetchone() == (
        0,
    )


def test_an_attempt_half_written_fails_the_whole_transaction(store: Store) -> None:
    """record_attempt inside a caller's transaction (the updater's shared commit of 304s)
    takes no savepoint of its own: when the feed row cannot be updated after the log row
    went in, it raises StoreError and the caller's rollback leaves neither; on its own it
    rolls back by itself. A successful attempt in the same transaction is kept."""
    a, b = (
        store.feed_states()["http://127.0.0.1:1/a.xml"],
        store.feed_states()["http://127.0.0.1:1/b.xml"],
    )
    not_modified = FetchResult(url=a.url, final_url=a.url, status=304, started=NOW, duration=0.1)
    store.db.execute(
        "CREATE TRIGGER refuse_b BEFORE UPDATE ON feeds WHEN old.id = "
        f"{b.id} BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    log = "SELECT feed_id, outcome FROM fetch_log ORDER BY id"
    with pytest.raises(StoreError, match="refused"), store.transaction():
        store.record_attempt(a, not_modified, outcome="not_modified")
        assert store.db.execute(log).fetchall() == [(a.id, "not_modified")]
        store.record_attempt(b, not_modified, outcome="not_modified")
    assert store.db.execute(log).fetchall() == []
    with pytest.raises(StoreError, match="refused"):
        store.record_attempt(b, not_modified, outcome="not_modified")
    assert store.db.execute(log).fetchall() == []
    with store.transaction():
        store.record_attempt(a, not_modified, outcome="not_modified")
    assert store.db.execute(log).fetchall() == [(a.id, "not_modified")]
    assert store.db.execute("SELECT last_status FROM feeds WHERE id = ?", [a.id]).fetchone() == (
        304,
    )


def test_entries_without_link_are_per_feed(store: Store) -> None:
    states = store.feed_states()
    a, b = states["http://127.0.0.1:1/a.xml"], states["http://127.0.0.1:1/b.xml"]
    for feed in (a, b):
        store.save_entries(
            feed,
            ok_result(feed.url),
            [entry("x", "Same id, no link")],
            tag=no_tags,
            now=NOW,
            body_hash="b",
        )
    assert store.counts()["articles"] == 2


def test_article_seen_by_a_second_feed_keeps_the_tags_of_its_stored_text(store: Store) -> None:
    """The article keeps its first feed's text; a second feed's wording must not retag it
    (else tags depend on which feed finished last, and `retag` changes them)."""
    states = store.feed_states()
    tagger = Tagger(
        [TopicRule(name="energy", keywords=("gas",)), TopicRule(name="food", keywords=("grain",))]
    )
    for url, title in (
        ("http://127.0.0.1:1/a.xml", "Gas deal"),
        ("http://127.0.0.1:1/b.xml", "Grain deal"),
    ):
        feed = states[url]
        store.save_entries(
            feed,
            ok_result(feed.url),
            [entry(url, title, "https://e.org/same")],
            tag=tagger.tag,
            now=NOW,
            body_hash="b",
        )
    assert store.db.execute("SELECT title, topics FROM articles").fetchall() == [
        ("Gas deal", '["energy"]')
    ]
    tags = store.db.execute("SELECT topic, rule FROM article_topics").fetchall()
    assert tags == [("energy", "keyword:gas")]
    store.retag(tagger.tag)
    assert store.db.execute("SELECT topic, rule FROM article_topics").fetchall() == tags


def test_retag_after_rules_change(store: Store) -> None:
    feed = store.feed_states()["http://127.0.0.1:1/a.xml"]
    first = Tagger([TopicRule(name="energy", keywords=("gas",))])
    store.save_entries(
        feed,
        ok_result(feed.url),
        [entry("1", "Gas prices and grain", "https://e.org/1")],
        tag=first.tag,
        now=NOW,
        body_hash="b",
    )
    assert json.loads(store.db.execute("SELECT topics FROM articles").fetchone()[0]) == ["energy"]
    second = Tagger(
        [TopicRule(name="food", keywords=("grain",)), TopicRule(name="other", fallback=True)]
    )
    assert store.retag(second.tag) == 1
    assert store.db.execute("SELECT topic, rule FROM article_topics").fetchall() == [
        ("food", "keyword:grain")
    ]
    assert json.loads(store.db.execute("SELECT topics FROM articles").fetchone()[0]) == ["food"]


def test_unusable_database_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-db.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not-a-db.db"):
        Store(bad)


def test_background_checkpoints_copy_the_log_while_the_writer_goes_on(store: Store) -> None:
    """Inside the block the committing connection never checkpoints (autocheckpoint 0), yet
    the database file grows as another connection copies the log in; afterwards the
    setting is back."""
    import os
    import time

    store.db.execute("CREATE TABLE filler (x BLOB)")
    before = os.path.getsize(store.path)
    with store.background_checkpoints(every=0.02):
        assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
        for _ in range(40):  # 40 commits of 100 KB: 1,000 pages, well past one checkpoint
            with store.transaction():
                store.db.execute("INSERT INTO filler VALUES (randomblob(100000))")
        deadline = time.monotonic() + 10
        while os.path.getsize(store.path) < before + 3_000_000 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert os.path.getsize(store.path) >= before + 3_000_000
    assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone() == (1000,)
    assert store.db.execute("SELECT count(*) FROM filler").fetchone() == (40,)
