"""kill -9 during a fetch, a full disk, a read-only database: nothing half-written, nothing lost.

`aggregator fetch` runs as a real subprocess over a generated poll served on 127.0.0.1
(tests/hostile_server.write_poll). The database is compared with a clean, uninterrupted run
as sets read back with SQL, so row ids and timestamps do not matter, content does.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator.config import load_config
from aggregator.store import Store
from aggregator.update import update
from hostile_server import (
    RSS,
    HostileServer,
    check_integrity,
    content,
    fetch_cmd,
    logged,
    respond,
    write_config,
    write_poll,
)

FEEDS, ITEMS = 20, 12


#: Starting Python and importing aggregator takes about a second, which 20+ kills cannot
#: afford on a busy machine; so a "zygote" process imports it once, then for each config
#: path read on stdin forks a child that runs `aggregator -c <path> fetch --quiet` (the
#: real CLI, in its own process, with nothing open yet), prints the child's pid, and when
#: the child ends prints how it ended ("-9" for SIGKILL).
ZYGOTE = """
import os, sys
from aggregator.cli import cli
for line in sys.stdin:
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        try:
            cli(["-c", line.strip(), "fetch", "--quiet"])
        except SystemExit as e:
            os._exit(e.code if isinstance(e.code, int) else 1)
        os._exit(0)
    print(pid, flush=True)
    status = os.waitpid(pid, 0)[1]
    print(-os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status), flush=True)
"""


class Zygote:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def fetch(self, config: Path) -> int:
        """Start a fetch; its pid."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{config}\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def ended(self) -> int:
        """Wait for the fetch to end: its exit code, or minus the signal that ended it."""
        assert self.proc.stdout is not None
        return int(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)


@pytest.fixture(scope="module")
def poll(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    folder = tmp_path_factory.mktemp("poll")
    names = write_poll(folder, FEEDS, ITEMS)
    with HostileServer() as server:  # here a fast, well-behaved one (no validators)
        yield [server.route(f"/{n}", respond((folder / n).read_bytes(), 200, RSS)) for n in names]


@pytest.fixture(scope="module")
def clean(poll: list[str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, frozenset]:
    """The content after one uninterrupted `aggregator fetch`."""
    folder = tmp_path_factory.mktemp("clean")
    config = write_config(folder, poll, "clean.db")
    subprocess.run(fetch_cmd(config), check=True, timeout=120)
    result = content(folder / "clean.db")
    assert len(result["articles"]) == FEEDS * (ITEMS - 3) + 3  # 3 shared by every feed
    assert len(result["sightings"]) == FEEDS * ITEMS
    return result


def test_kill_9_at_many_moments_then_rerun_equals_a_clean_run(
    poll: list[str], clean: dict[str, frozenset], tmp_path: Path
) -> None:
    rng = random.Random(6)
    # Kill points: while starting up (no fetch_log row yet), after each k of FEEDS feeds was
    # stored (plus a random few ms into the next), and after the last (clustering, exit).
    targets = [0, *range(1, FEEDS + 1), FEEDS]
    landed: list[int] = []
    zygote = Zygote()
    try:
        for n, target in enumerate(targets):
            config = write_config(tmp_path, poll, f"kill{n}.db")
            db = tmp_path / f"kill{n}.db"
            pid = zygote.fetch(config)
            deadline = time.monotonic() + 60
            if target == 0:
                time.sleep(rng.uniform(0.0, 0.1))
            else:
                while logged(db) < target and time.monotonic() < deadline:
                    time.sleep(0.003)
                time.sleep(rng.uniform(0, 0.02))
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            if zygote.ended() == -signal.SIGKILL:
                landed.append(logged(db) if db.exists() else -1)
            if not db.exists():
                continue  # killed before SQLite created the file: nothing to check
            check_integrity(db)
            with Store(db) as store:
                summary = update(load_config(config), store)
            assert not summary.failed
            check_integrity(db)
            assert content(db) == clean, f"kill {n} (after {target} feeds)"
    finally:
        zygote.close()
    # The kills hit a running fetch, at many different points of its work.
    print("kills landed after fetch_log rows:", landed)
    assert len(landed) >= 20, landed
    # Feeds are parsed on a process pool and stored as they come, so the count of stored
    # feeds advances in bursts and several kills can land on one count: ask for 10 of the
    # 21 possible counts (0 to 20 feeds stored), and kills on both sides of the middle.
    assert len(set(landed)) >= 10, landed
    assert min(landed) < 10 < max(landed), landed


# --------------------------------------------------------------------------- full disk, read-only


def run_cli(config: Path, preexec_fn=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        fetch_cmd(config), preexec_fn=preexec_fn, capture_output=True, text=True, timeout=120
    )


def per_feed_sightings(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return dict(
            conn.execute(
                "SELECT f.url, count(s.entry_id) FROM feeds f"
                " LEFT JOIN sightings s ON s.feed_id = f.id GROUP BY f.id"
            ).fetchall()
        )


def assert_one_error_line(result: subprocess.CompletedProcess, db: Path, why: str) -> None:
    assert result.returncode == 1, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {db}: "), result.stderr
    assert why in lines[0] and "Traceback" not in result.stderr


def test_full_disk_is_one_clear_error_and_nothing_half_written(
    poll: list[str], clean: dict[str, frozenset], tmp_path: Path
) -> None:
    db = tmp_path / "full.db"
    subprocess.run(fetch_cmd(write_config(tmp_path, poll[:2], db.name)), check=True)
    before = content(db)
    limit = db.stat().st_size + 100_000  # room for a few feeds' worth of WAL, not for 20

    def small_disk() -> None:  # in the child: files cannot grow past `limit` (EFBIG)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    config = write_config(tmp_path, poll, db.name)
    result = run_cli(config, small_disk)

    assert_one_error_line(result, db, "write failed")
    check_integrity(db)
    after = content(db)
    for key in before:  # earlier data intact
        assert before[key] <= after[key], key
    counts = per_feed_sightings(db)
    stored = [url for url, n in counts.items() if n]
    # Some feeds were stored before the disk filled up, each one whole; the rest not at all.
    assert 2 < len(stored) < FEEDS, counts
    assert all(n in (0, ITEMS) for n in counts.values()), counts
    # With room again, a rerun completes and the content is that of a clean run.
    with Store(db) as store:
        assert not update(load_config(config), store).failed
    assert content(db) == clean


libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER = 0x10000000


def _without_root_powers() -> None:
    """In the child: a new user namespace. The process keeps its uid, but its capabilities
    no longer apply to files of the outer namespace, so root obeys a file's mode bits."""
    if libc.unshare(CLONE_NEWUSER) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWUSER)")


def test_read_only_database_is_one_clear_error(poll: list[str], tmp_path: Path) -> None:
    db = tmp_path / "ro.db"
    subprocess.run(fetch_cmd(write_config(tmp_path, poll[:2], db.name)), check=True)
    before, data = content(db), db.read_bytes()
    db.chmod(0o444)
    preexec = None
    if os.geteuid() == 0:  # root ignores mode bits (CI runs as root)
        try:
            subprocess.run(["true"], preexec_fn=_without_root_powers, check=True)
        except (subprocess.SubprocessError, OSError) as e:  # pragma: no cover - container
            pytest.skip(f"user namespaces unavailable ({e}): root cannot be made to obey 0444")
        preexec = _without_root_powers

    result = run_cli(write_config(tmp_path, poll, db.name), preexec)

    assert_one_error_line(result, db, "readonly database")
    assert db.read_bytes() == data
    db.chmod(0o644)
    check_integrity(db)
    assert content(db) == before
