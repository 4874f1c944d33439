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


# m004: summaries kept by triggers, so Datasette's charts, facets and aggregate queries read
# thousands of rows instead of a million (issue 7). Triggers, not store code, keep them right:
# whatever writes articles/article_topics/sightings (batched or not, retag, prune, recluster)
# moves the counts with it. Each count is keyed by the article's UTC day, substr(published, 1,
# 10), like the canned queries.
#
# topic_articles is the set the topic counts follow: a topic row is counted once when it enters
# that set and uncounted when it leaves, so an `INSERT OR REPLACE` over an existing row (SQLite
# fires no delete trigger for the row it replaces unless recursive_triggers is on) or an
# ignored duplicate cannot count twice.
_M004_TABLES = [
    """CREATE TABLE topic_articles (
        topic TEXT NOT NULL, published TEXT NOT NULL, article_id INTEGER NOT NULL,
        PRIMARY KEY (topic, published, article_id)) WITHOUT ROWID""",
    "CREATE INDEX topic_articles_article_id ON topic_articles (article_id)",
    """CREATE TABLE topic_days (
        day TEXT NOT NULL, topic TEXT NOT NULL, articles INTEGER NOT NULL,
        PRIMARY KEY (day, topic)) WITHOUT ROWID""",
    """CREATE TABLE outlet_days (
        day TEXT NOT NULL, outlet TEXT NOT NULL, articles INTEGER NOT NULL,
        PRIMARY KEY (day, outlet)) WITHOUT ROWID""",
    """CREATE TABLE feed_counts (
        feed_id INTEGER PRIMARY KEY, articles INTEGER NOT NULL DEFAULT 0,
        sightings INTEGER NOT NULL DEFAULT 0)""",
]


def _topic_in(topic: str, article: str) -> str:
    """Statements counting `topic` of article `article` in, unless it is counted already."""
    published = f"(SELECT published FROM articles WHERE id = {article})"
    return f"""
        INSERT INTO topic_days (day, topic, articles)
          SELECT substr(a.published, 1, 10), {topic}, 1 FROM articles a
          WHERE a.id = {article} AND NOT EXISTS (SELECT 1 FROM topic_articles x
            WHERE x.topic = {topic} AND x.published = a.published AND x.article_id = a.id)
          ON CONFLICT (day, topic) DO UPDATE SET articles = articles + 1;
        INSERT OR IGNORE INTO topic_articles (topic, published, article_id)
          SELECT {topic}, {published}, {article} WHERE {published} IS NOT NULL;"""


def _topic_out(topic: str, article: str, published: str) -> str:
    """Statements uncounting `topic` of article `article` published at `published`."""
    day = f"substr({published}, 1, 10)"
    return f"""
        UPDATE topic_days SET articles = articles - 1
          WHERE day = {day} AND topic = {topic} AND EXISTS (SELECT 1 FROM topic_articles x
            WHERE x.topic = {topic} AND x.published = {published}
              AND x.article_id = {article});
        DELETE FROM topic_days WHERE day = {day} AND topic = {topic} AND articles <= 0;
        DELETE FROM topic_articles
          WHERE topic = {topic} AND published = {published} AND article_id = {article};"""


def _outlet(sign: str, row: str) -> str:
    """Statements counting the article `row` (new/old) in (+) or out (-) of its outlet/feed."""
    if sign == "+":
        return f"""
        INSERT INTO outlet_days (day, outlet, articles)
          SELECT substr({row}.published, 1, 10), {row}.outlet, 1
          WHERE {row}.outlet IS NOT NULL AND {row}.published IS NOT NULL
          ON CONFLICT (day, outlet) DO UPDATE SET articles = articles + 1;
        INSERT INTO feed_counts (feed_id, articles) SELECT {row}.feed_id, 1
          WHERE {row}.feed_id IS NOT NULL
          ON CONFLICT (feed_id) DO UPDATE SET articles = articles + 1;"""
    return f"""
        UPDATE outlet_days SET articles = articles - 1
          WHERE day = substr({row}.published, 1, 10) AND outlet = {row}.outlet;
        DELETE FROM outlet_days
          WHERE day = substr({row}.published, 1, 10) AND outlet = {row}.outlet
            AND articles <= 0;
        UPDATE feed_counts SET articles = articles - 1 WHERE feed_id = {row}.feed_id;"""


