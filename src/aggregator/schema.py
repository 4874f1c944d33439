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


# m005: what the remaining slow pages of issue 7 read instead of every row. Triggers again, so
# any writer (store, prune, recluster, plain SQL) keeps them right.
#
# facet_counts holds the counts behind the facets of the articles and stories table pages
# (aggregator.webfacets answers them from here): (table, scope, facet, value) -> rows, scope ''
# for the whole table, 'outlet=<outlet>' for the articles of one outlet, 'first_outlet=<outlet>'
# for the stories it reported first. The values are
# Datasette's own facet expressions: the column, date(column) for a date facet, each distinct
# json_each value for an array facet; NULLs are not counted (Datasette's facets skip them).
#
# story_outlet_lags is the story_outlets view, kept only for stories of two or more outlets,
# and outlet_first_reports its sums per outlet: the `first_reporters` canned query reads 100 rows
# instead of grouping every story member. A story's rows are recomputed whenever one of its
# members or its stories row changes (a story has a handful of members). NULL outlets are kept
# as '' in outlet_first_reports (a primary key cannot hold NULL).
_M005_TABLES = [
    """CREATE TABLE facet_counts (
        tbl TEXT NOT NULL, scope TEXT NOT NULL, facet TEXT NOT NULL, value ANY NOT NULL,
        n INTEGER NOT NULL, PRIMARY KEY (tbl, scope, facet, value)) WITHOUT ROWID""",
    """CREATE TABLE story_outlet_lags (
        story_id INTEGER NOT NULL, outlet TEXT, lag_seconds INTEGER)""",
    "CREATE INDEX story_outlet_lags_story_id ON story_outlet_lags (story_id)",
    # The stories of one first outlet (a facet value selected): their count and newest.
    "CREATE INDEX stories_first_outlet ON stories (first_outlet, last_published)",
    """CREATE TABLE outlet_first_reports (
        outlet TEXT PRIMARY KEY, stories INTEGER NOT NULL, first_reports INTEGER NOT NULL,
        lag_sum INTEGER NOT NULL, lagged INTEGER NOT NULL)""",
]

#: Each facet_counts key of a row of a table, as (scope, facet, value) SQL over row {r}.
_FACET_KEYS = {
    "articles": [
        ("''", "'outlet'", "{r}.outlet"),
        ("''", "'feed_id'", "{r}.feed_id"),
        ("''", "'published'", "date({r}.published)"),
        ("'outlet=' || {r}.outlet", "'feed_id'", "{r}.feed_id"),
        ("'outlet=' || {r}.outlet", "'published'", "date({r}.published)"),
    ],
    "stories": [
        ("''", "'first_outlet'", "{r}.first_outlet"),
        ("''", "'outlets'", "{r}.outlets"),
        ("''", "'first_published'", "date({r}.first_published)"),
        ("'first_outlet=' || {r}.first_outlet", "'outlets'", "{r}.outlets"),
        ("'first_outlet=' || {r}.first_outlet", "'first_published'", "date({r}.first_published)"),
    ],
}
#: Array facets: (scope, facet, JSON column) of each table; each distinct value counts once.
_FACET_ARRAYS = {
    "articles": [("''", "'topics'", "topics"), ("'outlet=' || {r}.outlet", "'topics'", "topics")],
    "stories": [
        ("''", "'topics'", "topics"),
        ("'first_outlet=' || {r}.first_outlet", "'topics'", "topics"),
    ],
}


#: m007: the facets of the rows holding one value of an array column (a topic facet value
#: selected, ?topics__arraycontains=X): scope '<column>=<value>' for each distinct value of the
#: row's array, with the facets of the whole table (m005's scope '' keys).
_FACET_BY_ARRAY = {"articles": "topics", "stories": "topics"}


