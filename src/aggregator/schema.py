"""sqlite-utils Migrations that create and upgrade the database, recorded in _sqlite_migrations.

    outlets(name) ◄── feeds(id, url, outlet, validators, health) ◄── fetch_log(feed_id, ...)
                                   ▲
    articles(id, dedup_key, canonical_url, title, text, published, outlet, topics)
        ▲  articles_fts (FTS5 over title/summary_text/content_text, kept in sync by triggers)
        ├── sightings(feed_id, entry_id → article_id)   one row per feed that carried it
        ├── article_topics(article_id, topic, rule)     which rule gave which topic
        └── story_members(article_id → story_id)        stories(id, first report, outlets)

Never edit a migration that has shipped: add a new one. Only store.py applies them.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

MIGRATIONS = Migrations("aggregator")


@MIGRATIONS()
def m001_initial(db: sqlite_utils.Database) -> None:
    db["outlets"].create(
        {"name": str, "country": str, "language": str, "labels": str, "in_config": int},
        pk="name",
    )
    db["outlet_labels"].create(
        {"outlet": str, "label": str, "value": str},
        pk=("outlet", "label"),
        foreign_keys=[("outlet", "outlets", "name")],
    )
    db["topics"].create(
        {"name": str, "description": str, "fallback": int, "in_config": int}, pk="name"
    )
    db["feeds"].create(
        {
            "id": int,
            "url": str,  # as configured in feeds.yaml: the feed's identity
            "fetch_url": str,  # where we poll now (changes after a permanent redirect)
            "title": str,  # configured title, else the feed's own
            "feed_title": str,
            "site_url": str,
            "outlet": str,
            "topics": str,  # JSON array of fixed topics
            "interval": int,
            "enabled": int,
            "in_config": int,
            "etag": str,
            "last_modified": str,
            "body_hash": str,
            "last_fetched": str,
            "last_status": int,
            "last_outcome": str,
            "last_success": str,
            "last_error": str,
            "error_count": int,
        },
        pk="id",
        not_null=["url", "fetch_url"],
        defaults={"enabled": 1, "in_config": 1, "error_count": 0, "topics": "[]"},
        foreign_keys=[("outlet", "outlets", "name")],
    )
    db["feeds"].create_index(["url"], unique=True)
    db["articles"].create(
        {
            "id": int,
            "dedup_key": str,  # canonical URL, or "feed:<feed id>:<entry id>" without a link
            "canonical_url": str,
            "url": str,
            "title": str,
            "summary_html": str,
            "content_html": str,
            "summary_text": str,
            "content_text": str,
            "authors": str,
            "categories": str,
            "enclosures": str,
            "language": str,
            "published": str,
            "updated": str,
            "date_is_fallback": int,
            "first_seen": str,
            "last_changed": str,
            "content_hash": str,
            "feed_id": int,  # the feed that first carried it
            "outlet": str,  # that feed's outlet
            "topics": str,  # JSON array, a copy of article_topics for array facets
        },
        pk="id",
        not_null=["dedup_key", "title", "published", "first_seen"],
        defaults={"topics": "[]"},
        foreign_keys=[("feed_id", "feeds", "id"), ("outlet", "outlets", "name")],
    )
    db["articles"].create_index(["dedup_key"], unique=True)
    db["articles"].create_index(["published"])
    db["articles"].create_index(["outlet", "published"])
    db["articles"].create_index(["feed_id"])
    db["sightings"].create(
        {
            "feed_id": int,
            "entry_id": str,
            "article_id": int,
            "id_source": str,
            "entry_url": str,
            "content_hash": str,
            "first_seen": str,
            "last_seen": str,
        },
        pk=("feed_id", "entry_id"),
        foreign_keys=[("feed_id", "feeds", "id"), ("article_id", "articles", "id")],
    )
    db["sightings"].create_index(["article_id"])
    db["article_topics"].create(
        {"article_id": int, "topic": str, "rule": str},
        pk=("article_id", "topic"),
        foreign_keys=[("article_id", "articles", "id"), ("topic", "topics", "name")],
    )
    db["article_topics"].create_index(["topic", "article_id"])
    db["fetch_log"].create(
        {
            "id": int,
            "feed_id": int,
            "url": str,
            "final_url": str,
            "started": str,
            "duration_ms": int,
            "status": int,
            "bytes": int,
            "outcome": str,  # ok | not_modified | unchanged | error | parse_error
            "error_class": str,
            "error_message": str,
            "problem": str,  # the feed was ill-formed but readable: what was wrong
            "new_entries": int,
            "updated_entries": int,
        },
        pk="id",
        foreign_keys=[("feed_id", "feeds", "id")],
    )
    db["fetch_log"].create_index(["feed_id", "started"])
    db["articles"].enable_fts(
        ["title", "summary_text", "content_text"], create_triggers=True, tokenize="unicode61"
    )


@MIGRATIONS()
def m002_stories(db: sqlite_utils.Database) -> None:
    db["stories"].create(
        {
            "id": int,
            "title": str,  # headline of the first report
            "first_published": str,  # publication time of the first report, UTC
            "last_published": str,  # of the latest member
            "first_article_id": int,
            "first_outlet": str,
            "articles": int,  # member articles
            "outlets": int,  # distinct outlets among members
            "syndicated": int,  # members flagged as near-verbatim copies
            "topics": str,  # JSON array: topics of any member
        },
        pk="id",
        foreign_keys=[("first_article_id", "articles", "id"), ("first_outlet", "outlets", "name")],
    )
    db["stories"].create_index(["last_published"])
    db["stories"].create_index(["outlets", "articles"])
    db["story_members"].create(
        {
            "article_id": int,
            "story_id": int,
            "score": float,  # similarity that decided membership, 0..1
            "method": str,  # first | the rule that joined it
            "syndicated": int,  # near-verbatim copy of an earlier member
            "outlet": str,
            "published": str,
            "lag_seconds": int,  # behind the story's first report
        },
        pk="article_id",
        foreign_keys=[
            ("article_id", "articles", "id"),
            ("story_id", "stories", "id"),
            ("outlet", "outlets", "name"),
        ],
    )
    db["story_members"].create_index(["story_id", "published"])
    db["story_members"].create_index(["published"])
    db.create_view(
        "story_outlets",
        """
        select m.story_id, m.outlet, min(m.published) as first_published,
          min(m.lag_seconds) as lag_seconds, round(min(m.lag_seconds) / 3600.0, 1) as lag_hours,
          count(*) as articles, max(m.syndicated) as syndicated
        from story_members m
        group by m.story_id, m.outlet
        """,
    )


@MIGRATIONS()
def m003_polling(db: sqlite_utils.Database) -> None:
    # feeds.interval now holds only an interval pinned in feeds.yaml (NULL: adaptive);
    # sync_config rewrites it on every run.
    db["feeds"].add_column("poll_interval", int)  # normal interval now in use, seconds
    db["feeds"].add_column("next_poll", str)  # next attempt, UTC; NULL: due now
    db["feeds"].add_column("poll_reason", str)  # why that wait
    db["feeds"].add_column("error_kind", str)  # temporary | permanent, while failing
    db["feeds"].add_column("feed_ttl", int)  # <ttl>/sy:updatePeriod of the last document
    db["feeds"].add_column("disabled_reason", str)  # set by the server (410 Gone)
    db["feeds"].create_index(["next_poll"])
    db["fetch_log"].add_column("next_poll", str)  # what the attempt scheduled
    db["tombstones"].create(
        {
            "dedup_key": str,  # articles.dedup_key of a pruned article
            "published": str,
            "pruned": str,  # when `aggregator prune` removed it
        },
        pk="dedup_key",
    )
