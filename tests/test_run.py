"""`aggregator run` as users start it: a real process, real signals, a real loopback server."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from aggregator.feedserver import serve_folder
from conftest import CORPUS

NEWS = sorted((CORPUS / "news").iterdir())


class _Hanging(BaseHTTPRequestHandler):
    """Answers /slow only after a long wait: a poll that is still running when signalled."""

    def do_GET(self) -> None:  # noqa: N802
        time.sleep(20)
        self.send_response(500)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hanging() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hanging)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/slow"
    server.shutdown()
    server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_config(path: Path, urls: list[str]) -> None:
    lines = [
        "settings:",
        "  database: run.db",
        "  total_timeout: 60",
        "  read_timeout: 60",
        "feeds:",
    ]
    lines += [f"  - url: '{u}'" for u in urls]
    path.write_text("\n".join(lines) + "\n")


def _rows(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except sqlite3.OperationalError:
            pass  # the database is still being created
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def _start(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aggregator", "-c", str(config), "run", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=config.parent,
    )


def test_sigterm_during_a_poll_exits_0_and_leaves_a_consistent_database(
    tmp_path: Path, hanging: str
) -> None:
    with serve_folder(CORPUS / "news") as server:
        urls = [f"{server.base_url}{p.name}" for p in NEWS] + [hanging]
        config = tmp_path / "feeds.yaml"
        _write_config(config, urls)
        db = tmp_path / "run.db"
        proc = _start(config, "--log-format", "json")
        try:
            # Mid-poll: every other feed is stored, /slow is still hanging.
            _wait_for(lambda: _rows(db, "SELECT count(*) FROM fetch_log")[0][0] == len(NEWS))
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, stderr
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert [e for e in events if e.get("event") == "cycle"], stderr
    assert events[-1]["message"] == "stopped cleanly"
    assert not [e for e in events if e["logger"] == "httpx"]  # no line per request
    assert _rows(db, "PRAGMA integrity_check") == [("ok",)]
    assert _rows(db, "PRAGMA foreign_key_check") == []
    # Every stored article is complete: a sighting, its FTS row, a story; every attempt that
    # stored entries was logged.
    assert _rows(
        db, "SELECT count(*) FROM articles WHERE id NOT IN (SELECT article_id FROM sightings)"
    ) == [(0,)]
    assert _rows(db, "SELECT count(*) FROM articles") == _rows(
        db, "SELECT count(*) FROM articles_fts"
    )
    assert _rows(
        db, "SELECT count(*) FROM articles WHERE id NOT IN (SELECT article_id FROM story_members)"
    ) == [(0,)]
    (new_logged,) = _rows(db, "SELECT coalesce(sum(new_entries), 0) FROM fetch_log")[0]
    (articles,) = _rows(db, "SELECT count(*) FROM articles")[0]
    assert articles == new_logged > 0
    # The hanging feed was cancelled, not recorded as failed: it is still due.
    assert _rows(db, f"SELECT next_poll FROM feeds WHERE url = '{hanging}'") == [(None,)]


def test_run_serve_gives_a_live_datasette_and_stops_both(tmp_path: Path) -> None:
    port = _free_port()
    with serve_folder(CORPUS / "news") as server:
        config = tmp_path / "feeds.yaml"
        _write_config(config, [f"{server.base_url}{p.name}" for p in NEWS[:3]])
        proc = _start(config, "--serve", "--port", str(port))
        try:

            def answered() -> bool:
                try:
                    r = httpx.get(f"http://127.0.0.1:{port}/run/feeds.json?_shape=array")
                except httpx.TransportError:
                    return False
                return r.status_code == 200 and len(r.json()) == 3

            _wait_for(answered)
            _wait_for(
                lambda: _rows(tmp_path / "run.db", "SELECT count(*) FROM fetch_log")[0][0] == 3
            )
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, stderr
    assert "cycle 1: 3 feeds polled" in stderr
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)


def test_run_refuses_a_broken_feeds_yaml_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds:\n  - url: 12\n")
    proc = _start(config)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "feeds[0].url" in stderr and "Traceback" not in stderr