def _by_array_keys(table: str, row: str) -> list[tuple[str, str, str, str]]:
    """(scope, facet, value, FROM) of each m007 key of `row` (`row` may be the table)."""
    column = _FACET_BY_ARRAY.get(table)
    if column is None:
        return []
    each = f"json_each({_json(row, column)}) s"
    scope = f"'{column}=' || s.value"
    keys = [(scope, f, v.format(r=row), each) for s_, f, v in _FACET_KEYS[table] if s_ == "''"]
    keys += [
        (scope, f, "v.value", f"{each}, json_each({_json(row, col)}) v")
        for s_, f, col in _FACET_ARRAYS.get(table, [])
        if s_ == "''"
    ]
    return keys


def _json(row: str, column: str) -> str:
    """json_each's argument: the column, or an empty array where it is not valid JSON."""
    return f"CASE WHEN json_valid({row}.{column}) THEN {row}.{column} ELSE '[]' END"


def _facet_keys(table: str, row: str, by_array: bool = False) -> str:
    """SELECT of every (scope, facet, value) of `row`, NULLs included; with `by_array`, also
    the keys of each value's scope (m007, _FACET_BY_ARRAY)."""
    parts = [
        f"SELECT {s.format(r=row)} AS scope, {f} AS facet, {v.format(r=row)} AS value"
        for s, f, v in _FACET_KEYS[table]
    ]
    parts += [
        f"SELECT DISTINCT {s.format(r=row)}, {f}, value FROM json_each({_json(row, col)})"
        for s, f, col in _FACET_ARRAYS.get(table, [])
    ]
    if by_array:
        parts += [
            f"SELECT DISTINCT {scope}, {facet}, {value} FROM {source}"
            for scope, facet, value, source in _by_array_keys(table, row)
        ]
    return " UNION ALL ".join(parts)


def _facets(table: str, sign: str, row: str, by_array: bool = False) -> str:
    """Statements counting `row` of `table` in (+) or out (-) of facet_counts."""
    keys = (
        f"SELECT * FROM ({_facet_keys(table, row, by_array)})"
        " WHERE scope IS NOT NULL AND value IS NOT NULL"
    )
    if sign == "+":
        return f"""
        INSERT INTO facet_counts (tbl, scope, facet, value, n) SELECT '{table}', scope, facet,
          value, 1 FROM ({keys}) WHERE true
          ON CONFLICT (tbl, scope, facet, value) DO UPDATE SET n = n + 1;"""
    return f"""
        UPDATE facet_counts SET n = n - 1 WHERE tbl = '{table}'
          AND (scope, facet, value) IN ({keys});
        DELETE FROM facet_counts WHERE tbl = '{table}' AND n <= 0
          AND (scope, facet, value) IN ({keys});"""


def _story_lags(story: str) -> str:
    """Statements recomputing story `story`'s rows of story_outlet_lags."""
    return f"""
        DELETE FROM story_outlet_lags WHERE story_id = {story};
        INSERT INTO story_outlet_lags (story_id, outlet, lag_seconds)
          SELECT m.story_id, m.outlet, min(m.lag_seconds) FROM story_members m
          WHERE m.story_id = {story}
            AND (SELECT s.outlets FROM stories s WHERE s.id = {story}) >= 2
          GROUP BY m.outlet;"""


def _first_reports(sign: str, row: str) -> str:
    """Statements counting one story_outlet_lags `row` in (+) or out (-) of its outlet's sums."""
    first = f"ifnull({row}.lag_seconds = 0, 0)"
    lag = f"CASE WHEN {row}.lag_seconds > 0 THEN {row}.lag_seconds ELSE 0 END"
    lagged = f"ifnull({row}.lag_seconds > 0, 0)"
    if sign == "+":
        return f"""
        INSERT INTO outlet_first_reports (outlet, stories, first_reports, lag_sum, lagged)
          VALUES (ifnull({row}.outlet, ''), 1, {first}, {lag}, {lagged})
          ON CONFLICT (outlet) DO UPDATE SET stories = stories + 1,
            first_reports = first_reports + excluded.first_reports,
            lag_sum = lag_sum + excluded.lag_sum, lagged = lagged + excluded.lagged;"""
    return f"""
        UPDATE outlet_first_reports SET stories = stories - 1,
          first_reports = first_reports - {first}, lag_sum = lag_sum - {lag},
          lagged = lagged - {lagged}
          WHERE outlet = ifnull({row}.outlet, '');
        DELETE FROM outlet_first_reports
          WHERE outlet = ifnull({row}.outlet, '') AND stories <= 0;"""


