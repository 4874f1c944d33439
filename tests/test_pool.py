"""pool.py: parsing on worker processes gives exactly what parsing in-thread gives."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.models import PreparedFeed
from aggregator.pool import PrepareFailure, Preparer, TagJob, prepare_job, tag_lookup
from aggregator.store import Store
from aggregator.topics import Tagger
from aggregator.update import update
from conftest import CORPUS, RULES, make_config, rss

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
NEWS = sorted((CORPUS / "news").glob("*.xml"))[:6]
TAG = TagJob(RULES, (), ("feedtopic",))


def run_all(workers: int, docs: list[Path]) -> list[PreparedFeed | PrepareFailure]:
    async def go() -> list[PreparedFeed | PrepareFailure]:
        with Preparer(workers) as preparer:
            jobs = [
                preparer(
                    p.read_bytes(), url=f"https://e.org/{p.name}", headers={}, now=NOW, tag=TAG
                )
                for p in docs
            ]
            return list(await asyncio.gather(*jobs))

    return asyncio.run(go())


def test_workers_give_what_the_thread_gives() -> None:
    assert NEWS, "corpus news feeds missing"
    in_thread = run_all(0, NEWS)
    in_workers = run_all(2, NEWS)
    assert all(isinstance(p, PreparedFeed) and p.entries for p in in_thread)
    assert in_workers == in_thread
    # Tagged with the feed's fixed topic, one tuple per entry.
    first = in_thread[0]
    assert isinstance(first, PreparedFeed)
    assert len(first.tags) == len(first.entries)
    assert all(any(m.topic == "feedtopic" for m in t) for t in first.tags)


def test_a_document_that_is_no_feed_is_a_failure_value_from_a_worker() -> None:
    html = b"<!doctype html><html><body><p>hello</p></body></html>"

    async def go() -> PreparedFeed | PrepareFailure:
        with Preparer(1) as preparer:
            return await preparer(html, url="https://e.org/", headers={}, now=NOW)

    failure = asyncio.run(go())
    assert failure == PrepareFailure("ParseError", "not a feed: HTML page")


def test_an_unexpected_error_is_a_failure_value_with_its_traceback() -> None:
    failure = prepare_job(None, "https://e.org/", {}, NOW)  # type: ignore[arg-type]
    assert isinstance(failure, PrepareFailure)
    assert failure.error_class == "AttributeError"
    assert failure.detail and "Traceback" in failure.detail


def test_tag_lookup_answers_other_feed_topics_afresh() -> None:
    prepared = run_all(0, NEWS[:1])[0]
    assert isinstance(prepared, PreparedFeed)
    tagger = Tagger(RULES)
    tag = tag_lookup(prepared, ("feedtopic",), tagger)
    text = prepared.entries[0].tagging_text
    assert tag(text, ("feedtopic",)) == prepared.tags[0] == tagger.tag(text, ("feedtopic",))
    both = tag(text, ("feedtopic", "zzz"))
    assert {m.topic for m in both} >= {"feedtopic", "zzz"}


@pytest.mark.parametrize("workers", [0, 2])
def test_update_stores_the_same_rows_with_and_without_workers(
    tmp_path: Path, feed_dir: Path, feed_server, workers: int
) -> None:
    for i in range(3):
        items = [
            {"title": f"Drone strike {i}-{n}", "link": f"https://e.org/{i}/{n}?utm_source=x"}
            for n in range(4)
        ]
        (feed_dir / f"f{i}.xml").write_text(rss(items, title=f"Feed {i}"))
    (feed_dir / "bad.xml").write_text("<html><body>nope</body></html>")
    urls = [feed_server.base_url + n for n in ("f0.xml", "f1.xml", "f2.xml", "bad.xml")]
    config = make_config(tmp_path, urls)
    with Store(config.database_path) as store:
        summary = update(config, store, parse_workers=workers)
        rows = store.db.execute(
            "SELECT canonical_url, title, topics FROM articles ORDER BY canonical_url"
        ).fetchall()
    assert sorted(o.outcome for o in summary.outcomes) == ["ok", "ok", "ok", "parse_error"]
    assert len(rows) == 12
    assert rows[0] == ("https://e.org/0/0", "Drone strike 0-0", '["military"]')


KILLED_PARENT = """
import os, signal
from aggregator.pool import Preparer

preparer = Preparer(2)
futures = [preparer._pool.submit(os.getpid) for _ in range(8)]
print(" ".join(str(p) for p in {f.result() for f in futures}), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_workers_end_when_the_aggregator_is_killed(tmp_path: Path) -> None:
    """kill -9 of `aggregator fetch` must not leave its parse workers behind."""
    import os
    import subprocess
    import sys
    import time

    # Output to a file, not a pipe: the orphans would hold a pipe open, and we want to
    # see them, not wait for them.
    out = tmp_path / "pids"
    with out.open("w") as stdout:
        proc = subprocess.run(
            [sys.executable, "-c", KILLED_PARENT],
            stdout=stdout,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
    assert proc.returncode == -9
    workers = [int(p) for p in out.read_text().split()]
    assert workers

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    deadline = time.monotonic() + 15
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in workers if alive(p)]
