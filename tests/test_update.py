"""The whole pipeline through a real loopback HTTP server into a real SQLite file."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import feedparser
import pytest

from aggregator.feedserver import serve_folder
from aggregator.models import OutletConfig
from aggregator.store import Store
from aggregator.update import update
from conftest import CORPUS, EVAL_DEV, make_config, rss

FEED_FOLDERS = ("encoding", "illformed", "jsonfeed", "news", "realworld", "wellformed")


def _corpus_files() -> list[Path]:
    return sorted(p for folder in FEED_FOLDERS for p in (CORPUS / folder).iterdir())


def _feedparser_entries(path: Path) -> list:
    return feedparser.parse(path.read_bytes()).entries


def _json_feed_items(path: Path) -> list | None:
    try:
        doc = json.loads(path.read_bytes())
    except ValueError:
        return None
    if isinstance(doc, dict) and "jsonfeed.org" in str(doc.get("version", "")):
        return [i for i in doc.get("items") or [] if isinstance(i, dict)]
    return None


def test_every_readable_corpus_feed_lands(tmp_path: Path) -> None:
    """Every corpus file that feedparser (or, for JSON Feed, json) can read lands in SQLite."""
    files = _corpus_files()
    assert len(files) > 100
    with serve_folder(CORPUS) as server:
        urls = [server.base_url + str(p.relative_to(CORPUS)) for p in files]
        config = make_config(tmp_path, urls)
        with Store(config.database_path) as store:
            summary = update(config, store)
            per_feed = dict(
                store.db.execute(
                    "SELECT f.url, count(s.entry_id) FROM feeds f"
                    " LEFT JOIN sightings s ON s.feed_id = f.id GROUP BY f.id"
                ).fetchall()
            )
    assert len(summary.outcomes) == len(files)
    outcome = {o.url: o for o in summary.outcomes}
    readable = 0
    for path, url in zip(files, urls, strict=True):
        items = _json_feed_items(path) if path.suffix == ".json" else None
        expected = items if items is not None else _feedparser_entries(path)
        if not expected:
            continue
        readable += 1
        assert outcome[url].outcome == "ok", (path.name, outcome[url])
        assert 1 <= per_feed[url] <= len(expected), path.name
        ids = [e.get("id") for e in expected]
        if all(ids) and len(set(ids)) == len(ids):
            # Distinct, non-blank ids: every entry is its own sighting.
            assert per_feed[url] == len(expected), path.name
    assert readable > 90  # 98 of the 144 files are feeds feedparser or json can read


def test_dev_feeds_twice_one_row_per_canonical_url(tmp_path: Path, eval_server) -> None:
    truth = json.loads((EVAL_DEV / "truth.json").read_text())["entries"]
    files = sorted({e["feed"] for e in truth.values()})
    config = make_config(tmp_path, [eval_server.base_url + f for f in files])
    with Store(config.database_path) as store:
        first = update(config, store)
        counts_after_first = store.counts()
        canonical = {
            r[0] for r in store.db.execute("SELECT canonical_url FROM articles").fetchall()
        }
        second = update(config, store)
        counts_after_second = store.counts()
    assert not first.failed and first.count("ok") == 9
    # truth.json's exact duplicates collapse: one article per distinct canonical URL.
    assert canonical == {e["canonical_url"] for e in truth.values()}
    assert counts_after_first["articles"] == len(canonical)
    assert counts_after_first["sightings"] == len(truth)
    # The second poll sent the stored validators back and was answered 304 for every feed.
    assert second.count("not_modified") == 9
    assert eval_server.not_modified == 9
    assert second.new == 0
    assert counts_after_second["articles"] == counts_after_first["articles"]
    assert counts_after_second["sightings"] == counts_after_first["sightings"]
    assert counts_after_second["fetch_log"] == counts_after_first["fetch_log"] + 9


def test_bad_feed_among_good_ones(tmp_path: Path, feed_dir: Path, feed_server) -> None:
    (feed_dir / "good.xml").write_text(rss([{"title": "A", "link": "https://e.org/a"}]))
    (feed_dir / "page.html").write_text("<html><body><p>Not a feed</p></body></html>")
    urls = [feed_server.base_url + n for n in ("good.xml", "page.html", "missing.xml")]
    config = make_config(tmp_path, urls)
    with Store(config.database_path) as store:
        summary = update(config, store)
        log = store.db.execute(
            "SELECT url, outcome, status, error_class FROM fetch_log ORDER BY url"
        ).fetchall()
        articles = store.counts()["articles"]
    assert articles == 1
    assert {o.url: o.outcome for o in summary.outcomes} == {
        urls[0]: "ok",
        urls[1]: "parse_error",
        urls[2]: "error",
    }
    assert sorted(log) == sorted(
        [
            (urls[0], "ok", 200, None),
            (urls[1], "parse_error", 200, "ParseError"),
            (urls[2], "error", 404, "HTTPStatus"),
        ]
    )


def test_edited_entry_updated_in_place(tmp_path: Path, feed_dir: Path, feed_server) -> None:
    item = {"title": "Drone strike on depot", "link": "https://e.org/a", "guid": "a-1"}
    (feed_dir / "f.xml").write_text(rss([item]))
    config = make_config(tmp_path, [feed_server.base_url + "f.xml"])
    with Store(config.database_path) as store:
        update(config, store)
        before = store.db.execute("SELECT id, title, updated, topics FROM articles").fetchall()
        (feed_dir / "f.xml").write_text(rss([{**item, "title": "New sanctions on depot owner"}]))
        summary = update(config, store)
        after = store.db.execute("SELECT id, title, updated, topics FROM articles").fetchall()
    assert summary.updated == 1 and summary.new == 0
    assert len(before) == len(after) == 1
    assert before[0][0] == after[0][0]
    assert after[0][1] == "New sanctions on depot owner"
    assert before[0][2] is None and after[0][2] is not None
    assert json.loads(before[0][3]) == ["military"]
    assert json.loads(after[0][3]) == ["sanctions"]


def test_same_article_in_two_feeds_with_tracking_params(
    tmp_path: Path, feed_dir: Path, feed_server
) -> None:
    (feed_dir / "world.xml").write_text(
        rss([{"title": "Talks", "link": "https://News.example/a?id=7&utm_source=rss"}])
    )
    (feed_dir / "europe.xml").write_text(
        rss([{"title": "Talks", "link": "https://news.example/a?id=7&utm_medium=feed#top"}])
    )
    (feed_dir / "agg.xml").write_text(
        rss([{"title": "Talks (via)", "link": "https://news.example:443/a?id=7&fbclid=x"}])
    )
    outlets = (OutletConfig(name="News"), OutletConfig(name="Aggregator"))
    config = make_config(
        tmp_path,
        [feed_server.base_url + n for n in ("world.xml", "europe.xml", "agg.xml")],
        outlets=outlets,
        feed_outlets=["News", "News", "Aggregator"],
    )
    with Store(config.database_path) as store:
        update(config, store)
        articles = store.db.execute("SELECT id, canonical_url FROM articles").fetchall()
        sightings = store.db.execute(
            "SELECT count(*), count(DISTINCT f.outlet) FROM sightings s"
            " JOIN feeds f ON f.id = s.feed_id"
        ).fetchone()
    assert articles == [(1, "https://news.example/a?id=7")]
    assert sightings == (3, 2)


def test_unchanged_body_is_not_parsed_again(tmp_path: Path, feed_dir: Path, feed_server) -> None:
    """A server that ignores validators: the same bytes are recognised by their hash."""
    (feed_dir / "f.xml").write_text(rss([{"title": "A", "link": "https://e.org/a"}]))
    config = make_config(tmp_path, [feed_server.base_url + "f.xml"])
    with Store(config.database_path) as store:
        update(config, store)
        # Forget the validators so the server answers 200 with the same body.
        store.db.execute("UPDATE feeds SET etag = NULL, last_modified = NULL")
        store.db.conn.commit()
        summary = update(config, store)
    assert [o.outcome for o in summary.outcomes] == ["unchanged"]


def test_feed_topics_and_rules_recorded(tmp_path: Path, feed_dir: Path, feed_server) -> None:
    (feed_dir / "f.xml").write_text(
        rss(
            [
                {"title": "EU adopts new sanctions", "link": "https://e.org/1"},
                {"title": "Football results", "link": "https://e.org/2"},
            ]
        )
    )
    config = make_config(
        tmp_path, [feed_server.base_url + "f.xml"], feed_topics=[("ukraine-desk",)]
    )
    with Store(config.database_path) as store:
        update(config, store)
        rows = store.db.execute(
            "SELECT a.title, t.topic, t.rule FROM article_topics t"
            " JOIN articles a ON a.id = t.article_id ORDER BY a.title, t.topic"
        ).fetchall()
    assert rows == [
        ("EU adopts new sanctions", "sanctions", "keyword:sanction"),
        ("EU adopts new sanctions", "ukraine-desk", "feed"),
        ("Football results", "ukraine-desk", "feed"),
    ]


@pytest.mark.parametrize("name", ["kyiv_ledger.xml", "newspulse_top.xml"])
def test_dev_feed_dates_are_utc(tmp_path: Path, eval_server, name: str) -> None:
    truth = json.loads((EVAL_DEV / "truth.json").read_text())["entries"]
    config = make_config(tmp_path, [eval_server.base_url + name])
    with Store(config.database_path) as store:
        update(config, store)
        stored = Counter(
            r[0] for r in store.db.execute("SELECT published FROM articles").fetchall()
        )
    expected = Counter(e["published_utc"] for e in truth.values() if e["feed"] == name)
    assert stored == expected


def test_fetch_groups_new_articles_into_stories_and_recluster_agrees(
    tmp_path: Path, feed_dir: Path, feed_server
) -> None:
    """Clustering runs after every fetch on the new articles only; a rebuild agrees with it."""
    from aggregator.update import recluster

    (feed_dir / "a.xml").write_text(
        rss(
            [
                {
                    "title": "Kyiv says Russian drones hit Odesa port grain terminal overnight",
                    "link": "https://a.example/1",
                    "description": "Drones struck the Odesa grain terminal, the governor said.",
                    "pubDate": "Mon, 16 Nov 2026 06:00:00 GMT",
                }
            ]
        )
    )
    (feed_dir / "b.xml").write_text(rss([]))
    config = make_config(
        tmp_path,
        [feed_server.base_url + "a.xml", feed_server.base_url + "b.xml"],
        outlets=(OutletConfig(name="A"), OutletConfig(name="B")),
        feed_outlets=["A", "B"],
    )
    with Store(config.database_path) as store:
        first = update(config, store)
        (feed_dir / "b.xml").write_text(
            rss(
                [
                    {
                        "title": "Russian drones strike Odessa port grain terminal, Kiev says",
                        "link": "https://b.example/1",
                        "description": "Drones hit the grain terminal at Odessa port overnight.",
                        "pubDate": "Mon, 16 Nov 2026 07:30:00 GMT",
                    },
                    {
                        "title": "Chess champion wins rapid title in Oslo",
                        "link": "https://b.example/2",
                        "description": "The world champion won the rapid event on tiebreaks.",
                        "pubDate": "Mon, 16 Nov 2026 08:00:00 GMT",
                    },
                ]
            )
        )
        second = update(config, store)
        members = store.db.execute(
            "SELECT a.url, m.story_id, m.lag_seconds FROM story_members m"
            " JOIN articles a ON a.id = m.article_id ORDER BY a.url"
        ).fetchall()
        story = store.db.execute(
            "SELECT first_outlet, outlets, articles FROM stories WHERE id = ?", [members[0][1]]
        ).fetchone()
        articles, stories = recluster(store)
        rebuilt = store.db.execute(
            "SELECT a.url, m.story_id FROM story_members m"
            " JOIN articles a ON a.id = m.article_id ORDER BY a.url"
        ).fetchall()
    assert (first.clustered, first.new_stories) == (1, 1)
    assert (second.clustered, second.new_stories) == (2, 1)
    by_url = {url: (story_id, lag) for url, story_id, lag in members}
    assert by_url["https://a.example/1"][0] == by_url["https://b.example/1"][0]
    assert by_url["https://b.example/2"][0] != by_url["https://a.example/1"][0]
    assert by_url["https://b.example/1"][1] == 90 * 60
    assert story == ("A", 2, 2)
    assert (articles, stories) == (3, 2)
    assert [s for _, s in rebuilt][0] == [s for _, s in rebuilt][1] != [s for _, s in rebuilt][2]


def test_unexpected_error_in_one_feed_does_not_stop_the_run(
    tmp_path: Path, feed_dir: Path, feed_server, monkeypatch
) -> None:
    import aggregator.pool

    real = aggregator.pool.normalize_feed

    def fragile(feed, *, now):
        if feed.title == "Cursed":
            raise ValueError("a corner case nobody foresaw")
        return real(feed, now=now)

    monkeypatch.setattr(aggregator.pool, "normalize_feed", fragile)
    (feed_dir / "a.xml").write_text(rss([{"title": "A", "link": "https://e.org/a"}]))
    (feed_dir / "b.xml").write_text(
        rss([{"title": "B", "link": "https://e.org/b"}], title="Cursed")
    )
    config = make_config(tmp_path, [feed_server.base_url + n for n in ("a.xml", "b.xml")])
    with Store(config.database_path) as store:
        summary = update(config, store)
        log = store.db.execute("SELECT url, outcome, error_class FROM fetch_log").fetchall()
        titles = [r[0] for r in store.db.execute("SELECT title FROM articles")]
    assert titles == ["A"]
    assert sorted(log) == [
        (feed_server.base_url + "a.xml", "ok", None),
        (feed_server.base_url + "b.xml", "parse_error", "ValueError"),
    ]
    assert [o.error for o in summary.failed] == [
        "unexpected ValueError: a corner case nobody foresaw"
    ]


def test_small_writes_share_a_transaction_and_entry_writes_go_alone(tmp_path: Path) -> None:
    """_BatchWriter: writes queued together share one transaction unless they store
    entries; each write still sees its own result, and one failing write fails only its
    batch."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from aggregator.errors import StoreError
    from aggregator.update import _BatchWriter

    seen: list[tuple[str, bool]] = []

    with Store(tmp_path / "t.db") as store, ThreadPoolExecutor(max_workers=1) as thread:

        def job(name: str, fail: bool = False):
            def run():
                seen.append((name, store.db.conn.in_transaction))
                if fail:
                    raise StoreError("disk full", path=store.path)
                return name

            return run

        async def main():
            writer = _BatchWriter(store, thread)

            def small(name: str):
                return asyncio.ensure_future(writer.write(job(name), alone=False))

            first = [small(f"s{i}") for i in range(3)]
            alone = asyncio.ensure_future(writer.write(job("entries"), alone=True))
            late = [small(f"t{i}") for i in range(2)]
            alone_again = asyncio.ensure_future(writer.write(job("more"), alone=True))
            broken = [
                asyncio.ensure_future(writer.write(job("u0", fail=True), alone=False)),
                asyncio.ensure_future(writer.write(job("u1"), alone=False)),
            ]
            results = await asyncio.gather(*first, alone, *late, alone_again)
            errors = await asyncio.gather(*broken, return_exceptions=True)
            await writer.close()
            return results, errors

        results, errors = asyncio.run(main())

    assert results == ["s0", "s1", "s2", "entries", "t0", "t1", "more"]
    # All were queued before the store thread took the first batch: the three small ones
    # in one transaction, the entry write alone, the next small ones together; the
    # failing write takes down its own batch only.
    assert seen == [
        ("s0", True), ("s1", True), ("s2", True), ("entries", False), ("t0", True),
        ("t1", True), ("more", False), ("u0", True),
    ]  # fmt: skip
    assert all(isinstance(e, StoreError) for e in errors)


