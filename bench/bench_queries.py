"""Datasette on a 1M-article database: p50 of canned queries, table pages with facets, FTS search.

    python bench/bench_queries.py                      # 1,000,000 articles (built once, cached)
    python bench/bench_queries.py --articles 100000    # a smaller database

The database is built once under bench/.cache/articles-<N>.db: `Store()` creates the real
schema (migrations, FTS5 triggers, indexes) and `sync_config` stores 100 outlets, 2,000 feeds
and the committed feeds.yaml's topics; then a bulk path fills articles (FTS kept by the
triggers), sightings (10 % carried by a second feed), article_topics, stories of about three
articles with their members and fetch_log, seeded, 1,000 articles a day (about 2.7 years).
The queries go through Datasette's own client (`make_datasette(path).client`, aggregator's
metadata and time limits): each is run once cold, then --runs times; the p50 is reported
with the issue #7 target of 50 ms. A query Datasette cut off (sql_time_limit_ms) or a facet
that timed out is shown as such. Writes bench/results/<date>-queries-<N>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import io
import json
import random
import re
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedgen  # bench/feedgen.py: shadows the `feedgen` package that datasette-atom imports
from aggregator.config import load_config
from aggregator.store import Store
from benchlib import CACHE, REPO, log, stamp, write_result

# Datasette loads its plugins (datasette-atom -> feedgen.feed) on import: let it find the
# real feedgen package, then put ours back under its name for this script.
sys.modules["bench_feedgen"] = sys.modules.pop("feedgen")
_bench_dir = sys.path.pop(0)
from aggregator.web import database_name, make_datasette  # noqa: E402

sys.path.insert(0, _bench_dir)
sys.modules["feedgen"] = sys.modules["bench_feedgen"]

START = datetime(2024, 1, 1, tzinfo=UTC)
PER_DAY = 1_000
FEEDS = 2_000
CHUNK = 20_000


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _config(folder: Path) -> Path:
    """A feeds.yaml with FEEDS feeds over 100 outlets and the committed topics."""
    from bench_poll import feeds_yaml

    class Args:
        concurrency, per_host = 32, 4

    urls = [
        (f"http://{feedgen.HOSTS[i % 100]}/feeds/{i:05d}.xml", f"Outlet {i % 100:03d}")
        for i in range(FEEDS)
    ]
    path = folder / "feeds-queries.yaml"
    feeds_yaml(path, urls, Args)  # type: ignore[arg-type]
    return path


def build(path: Path, n: int, seed: int = 7) -> None:
    """Fill a new database at `path` with n articles and what hangs off them."""
    tmp = path.with_suffix(".building")
    for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        p.unlink(missing_ok=True)
    config = load_config(_config(CACHE))
    words = feedgen.Words()
    rng = random.Random(seed)
    topics = [t.name for t in config.topics]
    with Store(tmp) as store:
        store.sync_config(config)
        feeds = store.feed_states()
        feed_rows = sorted(feeds.values(), key=lambda f: f.id)
        conn = store.db.conn
        conn.execute("PRAGMA synchronous = OFF")
        # A story's members arrive before its row (it is written when it closes): check the
        # foreign keys once at the end instead.
        conn.execute("PRAGMA foreign_keys = OFF")
        t0 = time.perf_counter()
        story_id = 0
        story: dict[str, Any] = {}
        for start in range(0, n, CHUNK):
            articles, sightings, tagged, members, stories = [], [], [], [], []
            for i in range(start, min(n, start + CHUNK)):
                article_id = i + 1
                feed = feed_rows[rng.randrange(len(feed_rows))]
                published = START + timedelta(seconds=i * 86_400 / PER_DAY + rng.random() * 60)
                title = " ".join(words.pick(rng, rng.randint(7, 14))).capitalize()
                summary = " ".join(words.pick(rng, rng.randint(30, 70))).capitalize() + "."
                content = (
                    " ".join(words.pick(rng, rng.randint(100, 200))) if rng.random() < 0.2 else None
                )
                url = f"https://{feed.outlet.replace(' ', '-').lower()}.example/a/{article_id}"
                chosen = sorted(set(rng.choices(topics, k=rng.choice((1, 1, 2)))))
                stamp_ = iso(published + timedelta(minutes=5))
                digest = hashlib.sha1(f"{seed}:{article_id}".encode()).hexdigest()
                articles.append(
                    (
                        article_id,
                        url,
                        url,
                        url + "?utm_source=rss",
                        title,
                        f"<p>{summary}</p>",
                        f"<p>{content}</p>" if content else None,
                        summary,
                        content,
                        "[]",
                        "[]",
                        "[]",
                        "en",
                        iso(published),
                        None,
                        0,
                        stamp_,
                        stamp_,
                        digest,
                        feed.id,
                        feed.outlet,
                        json.dumps(chosen),
                    )  # fmt: skip
                )
                sightings.append(
                    (feed.id, f"guid-{article_id}", article_id, "guid", url, digest, stamp_, stamp_)
                )
                if rng.random() < 0.1:
                    other = feed_rows[rng.randrange(len(feed_rows))]
                    if other.id != feed.id:
                        sightings.append(
                            (
                                other.id,
                                f"guid-{article_id}",
                                article_id,
                                "guid",
                                url,
                                digest,
                                stamp_,
                                stamp_,
                            )  # fmt: skip
                        )
                tagged += [(article_id, t, f"keyword:{t}") for t in chosen]
                # Stories: runs of one to six consecutive articles.
                if not story or rng.random() < 0.33:
                    if story:
                        stories.append(story)
                    story_id += 1
                    story = {"id": story_id, "title": title, "first": published,
                             "last": published, "article": article_id, "outlet": feed.outlet,
                             "articles": 0, "outlets": set(), "topics": set()}  # fmt: skip
                lag = round((published - story["first"]).total_seconds())
                members.append(
                    (
                        article_id,
                        story_id,
                        1.0 if lag == 0 else round(rng.uniform(0.17, 0.9), 4),
                        "first" if lag == 0 else "tfidf",
                        0,
                        feed.outlet,
                        iso(published),
                        lag,
                    )  # fmt: skip
                )
                story["last"] = published
                story["articles"] += 1
                story["outlets"].add(feed.outlet)
                story["topics"].update(chosen)
            if start + CHUNK >= n and story:
                stories.append(story)
            with store.transaction():
                conn.executemany(
                    "INSERT INTO articles (id, dedup_key, canonical_url, url, title, summary_html,"
                    " content_html, summary_text, content_text, authors, categories, enclosures,"
                    " language, published, updated, date_is_fallback, first_seen, last_changed,"
                    " content_hash, feed_id, outlet, topics) VALUES"
                    " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    articles,
                )
                conn.executemany(
                    "INSERT OR IGNORE INTO sightings (feed_id, entry_id, article_id, id_source,"
                    " entry_url, content_hash, first_seen, last_seen)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    sightings,
                )
                conn.executemany(
                    "INSERT INTO article_topics (article_id, topic, rule) VALUES (?, ?, ?)",
                    tagged,
                )
                conn.executemany(
                    "INSERT INTO stories (id, title, first_published, last_published,"
                    " first_article_id, first_outlet, articles, outlets, syndicated, topics)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
                    [
                        (
                            s["id"],
                            s["title"],
                            iso(s["first"]),
                            iso(s["last"]),
                            s["article"],
                            s["outlet"],
                            s["articles"],
                            len(s["outlets"]),
                            json.dumps(sorted(s["topics"])),
                        )  # fmt: skip
                        for s in stories
                    ],
                )
                conn.executemany(
                    "INSERT INTO story_members (article_id, story_id, score, method, syndicated,"
                    " outlet, published, lag_seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    members,
                )
            done = min(n, start + CHUNK)
            rate = done / (time.perf_counter() - t0)
            log(f"  {done:,} articles ({rate:,.0f}/s)")
        # Fifty polls of every feed in fetch_log.
        with store.transaction():
            conn.executemany(
                "INSERT INTO fetch_log (feed_id, url, final_url, started, duration_ms, status,"
                " bytes, outcome, new_entries, updated_entries)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        f.id,
                        f.url,
                        f.url,
                        iso(START + timedelta(hours=h)),
                        40,
                        304,
                        None,
                        "not_modified",
                        0,
                        0,
                    )  # fmt: skip
                    for h in range(50)
                    for f in feed_rows
                ],
            )
        broken = conn.execute("PRAGMA foreign_key_check").fetchmany(5)
        if broken:
            raise SystemExit(f"bench database has dangling references: {broken}")
        # No ANALYZE: aggregator's own databases have no sqlite_stat1 either, and the query
        # planner's choices are part of what is measured.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    tmp.replace(path)


def queries(db: str, word: str, story_id: int, next_page: str) -> list[tuple[str, str]]:
    """(label, path) of what a reader of the 1M database asks Datasette."""
    q = f"/{db}/"
    return [
        ("articles table page (HTML: facets, count)", f"{q}articles"),
        ("articles table .json (facets, count)", f"{q}articles.json"),
        ("articles FTS search (table ?_search=)", f"{q}articles.json?_search={word}"),
        ("articles FTS search page (HTML)", f"{q}articles?_search={word}"),
        ("articles outlet facet selected", f"{q}articles.json?outlet=Outlet+007"),
        ("articles next page (?_next=)", f"{q}articles.json?_next={next_page}"),
        ("articles date facet selected", f"{q}articles.json?published__date=2025-06-01"),
        ("articles topic facet selected", f"{q}articles.json?topics__arraycontains=sanctions"),
        ("stories table .json (facets)", f"{q}stories.json"),
        ("stories first outlet selected", f"{q}stories.json?first_outlet=Outlet+007"),
        ("canned: latest_by_topic", f"{q}latest_by_topic.json?topic=sanctions"),
        ("canned: search", f"{q}search.json?q={word}"),
        ("canned: topic_day_counts", f"{q}topic_day_counts.json"),
        ("canned: feed_health", f"{q}feed_health.json"),
        ("canned: carried_by_outlets", f"{q}carried_by_outlets.json"),
        ("canned: biggest_stories", f"{q}biggest_stories.json"),
        ("canned: story", f"{q}story.json?story_id={story_id}"),
        ("canned: first_reporters", f"{q}first_reporters.json"),
        ("canned: every_side", f"{q}every_side.json"),
        ("canned: outlets_missing_story", f"{q}outlets_missing_story.json?story_id={story_id}"),
    ]


def _problem(response: Any) -> str | None:
    if response.status_code != 200:
        text = response.text
        try:
            text = response.json().get("error") or text
        except ValueError:
            pass
        text = " ".join(
            re.sub(r"<textarea.*", "", re.sub(r"<[^>]+>", "", text), flags=re.S).split()
        )
        return f"HTTP {response.status_code}: {text[:100]}"
    if response.headers.get("content-type", "").startswith("application/json"):
        data = response.json()
        if data.get("facets_timed_out"):
            return f"facets timed out: {', '.join(data['facets_timed_out'])}"
    return None


async def measure(path: Path, runs: int) -> list[dict[str, Any]]:
    ds = make_datasette(path)
    await ds.invoke_startup()
    db = database_name(path)
    words = feedgen.Words()
    word = words.words[300]
    story_id = 1000
    next_page = (await ds.client.get(f"/{db}/articles.json?_nofacet=1")).json()["next"]
    out = []
    for label, url in queries(db, word, story_id, next_page):
        times = []
        problems: list[str | None] = []
        for _ in range(runs + 1):
            # Datasette prints a rich traceback for a query it cut off: keep the output readable.
            with (
                contextlib.redirect_stdout(io.StringIO()),
                contextlib.redirect_stderr(io.StringIO()),
            ):
                t0 = time.perf_counter()
                response = await ds.client.get(url)
                times.append(time.perf_counter() - t0)
            problems.append(_problem(response))
        rows = None
        if response.headers.get("content-type", "").startswith("application/json"):
            data = response.json()
            rows = len(data.get("rows", ()))
            if data.get("truncated"):
                rows = f"{rows} (truncated)"
        p50 = statistics.median(times[1:])
        seen = [p for p in problems if p]
        problem = seen[0] if seen else None
        if problem and not any(problems[1:]):
            problem = f"cold run only: {problem}"
        elif problem:
            problem = f"{len(seen)} of {len(problems)} runs: {problem}"
        out.append(
            {
                "query": label,
                "path": url,
                "first_ms": times[0] * 1e3,
                "p50_ms": p50 * 1e3,
                "max_ms": max(times[1:]) * 1e3,
                "problem": problem,
            }  # fmt: skip
        )
        flag = "" if p50 <= 0.05 and not problem else "  ✗"
        log(f"  {label:<45} p50 {p50 * 1e3:8.1f} ms{flag} {problem or ''}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7, help="timed runs after one cold run")
    args = parser.parse_args()
    info = stamp()
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"articles-{args.articles}.db"
    if not path.exists():
        log(f"building {path.relative_to(REPO)} (once) ...")
        t0 = time.perf_counter()
        build(path, args.articles)
        log(f"  built in {time.perf_counter() - t0:.0f} s, {path.stat().st_size / 1e6:.0f} MB")
    # A database cached before a new migration is brought up to date as `aggregator` would
    # when it opens it (the migration backfills its summaries): that time is reported too.
    t0 = time.perf_counter()
    with Store(path) as store:
        migrated = store.db.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0]
    migrate_s = time.perf_counter() - t0
    log(f"  schema up to date ({migrated} migrations), opening took {migrate_s:.1f} s")
    results = asyncio.run(measure(path, args.runs))
    print(f"\nDatasette on {args.articles:,} articles — p50 of {args.runs} runs (target ≤ 50 ms)")
    print(f"  {'query':<45} {'first ms':>9} {'p50 ms':>9}  ")
    for r in results:
        mark = "ok" if r["p50_ms"] <= 50 and not r["problem"] else "✗"
        print(f"  {r['query']:<45} {r['first_ms']:>9.1f} {r['p50_ms']:>9.1f}  {mark} "
              f"{r['problem'] or ''}")  # fmt: skip
    data = {
        **info,
        "scenario": "queries",
        "params": {"articles": args.articles, "runs": args.runs, "db_bytes": path.stat().st_size},
        "open_and_migrate_seconds": migrate_s,
        "results": results,
    }
    out = write_result(f"queries-{args.articles}", data)
    print(f"\nwrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