def _facet_triggers(by_array: bool) -> dict[str, str]:
    """The triggers keeping facet_counts (m005's keys; with `by_array`, m007's as well)."""
    return {
        "articles_facets_insert": f"""
        AFTER INSERT ON articles BEGIN {_facets("articles", "+", "new", by_array)} END""",
        "articles_facets_delete": f"""
        AFTER DELETE ON articles BEGIN {_facets("articles", "-", "old", by_array)} END""",
        "articles_facets_update": f"""
        AFTER UPDATE OF outlet, feed_id, published, topics ON articles
        WHEN old.outlet IS NOT new.outlet OR old.feed_id IS NOT new.feed_id
          OR old.published IS NOT new.published OR old.topics IS NOT new.topics
        BEGIN {_facets("articles", "-", "old", by_array)} {
            _facets("articles", "+", "new", by_array)
        } END""",
        "stories_facets_insert": f"""
        AFTER INSERT ON stories BEGIN {_facets("stories", "+", "new", by_array)}
        {_story_lags("new.id")} END""",
        "stories_facets_delete": f"""
        AFTER DELETE ON stories BEGIN {_facets("stories", "-", "old", by_array)}
        {_story_lags("old.id")} END""",
        "stories_facets_update": f"""
        AFTER UPDATE OF id, first_outlet, outlets, first_published, topics ON stories
        WHEN old.id IS NOT new.id OR old.first_outlet IS NOT new.first_outlet
          OR old.outlets IS NOT new.outlets OR old.first_published IS NOT new.first_published
          OR old.topics IS NOT new.topics
        BEGIN {_facets("stories", "-", "old", by_array)} {_facets("stories", "+", "new", by_array)}
        {_story_lags("old.id")} {_story_lags("new.id")} END""",
    }


_M005_TRIGGERS = {
    **_facet_triggers(by_array=False),
    # save() writes members with INSERT OR REPLACE, but only of articles not in any story yet
    # (store_stories.unclustered), so no replaced row leaves another story stale.
    "story_members_lags_insert": f"""
        AFTER INSERT ON story_members BEGIN {_story_lags("new.story_id")} END""",
    "story_members_lags_delete": f"""
        AFTER DELETE ON story_members BEGIN {_story_lags("old.story_id")} END""",
    "story_members_lags_update": f"""
        AFTER UPDATE OF story_id, outlet, lag_seconds ON story_members
        WHEN old.story_id IS NOT new.story_id OR old.outlet IS NOT new.outlet
          OR old.lag_seconds IS NOT new.lag_seconds BEGIN
        {_story_lags("old.story_id")} {_story_lags("new.story_id")} END""",
    "story_outlet_lags_insert": f"""
        AFTER INSERT ON story_outlet_lags BEGIN {_first_reports("+", "new")} END""",
    "story_outlet_lags_delete": f"""
        AFTER DELETE ON story_outlet_lags BEGIN {_first_reports("-", "old")} END""",
}


