"""Dataclasses in, SQLite rows out: the only module that reads and writes the database.

An article is one distinct canonical URL (entries without a link are keyed by feed + entry
id). Each feed that carries it has one sighting, so "ran in two sections of one outlet" and
"carried by three outlets" are both plain SQL. Writes for one feed happen in one transaction.
The tables themselves are drawn and created in schema.py.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlite_utils

from .errors import StoreError
from .lock import hold
from .models import Config, Entry, FetchResult, PollPlan, TopicMatch, tagging_text
from .schema import MIGRATIONS

#: Seconds a writer waits for another writer's lock before giving up ("database is locked").
log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 30_000

#: A topic tagger: (tagging text, fixed feed topics) -> matches. See topics.Tagger.tag.
Tag = Callable[[str, Sequence[str]], Sequence[TopicMatch]]


def parse_iso(text: str) -> datetime:
    """The inverse of `iso`: a stored UTC timestamp back to an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def iso(dt: datetime | None) -> str | None:
    """UTC ISO-8601 with a Z, second precision: sorts as text, reads as a date in Datasette."""
    if dt is None:
        return None
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the store remembers about one feed between polls."""

    id: int
    url: str
    fetch_url: str
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    outlet: str | None
    topics: tuple[str, ...]
    enabled: bool
    #: Interval pinned in feeds.yaml (seconds), None when adaptive.
    interval: int | None = None
    #: Normal interval in use (seconds), None before the first poll.
    poll_interval: int | None = None
    #: Failed attempts in a row.
    error_count: int = 0
    #: <ttl>/sy:updatePeriod of the last parsed document (seconds).
    feed_ttl: int | None = None
    #: Next scheduled attempt; None: due now.
    next_poll: datetime | None = None
    #: Why the server disabled the feed (410 Gone), or None.
    disabled_reason: str | None = None


@dataclass(frozen=True, slots=True)
class SaveCounts:
    new: int
    updated: int


@dataclass(frozen=True, slots=True)
class PruneCounts:
    """What `prune` removed (or would remove, in a dry run)."""

    articles: int
    sightings: int
    stories: int
    fetch_log: int


class Store:
    """One open database. Not thread-safe: use it from one thread at a time."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        try:
            folder = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(folder, exist_ok=True)
            # check_same_thread=False: the updater hands the store to one worker thread so
            # parsing and writing do not block the event loop; only one thread uses it at once.
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
            self.db = sqlite_utils.Database(conn)
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self.db.execute("PRAGMA foreign_keys = ON")
            if self.db.journal_mode != "wal" or MIGRATIONS.pending(self.db):
                # A new or older database: one process at a time sets it up (two fetches
                # started at once on a new file both ran the migrations: "database is
                # locked" or "table already exists", issue 6).
                with hold(self.path, wait=True):
                    # WAL: Datasette reads while the fetcher writes.
                    self.db.enable_wal()
                    MIGRATIONS.apply(self.db)
            self.db.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as e:
            raise StoreError(f"cannot open database: {e}", path=self.path) from e

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic write; a failed write is a StoreError and leaves nothing half-done."""
        try:
            with self.db.atomic():
                yield
        except sqlite3.OperationalError as e:
            raise StoreError(f"write failed: {e}", path=self.path) from e

    @contextmanager
    def background_checkpoints(self, every: float = 0.5) -> Iterator[None]:
        """While a long run writes, copy the write-ahead log into the database from a thread
        (and connection) of its own, every `every` seconds.

        SQLite otherwise checkpoints on the committing connection each time the log passes
        1,000 pages, so the store thread stopped for the copy and its disk syncs at every
        4 MB written (storing 24,000 new entries: 15.3-16.0 s, 9.4-10.3 s without, #7). The
        checkpoints are PASSIVE: they never wait for, or block, a reader or the writer.
        """
        stop = threading.Event()

        def run() -> None:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000)
            try:
                while not stop.wait(every):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as e:  # the writer's own commits still succeed
                log.warning("%s: background checkpoint failed: %s", self.path, e)
            finally:
                conn.close()

        (pages,) = self.db.execute("PRAGMA wal_autocheckpoint").fetchone()
        self.db.execute("PRAGMA wal_autocheckpoint = 0")
        thread = threading.Thread(target=run, name="aggregator-checkpoint", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self.db.execute(f"PRAGMA wal_autocheckpoint = {int(pages)}")

    # ------------------------------------------------------------------ config

    def sync_config(self, config: Config) -> None:
        """Mirror feeds.yaml's outlets, topics and feeds; keep rows that left the config."""
        with self.transaction():
            ex = self.db.execute
            ex("UPDATE outlets SET in_config = 0")
            for o in config.outlets:
                labels = dict(o.labels)
                ex(
                    "INSERT INTO outlets (name, country, language, labels, in_config)"
                    " VALUES (?, ?, ?, ?, 1) ON CONFLICT(name) DO UPDATE SET"
                    " country = excluded.country, language = excluded.language,"
                    " labels = excluded.labels, in_config = 1",
                    [o.name, o.country, o.language, json.dumps(labels, ensure_ascii=False)],
                )
                ex("DELETE FROM outlet_labels WHERE outlet = ?", [o.name])
                for key, value in o.labels:
                    ex(
                        "INSERT INTO outlet_labels (outlet, label, value) VALUES (?, ?, ?)",
                        [o.name, key, value],
                    )
            ex("UPDATE topics SET in_config = 0")
            for t in config.topics:
                ex(
                    "INSERT INTO topics (name, description, fallback, in_config)"
                    " VALUES (?, ?, ?, 1) ON CONFLICT(name) DO UPDATE SET"
                    " description = excluded.description, fallback = excluded.fallback,"
                    " in_config = 1",
                    [t.name, t.description, int(t.fallback)],
                )
            # A feed's fixed topic may name a topic missing from `topics:` rules.
            for f in config.feeds:
                for topic in f.topics:
                    ex(
                        "INSERT OR IGNORE INTO topics (name, fallback, in_config) VALUES (?, 0, 1)",
                        [topic],
                    )
            ex("UPDATE feeds SET in_config = 0")
            for f in config.feeds:
                ex(
                    "INSERT INTO feeds (url, fetch_url, title, outlet, topics, interval, enabled,"
                    " in_config) VALUES (?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT(url) DO UPDATE SET"
                    " title = coalesce(excluded.title, feeds.title), outlet = excluded.outlet,"
                    " topics = excluded.topics, interval = excluded.interval,"
                    " enabled = excluded.enabled, in_config = 1",
                    [
                        f.url,
                        f.url,
                        f.title,
                        f.outlet,
                        json.dumps(list(f.topics)),
                        f.interval,
                        int(f.enabled),
                    ],
                )

    def feed_states(self) -> dict[str, FeedState]:
        """Every feed still in the config, keyed by configured URL."""
        rows = self.db.execute(
            "SELECT id, url, fetch_url, etag, last_modified, body_hash, outlet, topics, enabled,"
            " interval, poll_interval, error_count, feed_ttl, next_poll, disabled_reason"
            " FROM feeds WHERE in_config = 1"
        ).fetchall()
        return {
            r[1]: FeedState(
                id=r[0],
                url=r[1],
                fetch_url=r[2],
                etag=r[3],
                last_modified=r[4],
                body_hash=r[5],
                outlet=r[6],
                topics=tuple(json.loads(r[7] or "[]")),
                enabled=bool(r[8]),
                interval=r[9],
                poll_interval=r[10],
                error_count=r[11] or 0,
                feed_ttl=r[12],
                next_poll=parse_iso(r[13]) if r[13] else None,
                disabled_reason=r[14],
            )
            for r in rows
        }

    def due_urls(self, now: datetime) -> list[str]:
        """Configured URLs of the enabled feeds whose next poll time has come, soonest first."""
        rows = self.db.execute(
            "SELECT url FROM feeds WHERE in_config = 1 AND enabled = 1"
            " AND disabled_reason IS NULL AND (next_poll IS NULL OR next_poll <= ?)"
            " ORDER BY next_poll IS NOT NULL, next_poll, id",
            [iso(now)],
        ).fetchall()
        return [r[0] for r in rows]

    def next_poll_time(self) -> datetime | None:
        """The soonest scheduled poll of any enabled feed (None: none scheduled)."""
        row = self.db.execute(
            "SELECT min(coalesce(next_poll, '')) FROM feeds WHERE in_config = 1 AND enabled = 1"
            " AND disabled_reason IS NULL"
        ).fetchone()
        if row is None or row[0] is None:
            return None
        return parse_iso(row[0]) if row[0] else datetime.min.replace(tzinfo=UTC)

    # ------------------------------------------------------------------ fetch results

    def record_attempt(
        self,
        feed: FeedState,
        result: FetchResult,
        *,
        outcome: str,
        error_class: str | None = None,
        error_message: str | None = None,
        counts: SaveCounts = SaveCounts(0, 0),
        body_hash: str | None = None,
        feed_title: str | None = None,
        site_url: str | None = None,
        plan: PollPlan | None = None,
        feed_ttl: int | None = None,
    ) -> None:
        """Log one attempt, update the feed's health and schedule, all or nothing.

        Inside a caller's transaction (update._BatchWriter: 304s and errors share one) the
        writes join it without a savepoint of their own: a savepoint is two more statements,
        each a hand-over of the GIL between the store thread and the event loop, for every
        feed of a warm poll (issue #7). All or nothing still holds: every value is computed
        before the first write, and a write that fails after another went through fails
        the caller's whole transaction (StoreError).
        """
        args = (feed, result, outcome, error_class, error_message, counts, body_hash)
        if not self.db.conn.in_transaction:
            with self.transaction():
                self._record_attempt(*args, feed_title, site_url, plan=plan, feed_ttl=feed_ttl)
            return
        self._record_attempt(*args, feed_title, site_url, plan=plan, feed_ttl=feed_ttl)

    def _record_attempt(
        self,
        feed: FeedState,
        result: FetchResult,
        outcome: str,
        error_class: str | None,
        error_message: str | None,
        counts: SaveCounts,
        body_hash: str | None,
        feed_title: str | None,
        site_url: str | None,
        problem: str | None = None,
        *,
        plan: PollPlan | None = None,
        feed_ttl: int | None = None,
    ) -> None:
        """One fetch_log row, then one UPDATE of the feed row (two when a title arrives)."""
        started = iso(result.started)
        failed = outcome in ("error", "parse_error")
        next_poll = iso(plan.next_poll) if plan is not None else None
        log_row = [
            feed.id,
            result.url,
            result.final_url,
            started,
            round(result.duration * 1000),
            result.status,
            len(result.content) if result.content is not None else None,
            outcome,
            error_class,
            error_message,
            problem,
            counts.new,
            counts.updated,
            next_poll,
        ]
        sets: dict[str, object] = {}
        if plan is not None:
            sets["next_poll"] = next_poll
            sets["poll_interval"] = plan.interval
            sets["poll_reason"] = plan.reason
            sets["error_kind"] = plan.error_kind
            sets["disabled_reason"] = plan.disabled_reason
        sets["last_fetched"] = started
        sets["last_status"] = result.status
        sets["last_outcome"] = outcome
        if failed:
            sets["last_error"] = f"{error_class}: {error_message}"
        else:
            sets["last_success"] = started
            sets["last_error"] = None
            sets["error_count"] = 0
            if result.status == 200:
                # Validators are replaced together: a server that drops its ETag must not be
                # sent the old one back.
                sets["etag"] = result.header("etag")
                sets["last_modified"] = result.header("last-modified")
            if body_hash is not None:
                sets["body_hash"] = body_hash
            if outcome == "ok":
                sets["feed_ttl"] = feed_ttl  # from the document just parsed (None: it has none)
            if (
                result.permanent_redirect
                and result.final_url != feed.fetch_url
                and not self.db.execute(
                    "SELECT 1 FROM feeds WHERE id != ? AND ? IN (url, fetch_url)",
                    [feed.id, result.final_url],
                ).fetchone()
            ):
                # 301/308 all the way: ask the new address from now on (feeds.url, the
                # identity from feeds.yaml, stays). A temporary redirect changes nothing, and
                # neither does a move onto another feed's address (one feed, one schedule).
                sets["fetch_url"] = result.final_url
            if feed_title:
                sets["feed_title"] = feed_title
            if site_url:
                sets["site_url"] = site_url
        assignments = ", ".join(f"{k} = ?" for k in sets)
        if failed:
            assignments += ", error_count = error_count + 1"
        # The log row first: a missing feed row (its foreign key) fails it before anything
        # is written.
        self.db.execute(
            "INSERT INTO fetch_log (feed_id, url, final_url, started, duration_ms, status, bytes,"
            " outcome, error_class, error_message, problem, new_entries, updated_entries,"
            " next_poll) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            log_row,
        )
        try:
            self.db.execute(
                f"UPDATE feeds SET {assignments} WHERE id = ?", [*sets.values(), feed.id]
            )
            if feed_title and not failed:
                self.db.execute(
                    "UPDATE feeds SET title = ? WHERE id = ? AND title IS NULL",
                    [feed_title, feed.id],
                )
        except sqlite3.Error as e:
            # Half-written (the log row is in): only undoing the transaction is safe.
            raise StoreError(f"write failed: {e}", path=self.path) from e

    def save_entries(
        self,
        feed: FeedState,
        result: FetchResult,
        entries: Sequence[Entry],
        *,
        tag: Tag,
        now: datetime,
        body_hash: str,
        feed_title: str | None = None,
        site_url: str | None = None,
        problem: str | None = None,
        plan: PollPlan | None = None,
        feed_ttl: int | None = None,
    ) -> SaveCounts:
        """Store one feed's entries, its tags and the attempt, in one transaction."""
        with self.transaction():
            counts = self._save_entries(feed, entries, tag, now)
            self._record_attempt(
                feed,
                result,
                "ok",
                None,
                None,
                counts,
                body_hash,
                feed_title,
                site_url,
                problem,
                plan=plan,
                feed_ttl=feed_ttl,
            )
        return counts

    def _save_entries(
        self,
        feed: FeedState,
        entries: Sequence[Entry],
        tag: Tag,
        now: datetime,
    ) -> SaveCounts:
        ex = self.db.execute
        stamp = iso(now)
        new = updated = 0
        # entry_id -> (content_hash, article_id) of this feed's sightings, read once.
        known = {
            entry_id: (content_hash, article_id)
            for entry_id, content_hash, article_id in ex(
                "SELECT entry_id, content_hash, article_id FROM sightings WHERE feed_id = ?",
                [feed.id],
            )
        }
        for entry in entries:
            if entry.entry_id in known:
                known_hash, article_id = known[entry.entry_id]
                if known_hash == entry.content_hash:
                    ex(
                        "UPDATE sightings SET last_seen = ? WHERE feed_id = ? AND entry_id = ?",
                        [stamp, feed.id, entry.entry_id],
                    )
                    continue
                # The same entry, edited by its publisher: update in place.
                self._update_article(article_id, entry, stamp)
                ex(
                    "UPDATE sightings SET content_hash = ?, last_seen = ?, entry_url = ?"
                    " WHERE feed_id = ? AND entry_id = ?",
                    [entry.content_hash, stamp, entry.url, feed.id, entry.entry_id],
                )
                self._write_topics(article_id, entry, tag)
                updated += 1
                continue
            dedup_key = entry.canonical_url or f"feed:{feed.id}:{entry.entry_id}"
            row = ex("SELECT id FROM articles WHERE dedup_key = ?", [dedup_key]).fetchone()
            if row is None and self._pruned(dedup_key):
                continue  # removed by `aggregator prune`: a later poll must not bring it back
            matches: Sequence[TopicMatch] = ()
            if row is None:
                # A new article's only feed is this one, so its topics are known before it
                # is written and go in with the INSERT: an UPDATE of `topics` afterwards
                # would make the FTS trigger index its whole text a second time (#7).
                matches = tag(entry.tagging_text, tuple(sorted(set(feed.topics))))
                article_id = self._insert_article(dedup_key, entry, feed, stamp, matches)
                new += 1
            else:
                # Seen before through another feed (or with other tracking parameters):
                # one article, one more sighting.
                article_id = row[0]
            ex(
                "INSERT INTO sightings (feed_id, entry_id, article_id, id_source, entry_url,"
                " content_hash, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    feed.id,
                    entry.entry_id,
                    article_id,
                    entry.id_source,
                    entry.url,
                    entry.content_hash,
                    stamp,
                    stamp,
                ],
            )
            known[entry.entry_id] = (entry.content_hash, article_id)
            if row is None:
                self._insert_topics(article_id, matches)
            else:
                # The article keeps its first feed's text, so its tags come from that text
                # (and every carrying feed's topics), not from whichever feed came last: a
                # rerun in another order, or `retag`, gives the same tags (issue 6).
                self._write_stored_topics(article_id, tag)
        return SaveCounts(new, updated)

    @staticmethod
    def _article_values(entry: Entry) -> list[object]:
        return [
            entry.canonical_url,
            entry.url,
            entry.title,
            entry.summary_html,
            entry.content_html,
            entry.summary_text,
            entry.content_text,
            json.dumps(list(entry.authors), ensure_ascii=False),
            json.dumps(list(entry.categories), ensure_ascii=False),
            json.dumps(
                [{"url": e.url, "type": e.type, "length": e.length} for e in entry.enclosures]
            ),
            entry.language,
            iso(entry.published),
            iso(entry.updated),
            int(entry.date_is_fallback),
            entry.content_hash,
        ]

    _ARTICLE_COLUMNS = (
        "canonical_url, url, title, summary_html, content_html, summary_text, content_text,"
        " authors, categories, enclosures, language, published, updated, date_is_fallback,"
        " content_hash"
    )

    def _insert_article(
        self,
        dedup_key: str,
        entry: Entry,
        feed: FeedState,
        stamp: str | None,
        matches: Sequence[TopicMatch],
    ) -> int:
        topics = json.dumps(sorted({m.topic for m in matches}))
        cur = self.db.execute(
            f"INSERT INTO articles (dedup_key, {self._ARTICLE_COLUMNS}, first_seen,"
            " last_changed, feed_id, outlet, topics) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [dedup_key, *self._article_values(entry), stamp, stamp, feed.id, feed.outlet, topics],
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def _update_article(self, article_id: int, entry: Entry, stamp: str | None) -> None:
        columns = [c.strip() for c in self._ARTICLE_COLUMNS.split(",")]
        values = self._article_values(entry)
        keep = {"published", "date_is_fallback"} if entry.date_is_fallback else set()
        pairs = [(c, v) for c, v in zip(columns, values, strict=True) if c not in keep]
        # An edit without its own <updated> date is recorded as updated when we saw it.
        pairs = [(c, stamp if c == "updated" and v is None else v) for c, v in pairs]
        assignments = ", ".join(f"{c} = ?" for c, _ in pairs)
        self.db.execute(
            f"UPDATE articles SET {assignments}, last_changed = ? WHERE id = ?",
            [*(v for _, v in pairs), stamp, article_id],
        )

    def _pruned(self, dedup_key: str) -> bool:
        return (
            self.db.execute("SELECT 1 FROM tombstones WHERE dedup_key = ?", [dedup_key]).fetchone()
            is not None
        )

    def _article_feed_topics(self, article_id: int) -> tuple[str, ...]:
        """Fixed topics of every feed that carries the article."""
        rows = self.db.execute(
            "SELECT feeds.topics FROM sightings JOIN feeds ON feeds.id = sightings.feed_id"
            " WHERE sightings.article_id = ?",
            [article_id],
        ).fetchall()
        topics: set[str] = set()
        for (raw,) in rows:
            topics.update(json.loads(raw or "[]"))
        return tuple(sorted(topics))

    def _write_topics(self, article_id: int, entry: Entry, tag: Tag) -> None:
        matches = tag(entry.tagging_text, self._article_feed_topics(article_id))
        self._replace_topics(article_id, matches)

    def _write_stored_topics(self, article_id: int, tag: Tag) -> None:
        title, summary_text, content_text = self.db.execute(
            "SELECT title, summary_text, content_text FROM articles WHERE id = ?", [article_id]
        ).fetchone()
        text = tagging_text(title or "", summary_text or "", content_text or "")
        self._replace_topics(article_id, tag(text, self._article_feed_topics(article_id)))

    def _replace_topics(self, article_id: int, matches: Iterable[TopicMatch]) -> None:
        ex = self.db.execute
        ex("DELETE FROM article_topics WHERE article_id = ?", [article_id])
        names = self._insert_topics(article_id, matches)
        ex(
            "UPDATE articles SET topics = ? WHERE id = ?",
            [json.dumps(sorted(set(names))), article_id],
        )

    def _insert_topics(self, article_id: int, matches: Iterable[TopicMatch]) -> list[str]:
        """article_topics rows of an article that has none; returns the topic names."""
        ex = self.db.execute
        names = []
        for m in matches:
            ex(
                "INSERT OR IGNORE INTO topics (name, fallback, in_config) VALUES (?, 0, 0)",
                [m.topic],
            )
            ex(
                "INSERT OR REPLACE INTO article_topics (article_id, topic, rule) VALUES (?, ?, ?)",
                [article_id, m.topic, m.rule],
            )
            names.append(m.topic)
        return names

    # ------------------------------------------------------------------ maintenance

    def retag(self, tag: Tag) -> int:
        """Recompute every article's topics from stored text; returns articles tagged."""
        feed_topics: dict[int, set[str]] = {}
        for article_id, raw in self.db.execute(
            "SELECT sightings.article_id, feeds.topics FROM sightings"
            " JOIN feeds ON feeds.id = sightings.feed_id"
        ):
            feed_topics.setdefault(article_id, set()).update(json.loads(raw or "[]"))
        count = 0
        with self.transaction():
            rows = self.db.execute(
                "SELECT id, title, summary_text, content_text FROM articles"
            ).fetchall()
            for article_id, title, summary_text, content_text in rows:
                text = tagging_text(title or "", summary_text or "", content_text or "")
                topics = tuple(sorted(feed_topics.get(article_id, ())))
                self._replace_topics(article_id, tag(text, topics))
                count += 1
        return count

    def prune(self, cutoff: datetime, now: datetime, *, dry_run: bool = False) -> PruneCounts:
        """Remove articles published before `cutoff`, and fetch_log rows started before it.

        Each removed article leaves a tombstone (its dedup key), so the next poll of a feed
        that still lists it does not add it again. Stories lose those members; a story left
        empty is removed, the others get their figures recomputed. One transaction.
        """
        from . import store_stories  # store_stories builds on Store

        ex = self.db.execute
        with self.transaction():
            ex("DROP TABLE IF EXISTS temp.prune_ids")
            ex(
                "CREATE TEMP TABLE prune_ids AS SELECT id FROM articles WHERE published < ?",
                [iso(cutoff)],
            )
            (articles,) = ex("SELECT count(*) FROM temp.prune_ids").fetchone()
            (log_rows,) = ex(
                "SELECT count(*) FROM fetch_log WHERE started < ?", [iso(cutoff)]
            ).fetchone()
            touched = [
                r[0]
                for r in ex(
                    "SELECT DISTINCT story_id FROM story_members"
                    " WHERE article_id IN (SELECT id FROM temp.prune_ids)"
                )
            ]
            (sightings,) = ex(
                "SELECT count(*) FROM sightings WHERE article_id IN (SELECT id FROM temp.prune_ids)"
            ).fetchone()
            stories = 0
            if not dry_run:
                ex(
                    "INSERT OR IGNORE INTO tombstones (dedup_key, published, pruned)"
                    " SELECT dedup_key, published, ? FROM articles"
                    " WHERE id IN (SELECT id FROM temp.prune_ids)",
                    [iso(now)],
                )
                for table in ("story_members", "article_topics", "sightings"):
                    ex(f"DELETE FROM {table} WHERE article_id IN (SELECT id FROM temp.prune_ids)")
                for story_id in touched:
                    if ex(
                        "SELECT 1 FROM story_members WHERE story_id = ? LIMIT 1", [story_id]
                    ).fetchone():
                        store_stories.refresh(self, story_id)
                    else:
                        ex("DELETE FROM stories WHERE id = ?", [story_id])
                        stories += 1
                ex("DELETE FROM articles WHERE id IN (SELECT id FROM temp.prune_ids)")
                ex("DELETE FROM fetch_log WHERE started < ?", [iso(cutoff)])
            else:
                stories = sum(
                    1
                    for story_id in touched
                    if not ex(
                        "SELECT 1 FROM story_members WHERE story_id = ?"
                        " AND article_id NOT IN (SELECT id FROM temp.prune_ids) LIMIT 1",
                        [story_id],
                    ).fetchone()
                )
            ex("DROP TABLE temp.prune_ids")
        return PruneCounts(articles, sightings, stories, log_rows)

    def feeds_overview(self) -> list[dict[str, object]]:
        """Every feed with its health, for `aggregator feeds`."""
        cur = self.db.execute(
            "SELECT f.id, f.url, f.fetch_url, coalesce(f.title, f.feed_title) AS title, f.outlet,"
            " f.enabled, f.in_config, f.last_fetched, f.last_status, f.last_outcome,"
            " f.last_success, f.error_count, f.last_error, f.error_kind, f.disabled_reason,"
            " f.interval, f.poll_interval, f.next_poll, f.poll_reason,"
            " (SELECT count(*) FROM sightings s WHERE s.feed_id = f.id) AS entries"
            " FROM feeds f ORDER BY f.in_config DESC, f.outlet, f.url"
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def site_urls(self) -> dict[str, str]:
        """Feed URL -> the site (home page) it links to, for feeds that gave one."""
        cur = self.db.execute("SELECT url, site_url FROM feeds WHERE site_url IS NOT NULL")
        return {url: site for url, site in cur.fetchall() if site}

    def counts(self) -> dict[str, int]:
        """Row counts of the main tables."""
        return {
            t: self.db.execute(f"SELECT count(*) FROM [{t}]").fetchone()[0]
            for t in (
                "feeds",
                "articles",
                "sightings",
                "article_topics",
                "fetch_log",
                "stories",
                "story_members",
            )
        }