def _no_tags(text: str, feed_topics: object) -> tuple:
    return ()


def test_cluster_cache_spares_the_reseeding_and_gives_the_same_stories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon's ClusterCache: the dev set stored in two runs (older half, then newer
    half); the second run reuses the first run's story index instead of reading the window
    back, with the same stories as a fresh index. After `recluster` (the epoch moved) the
    cache is not used."""
    from datetime import UTC, datetime

    from aggregator import store_stories
    from aggregator.models import FetchResult
    from aggregator.normalize import normalize_feed
    from aggregator.parse import parse_feed
    from aggregator.update import CLUSTER_SETTINGS, ClusterCache, cluster_new, recluster

    now = datetime(2026, 11, 25, tzinfo=UTC)
    feeds = [
        (
            f"http://127.0.0.1:9/{p.name}",
            normalize_feed(parse_feed(p.read_bytes(), url=""), now=now),
        )
        for p in sorted(EVAL_DEV.glob("*.xml"))
    ]
    times = sorted(e.published for _, entries in feeds for e in entries)
    cutoff = times[len(times) // 2]
    seeds: list[int] = []
    real_recent = store_stories.recent_members
    monkeypatch.setattr(
        store_stories,
        "recent_members",
        lambda store, since, limit=None: seeds.append(1) or real_recent(store, since, limit),
    )

    def two_runs(folder: str, cache: ClusterCache | None) -> set[frozenset[str]]:
        (tmp_path / folder).mkdir()
        config = make_config(tmp_path / folder, [url for url, _ in feeds])
        with Store(config.database_path) as store:
            store.sync_config(config)
            for older in (True, False):
                states = store.feed_states()
                for url, entries in feeds:
                    part = [e for e in entries if (e.published < cutoff) == older]
                    result = FetchResult(
                        url=url, final_url=url, status=200, started=now, duration=0.1
                    )
                    store.save_entries(
                        states[url],
                        result,
                        part,
                        tag=lambda t, f: (),
                        now=now,
                        body_hash=str(older),
                    )
                cluster_new(store, CLUSTER_SETTINGS, cache)
            groups: dict[int, set[str]] = {}
            for url, story in store.db.execute(
                "SELECT a.url, m.story_id FROM story_members m"
                " JOIN articles a ON a.id = m.article_id"
            ):
                groups.setdefault(story, set()).add(url)
            if cache is not None:
                recluster(store)
                horizon = cache.clusterer.horizon
                assert cache.reusable(store, CLUSTER_SETTINGS, horizon) is None
        return {frozenset(g) for g in groups.values()}

    fresh = two_runs("fresh", None)
    assert len(seeds) == 2
    seeds.clear()
    cached = two_runs("cached", ClusterCache())
    assert len(seeds) == 1  # the second run used the first run's index
    assert cached == fresh
    assert 1 < len(fresh) < sum(len(g) for g in fresh)  # something clustered, not everything