def _facet_counts_query() -> str:
    """facet_counts as GROUP BYs over articles and stories."""
    parts = []
    for table, keys in _FACET_KEYS.items():
        for scope, facet, value in keys:
            scope, value = scope.format(r=table), value.format(r=table)
            parts.append(
                f"SELECT '{table}', {scope}, {facet}, {value}, count(*) FROM {table}"
                f" WHERE ({scope}) IS NOT NULL AND ({value}) IS NOT NULL GROUP BY 2, 3, 4"
            )
        for scope, facet, col in _FACET_ARRAYS.get(table, []):
            scope = scope.format(r=table)
            parts.append(
                f"SELECT '{table}', {scope}, {facet}, j.value, count(DISTINCT {table}.rowid)"
                f" FROM {table}, json_each({_json(table, col)}) j"
                f" WHERE ({scope}) IS NOT NULL AND j.value IS NOT NULL GROUP BY 2, 4"
            )
    return " UNION ALL ".join(parts)


def _facet_counts_by_array_query() -> str:
    """m007's facet_counts rows (scopes of one array value) as GROUP BYs."""
    parts = []
    for table in _FACET_BY_ARRAY:
        for scope, facet, value, source in _by_array_keys(table, table):
            parts.append(
                f"SELECT '{table}', {scope}, {facet}, {value}, count(DISTINCT {table}.rowid)"
                f" FROM {table}, {source}"
                f" WHERE ({scope}) IS NOT NULL AND ({value}) IS NOT NULL GROUP BY 2, 4"
            )
    return " UNION ALL ".join(parts)


#: What the m005 summaries must equal, as GROUP BYs over the base tables (backfill and tests).
M005_SUMMARY_QUERIES = {
    "facet_counts": _facet_counts_query(),
    "story_outlet_lags": """SELECT m.story_id, m.outlet, min(m.lag_seconds) FROM story_members m
        JOIN stories s ON s.id = m.story_id WHERE s.outlets >= 2 GROUP BY m.story_id, m.outlet""",
    "outlet_first_reports": """SELECT ifnull(outlet, ''), count(*), sum(ifnull(lag_seconds = 0, 0)),
        sum(CASE WHEN lag_seconds > 0 THEN lag_seconds ELSE 0 END),
        sum(ifnull(lag_seconds > 0, 0)) FROM story_outlet_lags GROUP BY 1""",
}


@MIGRATIONS()
def m005_facet_and_first_report_summaries(db: sqlite_utils.Database) -> None:
    for sql in _M005_TABLES:
        db.execute(sql)
    for table, sql in M005_SUMMARY_QUERIES.items():
        db.execute(f"INSERT INTO {table} {sql}")
    for name, body in _M005_TRIGGERS.items():
        db.execute(f"CREATE TRIGGER {name} {body}")


@MIGRATIONS()
def m006_story_epoch(db: sqlite_utils.Database) -> None:
    """A counter that every change of story membership bumps, whoever makes it: the polling
    daemon keeps its story index between cycles while the counter is where it left it."""
    db.execute(
        "CREATE TABLE story_epoch (id INTEGER PRIMARY KEY CHECK (id = 1), epoch INTEGER NOT NULL)"
    )
    db.execute("INSERT INTO story_epoch (id, epoch) VALUES (1, 0)")
    for event in ("INSERT", "UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER story_members_epoch_{event.lower()} AFTER {event} ON story_members"
            " BEGIN UPDATE story_epoch SET epoch = epoch + 1; END"
        )


#: What the summaries must equal since m007 (facet_counts with the scopes of one array value).
M007_SUMMARY_QUERIES = {
    **M005_SUMMARY_QUERIES,
    "facet_counts": f"{_facet_counts_query()} UNION ALL {_facet_counts_by_array_query()}",
}


@MIGRATIONS()
def m007_facets_by_topic(db: sqlite_utils.Database) -> None:
    """facet_counts also for the rows of one topic (a topic facet value selected, issue 7):
    Datasette's count and facets of `?topics__arraycontains=X` read every row's `topics` (5 s
    at 1M articles); aggregator.webfacets answers them from here."""
    for name, body in _facet_triggers(by_array=True).items():
        db.execute(f"DROP TRIGGER IF EXISTS {name}")
        db.execute(f"CREATE TRIGGER {name} {body}")
    db.execute(f"INSERT INTO facet_counts {_facet_counts_by_array_query()}")
