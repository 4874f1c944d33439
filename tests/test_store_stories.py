"""Story rows: memberships, first report, lags and counts, in a real SQLite file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aggregator import store_stories
from aggregator.models import Entry, FetchResult, OutletConfig, StoryAssignment, TopicMatch
from aggregator.store import Store
from conftest import make_config

T0 = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)


def _entry(n: int, published: datetime) -> Entry:
    return Entry(
        entry_id=str(n),
        id_source="guid",
        url=f"https://e.org/{n}",
        canonical_url=f"https://e.org/{n}",
        title=f"Article {n}",
        summary_html="",
        content_html="",
        summary_text=f"Summary {n}",
        content_text="",
        authors=(),
        categories=(),
        enclosures=(),
        language=None,
        published=published,
        updated=None,
        date_is_fallback=False,
        content_hash=str(n),
    )


def _tag(text: str, feed_topics) -> tuple[TopicMatch, ...]:
    return (TopicMatch("diplomacy", "keyword:talks"),) if "1" in text else ()


@pytest.fixture
def store(tmp_path: Path):
    """Three outlets' feeds; articles 1..3 (outlets A, B, C at +0h, +2h, +5h), 4 a day later."""
    config = make_config(
        tmp_path,
        ["http://127.0.0.1:1/a", "http://127.0.0.1:1/b", "http://127.0.0.1:1/c"],
        outlets=[OutletConfig(name=n) for n in "ABC"],
        feed_outlets=["A", "B", "C"],
    )
    with Store(config.database_path) as s:
        s.sync_config(config)
        states = s.feed_states()
        plan = [("a", 1, 0), ("b", 2, 2), ("c", 3, 5), ("a", 4, 26)]
        for feed, n, hours in plan:
            state = states[f"http://127.0.0.1:1/{feed}"]
            result = FetchResult(
                url=state.url,
                final_url=state.url,
                status=200,
                started=T0,
                duration=0.1,
                content=b"x",
            )
            s.save_entries(
                state,
                result,
                [_entry(n, T0 + timedelta(hours=hours))],
                tag=_tag,
                now=T0,
                body_hash=str(n),
            )
        yield s


def test_save_computes_first_report_lags_and_counts(store: Store) -> None:
    batch = [a for c in store_stories.unclustered(store) for a in c]
    assert [i.article_id for i in batch] == [1, 2, 3, 4]
    assignments = [
        StoryAssignment(1, 1, 1.0, "first"),
        StoryAssignment(2, 1, 0.71, "minhash"),
        StoryAssignment(3, 1, 0.93, "minhash", syndicated=True),
        StoryAssignment(4, 2, 1.0, "first"),
    ]
    store_stories.save(store, assignments, batch)
    story = store.db.execute(
        "SELECT title, first_outlet, first_published, last_published, articles, outlets,"
        " syndicated, topics FROM stories WHERE id = 1"
    ).fetchone()
    assert story == (
        "Article 1",
        "A",
        "2026-11-16T08:00:00Z",
        "2026-11-16T13:00:00Z",
        3,
        3,
        1,
        '["diplomacy"]',
    )
    lags = store.db.execute(
        "SELECT outlet, lag_seconds, lag_hours FROM story_outlets"
        " WHERE story_id = 1 ORDER BY outlet"
    ).fetchall()
    assert lags == [("A", 0, 0.0), ("B", 7200, 2.0), ("C", 18000, 5.0)]
    assert [a for c in store_stories.unclustered(store) for a in c] == []
    assert store_stories.next_story_id(store) == 3


def test_a_later_earlier_report_becomes_first(store: Store) -> None:
    batch = [a for c in store_stories.unclustered(store) for a in c]
    store_stories.save(store, [StoryAssignment(2, 1, 1.0, "first")], batch)
    store_stories.save(store, [StoryAssignment(1, 1, 0.8, "minhash")], batch)
    first, outlet = store.db.execute(
        "SELECT first_article_id, first_outlet FROM stories WHERE id = 1"
    ).fetchone()
    assert (first, outlet) == (1, "A")
    assert store.db.execute(
        "SELECT article_id, lag_seconds FROM story_members ORDER BY article_id"
    ).fetchall() == [(1, 0), (2, 7200)]


def test_recent_members_and_iter_all(store: Store) -> None:
    batch = [a for c in store_stories.unclustered(store) for a in c]
    store_stories.save(
        store, [StoryAssignment(i.article_id, i.article_id, 1.0, "first") for i in batch], batch
    )
    recent = list(store_stories.recent_members(store, T0 + timedelta(hours=3)))
    assert [(i.article_id, story) for i, story in recent] == [(3, 3), (4, 4)]
    # The newest `limit` of the window, still oldest first.
    for limit, expected in ((1, [4]), (2, [3, 4]), (3, [3, 4]), (4, [3, 4])):
        newest = store_stories.recent_members(store, T0 + timedelta(hours=3), limit)
        assert [i.article_id for i, _ in newest] == expected
    newest = store_stories.recent_members(store, T0, 3)
    assert [i.article_id for i, _ in newest] == [2, 3, 4]
    chunks = list(store_stories.iter_all(store, chunk=3))
    assert [[i.article_id for i in c] for c in chunks] == [[1, 2, 3], [4]]
    assert chunks[0][0].published == T0 and "Summary 1" in chunks[0][0].text
    store_stories.clear(store)
    assert store.counts()["stories"] == 0 and store.counts()["articles"] == 4
    assert json.loads(store.db.execute("SELECT topics FROM articles WHERE id = 1").fetchone()[0])


def test_unclustered_comes_in_date_order_chunks(store: Store) -> None:
    """Chunks of at most `chunk` articles, oldest first across chunk boundaries: the same
    articles in the same order as one big chunk."""
    everything = [a for c in store_stories.unclustered(store) for a in c]
    chunks = list(store_stories.unclustered(store, chunk=2))
    assert [len(c) for c in chunks[:-1]] == [2] * (len(chunks) - 1)
    flat = [a for c in chunks for a in c]
    assert flat == everything
    assert [(a.published, a.article_id) for a in flat] == sorted(
        (a.published, a.article_id) for a in flat
    )
    assert len(flat) >= 3  # the fixture's articles span more than one chunk
