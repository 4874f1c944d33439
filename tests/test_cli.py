"""The CLI end to end: CliRunner, a real feeds.yaml, a real loopback server, a real database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner

from aggregator.cli import EXIT_FEEDS_FAILED, cli
from aggregator.config import load_config
from conftest import rss


def write_config(tmp_path: Path, base_url: str, names: list[str], topics: str = "") -> Path:
    feeds = "\n".join(f"  - url: {base_url}{n}\n    outlet: Desk" for n in names)
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "settings:\n  database: news.db\n"
        "outlets:\n  - name: Desk\n    labels: {side: test}\n"
        f"feeds:\n{feeds}\n"
        + (topics or "topics:\n  energy:\n    keywords: [gas]\n  other:\n    fallback: true\n"),
        encoding="utf-8",
    )
    return path


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_init_writes_loadable_starter_and_refuses_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "mine.yaml"
    result = run("init", str(target))
    assert result.exit_code == 0, result.output
    assert len(load_config(target).feeds) >= 10
    again = run("init", str(target))
    assert again.exit_code == 1 and "exists" in again.output


def test_fetch_ok_then_not_modified(tmp_path: Path, feed_dir: Path, feed_server) -> None:
    (feed_dir / "a.xml").write_text(rss([{"title": "Gas deal", "link": "https://e.org/1"}]))
    config = write_config(tmp_path, feed_server.base_url, ["a.xml"])
    first = run("-c", str(config), "fetch")
    assert first.exit_code == 0, first.output
    assert "1 ok" in first.output and "1 new articles" in first.output
    second = run("-c", str(config), "fetch")
    assert "1 not modified" in second.output and "0 new articles" in second.output
    with sqlite3.connect(tmp_path / "news.db") as db:
        assert db.execute("SELECT title, topics FROM articles").fetchall() == [
            ("Gas deal", '["energy"]')
        ]


def test_failing_feed_exit_code_and_summary(tmp_path: Path, feed_dir: Path, feed_server) -> None:
    (feed_dir / "a.xml").write_text(rss([{"title": "A", "link": "https://e.org/1"}]))
    config = write_config(tmp_path, feed_server.base_url, ["a.xml", "gone.xml"])
    result = CliRunner().invoke(cli, ["-c", str(config), "fetch"])
    assert result.exit_code == EXIT_FEEDS_FAILED
    assert "1 ok" in result.output and "1 failed" in result.output
    assert f"FAILED {feed_server.base_url}gone.xml: HTTPStatus: HTTP 404 Not Found" in (
        result.output
    )


def test_bad_config_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  - url: https://e.org/feed\n    interval: often\n")
    result = CliRunner().invoke(cli, ["-c", str(path), "fetch"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "feeds.yaml:3: feeds[0].interval" in lines[0]


def test_only_named_feeds_fetched(tmp_path: Path, feed_dir: Path, feed_server) -> None:
    for name in ("a.xml", "b.xml"):
        (feed_dir / name).write_text(rss([{"title": name, "link": f"https://e.org/{name}"}]))
    config = write_config(tmp_path, feed_server.base_url, ["a.xml", "b.xml"])
    result = run("-c", str(config), "fetch", feed_server.base_url + "b.xml")
    assert result.exit_code == 0
    assert feed_server.hits == {"b.xml": 1}
    unknown = CliRunner().invoke(cli, ["-c", str(config), "fetch", "nope"])
    assert unknown.exit_code == 1 and "no feed" in unknown.output


def test_retag_uses_new_rules(tmp_path: Path, feed_dir: Path, feed_server) -> None:
    (feed_dir / "a.xml").write_text(rss([{"title": "Gas and grain", "link": "https://e.org/1"}]))
    config = write_config(tmp_path, feed_server.base_url, ["a.xml"])
    run("-c", str(config), "fetch")
    write_config(
        tmp_path,
        feed_server.base_url,
        ["a.xml"],
        topics="topics:\n  food:\n    keywords: [grain]\n",
    )
    result = run("-c", str(config), "retag")
    assert result.exit_code == 0 and "Retagged 1 articles" in result.output
    with sqlite3.connect(tmp_path / "news.db") as db:
        assert db.execute("SELECT topic, rule FROM article_topics").fetchall() == [
            ("food", "keyword:grain")
        ]


def test_feeds_lists_health(tmp_path: Path, feed_dir: Path, feed_server) -> None:
    (feed_dir / "a.xml").write_text(rss([{"title": "A", "link": "https://e.org/1"}]))
    config = write_config(tmp_path, feed_server.base_url, ["a.xml", "gone.xml"])
    CliRunner().invoke(cli, ["-c", str(config), "fetch"])
    result = run("-c", str(config), "feeds")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert any("Test feed" in line and " ok " in f" {line} " for line in lines)
    assert any(
        "gone.xml" in line and "failing (permanent)" in line and "404" in line for line in lines
    )


def test_demo_no_serve(tmp_path: Path) -> None:
    database = tmp_path / "demo.db"
    result = run("demo", "--no-serve", "--database", str(database))
    assert result.exit_code == 0, result.output
    assert "13 feeds: 13 ok" in result.output
    assert "13 feeds: 0 ok, 13 not modified" in result.output
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM articles").fetchone()[0] > 300


def test_serve_without_database_is_clear(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", str(tmp_path / "none.db")])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_serve_needs_no_feeds_yaml_when_given_a_database(tmp_path: Path, monkeypatch) -> None:
    """`aggregator serve DB` works in a folder without feeds.yaml (built-in host/port)."""
    import aggregator.web

    database = tmp_path / "news.db"
    run("demo", "--no-serve", "--database", str(database))
    calls = []
    monkeypatch.setattr(aggregator.web, "serve", lambda path, **kw: calls.append((path, kw)))
    monkeypatch.chdir(tmp_path)
    result = run("serve", str(database))
    assert result.exit_code == 0, result.output
    assert calls == [(str(database), {"host": "127.0.0.1", "port": 8001})]
