"""Datasette reading while a fetch writes; two fetches at once; the writer lock (lock.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator.errors import DatabaseBusy
from aggregator.lock import hold
from aggregator.store import Store
from aggregator.web import database_name, make_datasette
from hostile_server import (
    RSS,
    HostileServer,
    check_integrity,
    content,
    delayed,
    fetch_cmd,
    respond,
    write_config,
    write_poll,
)

FEEDS, ITEMS = 40, 15


@pytest.fixture(scope="module")
def poll(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HostileServer, list[str]]]:
    folder = tmp_path_factory.mktemp("poll")
    with HostileServer() as server:
        urls = []
        for i, name in enumerate(write_poll(folder, FEEDS, ITEMS)):
            # A few slow feeds keep the fetch writing for a while (and holding its lock);
            # the slowest holds it for 8 s, so two processes started together overlap even
            # when one of them starts seconds late on a loaded machine.
            handler = respond((folder / name).read_bytes(), 200, RSS)
            delay = 8.0 if i == 0 else 0.5 * (i % 7)
            urls.append(server.route(f"/{name}", delayed(delay, handler)))
        yield server, urls


# --------------------------------------------------------------------------- the lock


def test_a_second_holder_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    with hold(db):
        with pytest.raises(DatabaseBusy) as caught:
            with hold(db):
                pass  # pragma: no cover
    message = str(caught.value)
    assert message.startswith(f"{db}: process {os.getpid()} is already updating")
    with hold(db):  # released when the block ended
        pass


HOLDER = textwrap.dedent(
    """
    import sys, time
    from aggregator.lock import hold
    with hold(sys.argv[1]):
        print("held", flush=True)
        time.sleep(60)
    """
)


def test_lock_of_a_killed_holder_is_free_at_once(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(DatabaseBusy, match=f"process {holder.pid} is already updating"):
            with hold(db):
                pass  # pragma: no cover
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
    with hold(db):  # no stale lock after kill -9
        pass


OPENER = textwrap.dedent(
    """
    import sys, time
    from aggregator.errors import StoreError
    from aggregator.store import Store
    time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # all start at one moment
    try:
        Store(sys.argv[1]).close()
    except StoreError as e:
        sys.exit(str(e))
    """
)


def test_processes_opening_one_new_database_at_once_all_succeed(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    start = time.time() + 2.0  # after every interpreter has started
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, str(db), str(start)], stderr=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors
    check_integrity(db)
    with Store(db) as store:
        names = [r[0] for r in store.db.execute("SELECT name FROM _sqlite_migrations")]
    assert names and len(names) == len(set(names))


def test_two_fetches_started_at_once(poll, tmp_path: Path) -> None:
    _, urls = poll
    config = write_config(tmp_path, urls, "two.db")
    db = tmp_path / "two.db"
    # An existing database, as on every run but the first (on a new one the second process
    # waits while the first sets it up, then meets the lock; see the test above).
    Store(db).close()
    procs = [
        subprocess.Popen(fetch_cmd(config), stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    results = [(p, p.communicate(timeout=120)[1]) for p in procs]

    codes = sorted(p.returncode for p, _ in results)
    assert codes == [0, 1], results
    (winner,) = [p for p, _ in results if p.returncode == 0]
    (stderr,) = [err for p, err in results if p.returncode == 1]
    assert stderr == (
        f"Error: {db}: process {winner.pid} is already updating this database;"
        " try again when it has finished\n"
    )
    check_integrity(db)
    found = content(db)  # (content() fails on duplicate rows)
    assert len(found["sightings"]) == FEEDS * ITEMS
    assert len(found["articles"]) == FEEDS * (ITEMS - 3) + 3


# --------------------------------------------------------------------------- Datasette


def test_datasette_reads_while_a_fetch_writes(poll, tmp_path: Path) -> None:
    _, urls = poll
    config = write_config(tmp_path, urls, "busy.db")
    db = tmp_path / "busy.db"
    Store(db).close()  # the schema, in WAL mode, before anyone reads
    ds = make_datasette(db)
    name = database_name(db)
    paths = [
        f"/{name}/articles.json?_shape=array&_size=20",
        f"/{name}/articles?_search=report",
        f"/{name}/articles?_facet=outlet",
        f"/{name}/sightings.json?_size=5",
        f"/{name}/fetch_log.json",
        f"/{name}.json?sql=select+count(*)+as+n+from+articles",
        f"/{name}/feed_health.json",
        f"/{name}/stories",
    ]

    async def read_while_fetching() -> tuple[list, list[int], int]:
        proc = await asyncio.create_subprocess_exec(*fetch_cmd(config))
        responses, seen = [], []
        while proc.returncode is None:
            batch = await asyncio.gather(*(ds.client.get(p) for p in paths * 2))
            responses += [(str(r.url), r.status_code, r.text) for r in batch]
            count = await ds.client.get(f"/{name}.json?sql=select+count(*)+from+articles")
            seen.append(count.json()["rows"][0][0])
            try:
                await asyncio.wait_for(proc.wait(), 0.01)
            except TimeoutError:
                pass
        return responses, seen, proc.returncode

    started = time.monotonic()
    responses, seen, returncode = asyncio.run(read_while_fetching())

    assert returncode == 0  # no failed write on the fetch side
    final = FEEDS * (ITEMS - 3) + 3
    # The reads overlapped the writes: they saw the database part-filled, more than once.
    assert len([n for n in seen if 0 < n < final]) >= 2, seen
    assert len(responses) >= 5 * len(paths)
    for url, status, text in responses:
        assert status == 200, (url, status, text[:500])
        assert "database is locked" not in text, url
    check_integrity(db)
    assert len(content(db)["sightings"]) == FEEDS * ITEMS
    assert time.monotonic() - started < 120  # generous: a hung reader would never end
