"""Story assignments in, `stories`/`story_members` rows out; stored articles out as StoryInputs.

The store's half of story clustering (cluster.py is the pure half). Reads are by indexed
ranges (article id, publication time) so that clustering a batch costs the same in a small
database and a large one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from .models import StoryAssignment, StoryInput, tagging_text
from .store import Store, iso, parse_iso

_INPUT_COLUMNS = "a.id, a.outlet, a.published, a.title, a.summary_text, a.content_text"


def _inputs(rows: Sequence[tuple]) -> list[StoryInput]:
    return [
        StoryInput(
            article_id=r[0],
            outlet=r[1],
            published=parse_iso(r[2]),
            title=r[3] or "",
            text=tagging_text(r[3] or "", r[4] or "", r[5] or ""),
        )
        for r in rows
    ]


def unclustered(store: Store, chunk: int = 900) -> Iterator[list[StoryInput]]:
    """Articles stored after the last clustering run, oldest first, `chunk` at a time.

    Article ids grow with insertion and a run saves all its assignments in one transaction,
    so "newer than the highest clustered id" is exactly the unclustered set, found through
    the primary key instead of an anti-join over the whole table. Only their ids (in date
    order) are read at once; texts are read a chunk at a time (under SQLite's oldest limit
    of 999 parameters), so a cold poll of tens of thousands of articles is not held in
    memory whole.
    """
    (last,) = store.db.execute("SELECT coalesce(max(article_id), 0) FROM story_members").fetchone()
    keys = store.db.execute(
        "SELECT a.id FROM articles a WHERE a.id > ? ORDER BY a.published, a.id", [last]
    ).fetchall()
    for start in range(0, len(keys), chunk):
        ids = [k[0] for k in keys[start : start + chunk]]
        rows = store.db.execute(
            f"SELECT {_INPUT_COLUMNS} FROM articles a WHERE a.id IN"
            f" ({','.join('?' * len(ids))}) ORDER BY a.published, a.id",
            ids,
        ).fetchall()
        yield _inputs(rows)


def recent_members(
    store: Store, since: datetime, limit: int | None = None
) -> Iterator[tuple[StoryInput, int]]:
    """Clustered articles published at or after `since`, with their story ids, in
    published order; read as they are consumed (a cold poll's window holds tens of
    thousands of articles, which need not all be in memory at once). With `limit`, only
    the newest `limit` of them (and any published at the same time as the oldest of
    those): an index that holds no more would read and drop the others."""
    start = iso(since)
    if limit is not None:
        row = store.db.execute(
            "SELECT published FROM story_members WHERE published >= ?"
            " ORDER BY published DESC LIMIT 1 OFFSET ?",
            [start, max(limit - 1, 0)],
        ).fetchone()
        if row is not None:
            start = row[0]
    cursor = store.db.execute(
        f"SELECT {_INPUT_COLUMNS}, m.story_id FROM story_members m"
        " JOIN articles a ON a.id = m.article_id"
        " WHERE m.published >= ? ORDER BY m.published, a.id",
        [start],
    )
    while rows := cursor.fetchmany(1000):
        yield from zip(_inputs([r[:-1] for r in rows]), (r[-1] for r in rows), strict=True)


def epoch(store: Store) -> int:
    """The story-membership change counter (migration m006): equal values, same stories."""
    (value,) = store.db.execute("SELECT epoch FROM story_epoch").fetchone()
    return int(value)


def next_story_id(store: Store) -> int:
    (last,) = store.db.execute("SELECT coalesce(max(id), 0) FROM stories").fetchone()
    return int(last) + 1


def iter_all(store: Store, chunk: int = 5000) -> Iterator[list[StoryInput]]:
    """Every article in publication order, `chunk` at a time (for `recluster`)."""
    after = ("", 0)
    while True:
        rows = store.db.execute(
            f"SELECT {_INPUT_COLUMNS} FROM articles a WHERE (a.published, a.id) > (?, ?)"
            " ORDER BY a.published, a.id LIMIT ?",
            [*after, chunk],
        ).fetchall()
        if not rows:
            return
        yield _inputs(rows)
        after = (rows[-1][2], rows[-1][0])


def clear(store: Store) -> None:
    """Forget every story (articles stay): `recluster` starts from here."""
    with store.transaction():
        store.db.execute("DELETE FROM story_members")
        store.db.execute("DELETE FROM stories")


def save(
    store: Store, assignments: Sequence[StoryAssignment], inputs: Sequence[StoryInput]
) -> None:
    """Store memberships and refresh the touched stories' figures, in one transaction."""
    with store.transaction():
        refresh_stories(store, add_members(store, assignments, inputs))


def add_members(
    store: Store, assignments: Sequence[StoryAssignment], inputs: Sequence[StoryInput]
) -> set[int]:
    """Store memberships, opening new stories with blank figures; returns the touched
    story ids, whose figures `refresh_stories` must recompute in the same transaction."""
    by_id = {i.article_id: i for i in inputs}
    ex = store.db.execute
    for a in assignments:
        article = by_id[a.article_id]
        ex(
            "INSERT OR IGNORE INTO stories (id, title, articles, outlets, syndicated, topics)"
            " VALUES (?, ?, 0, 0, 0, '[]')",
            [a.story_id, article.title],
        )
        ex(
            "INSERT OR REPLACE INTO story_members (article_id, story_id, score, method,"
            " syndicated, outlet, published) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                a.article_id,
                a.story_id,
                round(a.score, 4),
                a.method,
                int(a.syndicated),
                article.outlet,
                iso(article.published),
            ],
        )
    return {a.story_id for a in assignments}


def refresh_stories(store: Store, story_ids: Iterable[int]) -> None:
    """`refresh` each of the stories, in id order."""
    for story_id in sorted(story_ids):
        refresh(store, story_id)


def refresh(store: Store, story_id: int) -> None:
    """Recompute one story's first report, counts, topics and every member's lag."""
    ex = store.db.execute
    first = ex(
        "SELECT m.article_id, m.outlet, m.published, a.title FROM story_members m"
        " JOIN articles a ON a.id = m.article_id WHERE m.story_id = ?"
        " ORDER BY m.published, m.article_id LIMIT 1",
        [story_id],
    ).fetchone()
    article_id, outlet, published, title = first
    ex(
        "UPDATE story_members SET lag_seconds ="
        " CAST(round((julianday(published) - julianday(?)) * 86400) AS INTEGER)"
        " WHERE story_id = ?",
        [published, story_id],
    )
    topics = [
        r[0]
        for r in ex(
            "SELECT DISTINCT j.value FROM story_members m JOIN articles a ON a.id = m.article_id,"
            " json_each(a.topics) j WHERE m.story_id = ? ORDER BY j.value",
            [story_id],
        )
    ]
    ex(
        "UPDATE stories SET title = ?, first_published = ?, first_article_id = ?,"
        " first_outlet = ?,"
        " last_published = (SELECT max(published) FROM story_members WHERE story_id = ?),"
        " articles = (SELECT count(*) FROM story_members WHERE story_id = ?),"
        " outlets = (SELECT count(DISTINCT outlet) FROM story_members WHERE story_id = ?),"
        " syndicated = (SELECT count(*) FROM story_members WHERE story_id = ? AND syndicated),"
        " topics = ? WHERE id = ?",
        [
            title,
            published,
            article_id,
            outlet,
            story_id,
            story_id,
            story_id,
            story_id,
            json.dumps(topics),
            story_id,
        ],
    )