_M004_TRIGGERS = {
    "article_topics_summary_insert": f"""
        AFTER INSERT ON article_topics BEGIN {_topic_in("new.topic", "new.article_id")} END""",
    "article_topics_summary_delete": f"""
        AFTER DELETE ON article_topics BEGIN
        {
        _topic_out(
            "old.topic",
            "old.article_id",
            "(SELECT published FROM articles WHERE id = old.article_id)",
        )
    } END""",
    "article_topics_summary_update": f"""
        AFTER UPDATE OF article_id, topic ON article_topics BEGIN
        {
        _topic_out(
            "old.topic",
            "old.article_id",
            "(SELECT published FROM articles WHERE id = old.article_id)",
        )
    }
        {_topic_in("new.topic", "new.article_id")} END""",
    "articles_summary_insert": f"AFTER INSERT ON articles BEGIN {_outlet('+', 'new')} END",
    "articles_summary_delete": f"""
        AFTER DELETE ON articles BEGIN {_outlet("-", "old")}
        UPDATE topic_days SET articles = articles - 1
          WHERE day = substr(old.published, 1, 10) AND topic IN (
            SELECT topic FROM topic_articles WHERE article_id = old.id);
        DELETE FROM topic_days WHERE day = substr(old.published, 1, 10) AND articles <= 0;
        DELETE FROM topic_articles WHERE article_id = old.id; END""",
    # An edit that moves the publication time moves the article's topics to the new day.
    "articles_summary_update": f"""
        AFTER UPDATE OF published, outlet, feed_id ON articles
        WHEN old.published IS NOT new.published OR old.outlet IS NOT new.outlet
          OR old.feed_id IS NOT new.feed_id
        BEGIN {_outlet("-", "old")} {_outlet("+", "new")}
        UPDATE topic_days SET articles = articles - 1
          WHERE day = substr(old.published, 1, 10) AND topic IN (
            SELECT topic FROM topic_articles WHERE article_id = new.id);
        DELETE FROM topic_days WHERE day = substr(old.published, 1, 10) AND articles <= 0;
        INSERT INTO topic_days (day, topic, articles)
          SELECT substr(new.published, 1, 10), topic, 1 FROM topic_articles
          WHERE article_id = new.id AND true
          ON CONFLICT (day, topic) DO UPDATE SET articles = articles + 1;
        UPDATE topic_articles SET published = new.published WHERE article_id = new.id; END""",
    "sightings_summary_insert": """
        AFTER INSERT ON sightings BEGIN
        INSERT INTO feed_counts (feed_id, sightings) VALUES (new.feed_id, 1)
          ON CONFLICT (feed_id) DO UPDATE SET sightings = sightings + 1; END""",
    "sightings_summary_delete": """
        AFTER DELETE ON sightings BEGIN
        UPDATE feed_counts SET sightings = sightings - 1 WHERE feed_id = old.feed_id; END""",
    "sightings_summary_update": """
        AFTER UPDATE OF feed_id ON sightings WHEN old.feed_id IS NOT new.feed_id BEGIN
        UPDATE feed_counts SET sightings = sightings - 1 WHERE feed_id = old.feed_id;
        INSERT INTO feed_counts (feed_id, sightings) VALUES (new.feed_id, 1)
          ON CONFLICT (feed_id) DO UPDATE SET sightings = sightings + 1; END""",
}

#: What the summaries must equal, as GROUP BYs over the base tables (backfill and tests).
SUMMARY_QUERIES = {
    "topic_articles": """SELECT t.topic, a.published, a.id FROM article_topics t
        JOIN articles a ON a.id = t.article_id""",
    "topic_days": """SELECT substr(a.published, 1, 10) AS day, t.topic, count(*) FROM
        article_topics t JOIN articles a ON a.id = t.article_id GROUP BY 1, 2""",
    "outlet_days": """SELECT substr(published, 1, 10) AS day, outlet, count(*) FROM articles
        WHERE outlet IS NOT NULL GROUP BY 1, 2""",
    "feed_counts": """SELECT f.id, (SELECT count(*) FROM articles a WHERE a.feed_id = f.id),
        (SELECT count(*) FROM sightings s WHERE s.feed_id = f.id) FROM feeds f""",
}


@MIGRATIONS()
def m004_summaries(db: sqlite_utils.Database) -> None:
    for sql in _M004_TABLES:
        db.execute(sql)
    for table, sql in SUMMARY_QUERIES.items():
        db.execute(f"INSERT INTO {table} {sql}")
    for name, body in _M004_TRIGGERS.items():
        db.execute(f"CREATE TRIGGER {name} {body}")
    # Indexes the canned queries walk in order (newest stories first).
    db["stories"].create_index(["first_published"])
