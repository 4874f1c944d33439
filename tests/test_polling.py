"""Polling against a real loopback server, a real SQLite file and a controllable clock.

The Daemon and update() take the clock (and the daemon its sleep) as arguments, so days of
polling run in a second: the server records the fake time of every request it answers.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from aggregator.daemon import Daemon
from aggregator.models import FeedConfig
from aggregator.store import Store, parse_iso
from aggregator.update import update
from conftest import make_config, rss

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves; the daemon's sleep moves it instead of waiting."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)

    async def sleep(self, seconds: float, stop: asyncio.Event) -> None:
        self.now += timedelta(seconds=seconds)
        await asyncio.sleep(0)


def items(n: int, *, every: timedelta = timedelta(hours=1), end: datetime = T0) -> str:
    return rss(
        [
            {
                "title": f"Item {i}",
                "link": f"https://example.org/{i}",
                "pubDate": (end - every * i).strftime("%a, %d %b %Y %H:%M:%S +0000"),
            }
            for i in range(n)
        ]
    )


class Site:
    """Paths served by pytest-httpserver, each a function (request) -> Response, with a log
    of (path, fake time) for every request."""

    def __init__(self, server: HTTPServer, clock: Clock) -> None:
        self.server, self.clock = server, clock
        self.hits: list[tuple[str, datetime]] = []

    def route(self, path: str, answer: Callable[[Request], Response]) -> str:
        def handler(request: Request) -> Response:
            self.hits.append((path, self.clock()))
            return answer(request)

        self.server.expect_request(path).respond_with_handler(handler)
        return self.server.url_for(path)

    def times(self, path: str) -> list[datetime]:
        return [t for p, t in self.hits if p == path]


def feed(body: str, status: int = 200, **headers: str) -> Callable[[Request], Response]:
    return lambda request: Response(
        body, status=status, headers=headers, content_type="application/rss+xml"
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def site(httpserver: HTTPServer, clock: Clock) -> Site:
    return Site(httpserver, clock)


def feed_row(config, url: str) -> dict:
    db = sqlite3.connect(config.database_path)
    db.row_factory = sqlite3.Row
    try:
        return dict(db.execute("SELECT * FROM feeds WHERE url = ?", [url]).fetchone())
    finally:
        db.close()


def poll(config, clock: Clock, *, due: bool = True, seed: int = 1, **kw):
    with Store(config.database_path) as store:
        return update(config, store, due=due, clock=clock, rng=random.Random(seed), **kw)


def test_daemon_polls_each_feed_on_its_interval_with_jitter(tmp_path, site, clock) -> None:
    hourly = site.route("/hourly", feed(items(3)))
    daily = site.route("/daily", feed(items(3)))
    config = make_config(tmp_path, [])
    config_path = tmp_path / "feeds.yaml"
    config_path.write_text(
        "settings: {database: test.db, jitter: 0.1}\n"
        f"feeds:\n  - {{url: '{hourly}', interval: 1h}}\n  - {{url: '{daily}', interval: 1d}}\n"
    )
    daemon = Daemon(str(config_path), clock=clock, sleep=clock.sleep, rng=random.Random(7))
    asyncio.run(daemon.run(asyncio.Event(), max_cycles=40))
    hourly_times = site.times("/hourly")
    gaps = [(b - a).total_seconds() for a, b in zip(hourly_times, hourly_times[1:], strict=False)]
    assert len(gaps) >= 30
    assert all(3600 * 0.9 - 1 <= g <= 3600 * 1.1 + 61 for g in gaps), gaps
    assert len({round(g) for g in gaps}) > 5  # jittered, not lockstep
    daily_times = site.times("/daily")
    span = (hourly_times[-1] - hourly_times[0]).total_seconds()
    assert len(daily_times) <= span / (86400 * 0.9) + 1
    assert config.database_path  # same folder as feeds.yaml


def test_daemon_never_sends_two_requests_for_one_feed_at_once(tmp_path, site, clock) -> None:
    in_flight = {"now": 0, "max": 0}

    def slow(request: Request) -> Response:
        in_flight["now"] += 1
        in_flight["max"] = max(in_flight["max"], in_flight["now"])
        import time

        time.sleep(0.05)
        in_flight["now"] -= 1
        return Response(items(3), content_type="application/rss+xml")

    url = site.route("/slow", slow)
    (tmp_path / "feeds.yaml").write_text(
        f"settings: {{database: test.db}}\nfeeds:\n  - {{url: '{url}', interval: 5m}}\n"
    )
    daemon = Daemon(str(tmp_path / "feeds.yaml"), clock=clock, sleep=clock.sleep)
    asyncio.run(daemon.run(asyncio.Event(), max_cycles=5))
    assert len(site.times("/slow")) == 5 and in_flight["max"] == 1


def test_daemon_picks_up_feeds_yaml_changes_without_restart(tmp_path, site, clock) -> None:
    a = site.route("/a", feed(items(3)))
    b = site.route("/b", feed(items(3)))
    path = tmp_path / "feeds.yaml"
    path.write_text(f"settings: {{database: test.db}}\nfeeds:\n  - {{url: '{a}', interval: 1h}}\n")
    daemon = Daemon(str(path), clock=clock, sleep=clock.sleep)
    asyncio.run(daemon.run(asyncio.Event(), max_cycles=2))
    assert len(site.times("/a")) == 2 and not site.times("/b")
    # Replace a by b; the daemon notices at its next wake-up.
    path.write_text(f"settings: {{database: test.db}}\nfeeds:\n  - {{url: '{b}', interval: 1h}}\n")
    os.utime(path, ns=(os.stat(path).st_mtime_ns + 10**9,) * 2)
    before_a = len(site.times("/a"))
    asyncio.run(daemon.run(asyncio.Event(), max_cycles=2))
    assert len(site.times("/b")) == 2
    assert len(site.times("/a")) == before_a  # removed feeds stop being polled
    with Store(daemon.config.database_path) as store:
        assert store.counts()["articles"] == 3  # both feeds list the same three links


def test_a_broken_feeds_yaml_edit_keeps_the_last_good_config(tmp_path, site, clock, caplog):
    a = site.route("/a", feed(items(3)))
    path = tmp_path / "feeds.yaml"
    path.write_text(f"settings: {{database: test.db}}\nfeeds:\n  - {{url: '{a}', interval: 1h}}\n")
    daemon = Daemon(str(path), clock=clock, sleep=clock.sleep)
    path.write_text("feeds:\n  - {url: 'not a url', interval: 1h}\n")
    os.utime(path, ns=(os.stat(path).st_mtime_ns + 10**9,) * 2)
    asyncio.run(daemon.run(asyncio.Event(), max_cycles=2))
    assert len(site.times("/a")) == 2
    assert "feeds.yaml changed but is not usable" in caplog.text
    assert "feeds[0].url" in caplog.text


def test_fetch_due_only_fetches_feeds_whose_time_has_come(tmp_path, site, clock) -> None:
    fast = site.route("/fast", feed(items(3)))
    slow = site.route("/slow", feed(items(3)))
    config = make_config(tmp_path, [], jitter=0.0)
    config = config.__class__(
        path=config.path,
        settings=config.settings,
        feeds=(FeedConfig(fast, interval=600), FeedConfig(slow, interval=7200)),
    )
    assert len(poll(config, clock).outcomes) == 2
    assert poll(config, clock).outcomes == ()  # nothing is due yet
    clock.advance(minutes=11)
    assert [o.url for o in poll(config, clock).outcomes] == [fast]
    clock.advance(hours=2)
    assert {o.url for o in poll(config, clock).outcomes} == {fast, slow}
    assert len(site.times("/fast")) == 3 and len(site.times("/slow")) == 2


def test_retry_after_is_respected(tmp_path, site, clock) -> None:
    state = {"busy": True}

    def answer(request: Request) -> Response:
        if state["busy"]:
            return Response("busy", status=503, headers={"Retry-After": "7200"})
        return Response(items(3), content_type="application/rss+xml")

    url = site.route("/busy", answer)
    config = make_config(tmp_path, [url], jitter=0.0, default_interval=600)
    (outcome,) = poll(config, clock).outcomes
    assert outcome.failed and "Retry-After" in outcome.plan.reason
    row = feed_row(config, url)
    assert parse_iso(row["next_poll"]) == T0 + timedelta(seconds=7200)
    assert row["error_kind"] == "temporary" and row["error_count"] == 1
    state["busy"] = False
    clock.advance(minutes=119)
    assert poll(config, clock).outcomes == ()  # still inside Retry-After
    clock.advance(minutes=2)
    (outcome,) = poll(config, clock).outcomes
    assert outcome.outcome == "ok" and len(site.times("/busy")) == 2


def test_cache_control_max_age_is_respected(tmp_path, site, clock) -> None:
    url = site.route("/cached", feed(items(3), **{"Cache-Control": "max-age=10800"}))
    config = make_config(tmp_path, [url], default_interval=600)
    poll(config, clock)
    row = feed_row(config, url)
    assert parse_iso(row["next_poll"]) == T0 + timedelta(seconds=10800)
    clock.advance(hours=2)
    assert poll(config, clock).outcomes == ()
    clock.advance(hours=1, seconds=1)
    assert len(poll(config, clock).outcomes) == 1


def test_rss_ttl_is_respected(tmp_path, site, clock) -> None:
    body = items(3).replace("<description>d</description>", "<ttl>240</ttl>")
    url = site.route("/ttl", feed(body))
    config = make_config(tmp_path, [url], default_interval=600)
    poll(config, clock)
    row = feed_row(config, url)
    assert row["feed_ttl"] == 240 * 60
    assert parse_iso(row["next_poll"]) == T0 + timedelta(hours=4)


def test_backoff_grows_caps_and_recovers(tmp_path, site, clock) -> None:
    state = {"down": True}

    def answer(request: Request) -> Response:
        if state["down"]:
            return Response("oops", status=500)
        return Response(items(3), content_type="application/rss+xml")

    url = site.route("/flaky", answer)
    config = make_config(
        tmp_path, [url], jitter=0.0, default_interval=3600, adaptive=False, max_backoff=8 * 3600
    )
    waits = []
    for _ in range(5):
        (outcome,) = poll(config, clock).outcomes
        assert outcome.failed
        row = feed_row(config, url)
        waits.append((parse_iso(row["next_poll"]) - clock()).total_seconds())
        clock.now = parse_iso(row["next_poll"])
    assert waits == [7200, 14400, 28800, 28800, 28800]
    assert row["error_count"] == 5 and row["error_kind"] == "temporary"
    assert "HTTP 500" in row["last_error"]
    state["down"] = False
    (outcome,) = poll(config, clock).outcomes
    row = feed_row(config, url)
    assert outcome.outcome == "ok" and row["error_count"] == 0 and row["error_kind"] is None
    assert (parse_iso(row["next_poll"]) - clock()).total_seconds() == 3600
    assert len(site.times("/flaky")) == 6


def test_410_disables_the_feed_and_says_why(tmp_path, site, clock) -> None:
    gone = site.route("/gone", feed("", status=410))
    other = site.route("/other", feed(items(3)))
    config = make_config(tmp_path, [gone, other], jitter=0.0)
    summary = poll(config, clock)
    assert {o.url: o.outcome for o in summary.outcomes} == {gone: "error", other: "ok"}
    row = feed_row(config, gone)
    assert "410 Gone" in row["disabled_reason"] and row["next_poll"] is None
    clock.advance(days=30)
    assert [o.url for o in poll(config, clock).outcomes] == [other]  # --due skips it
    assert [o.url for o in poll(config, clock, due=False).outcomes] == [other]  # so does fetch
    # Asked for by name, it is tried again (and stays disabled while it is gone).
    (outcome,) = poll(config, clock, due=False, names=[gone]).outcomes
    assert outcome.plan.disabled_reason
    assert len(site.times("/gone")) == 2


def test_a_server_that_brings_a_gone_feed_back_re_enables_it(tmp_path, site, clock) -> None:
    state = {"gone": True}

    def answer(request: Request) -> Response:
        if state["gone"]:
            return Response("", status=410)
        return Response(items(3), content_type="application/rss+xml")

    url = site.route("/back", answer)
    config = make_config(tmp_path, [url])
    poll(config, clock)
    state["gone"] = False
    poll(config, clock, due=False, names=[url])
    row = feed_row(config, url)
    assert row["disabled_reason"] is None and row["next_poll"] is not None


@pytest.mark.parametrize(
    ("status", "moves"), [(301, True), (308, True), (302, False), (307, False)]
)
def test_permanent_redirect_updates_the_stored_url(tmp_path, site, clock, status, moves) -> None:
    new = site.route("/new", feed(items(3)))
    old = site.route("/old", lambda request: Response("", status=status, headers={"Location": new}))
    config = make_config(tmp_path, [old], default_interval=600)
    (outcome,) = poll(config, clock).outcomes
    assert outcome.outcome == "ok"
    assert outcome.moved_to == (new if moves else None)
    row = feed_row(config, old)
    assert row["url"] == old  # the identity from feeds.yaml stays
    assert row["fetch_url"] == (new if moves else old)
    clock.advance(hours=2)
    poll(config, clock)
    assert len(site.times("/old")) == (1 if moves else 2)
    assert len(site.times("/new")) == 2


def test_adaptive_interval_follows_the_feed(tmp_path, site, clock) -> None:
    busy = site.route("/busy", feed(items(10, every=timedelta(minutes=15))))
    quiet = site.route("/quiet", feed(items(10, every=timedelta(days=3))))
    config = make_config(tmp_path, [busy, quiet], jitter=0.0)
    poll(config, clock)
    assert feed_row(config, busy)["poll_interval"] == 900
    assert feed_row(config, quiet)["poll_interval"] == 86400  # max_interval


def test_feeds_command_shows_errors_and_next_attempt(tmp_path, site, clock) -> None:
    from click.testing import CliRunner

    from aggregator.cli import cli

    down = site.route("/down", feed("no", status=503))
    path = tmp_path / "feeds.yaml"
    path.write_text(f"settings: {{database: test.db}}\nfeeds:\n  - url: '{down}'\n")
    result = CliRunner().invoke(cli, ["-c", str(path), "fetch", "-q"])
    assert result.exit_code == 3
    result = CliRunner().invoke(cli, ["-c", str(path), "feeds"], catch_exceptions=False)
    assert "failing (temporary)" in result.output
    assert "HTTP 503" in result.output
    row = feed_row(make_config(tmp_path, []), down)
    assert row["next_poll"][:10] in result.output


def test_cli_fetch_due(tmp_path: Path, site, clock) -> None:
    from click.testing import CliRunner

    from aggregator.cli import cli

    url = site.route("/a", feed(items(3)))
    path = tmp_path / "feeds.yaml"
    path.write_text(f"settings: {{database: test.db}}\nfeeds:\n  - url: '{url}'\n")
    first = CliRunner().invoke(cli, ["-c", str(path), "fetch", "--due"], catch_exceptions=False)
    assert first.exit_code == 0 and "1 feeds: 1 ok" in first.output
    second = CliRunner().invoke(cli, ["-c", str(path), "fetch", "--due"], catch_exceptions=False)
    assert second.exit_code == 0 and "No feed is due" in second.output
    assert len(site.times("/a")) == 1
    both = CliRunner().invoke(cli, ["-c", str(path), "fetch", "--due", url])
    assert both.exit_code == 2


def test_two_feeds_redirected_to_one_address_keep_their_own_schedules(
    tmp_path, site, clock
) -> None:
    target = site.route("/target", feed(items(3)))
    moved = site.route("/moved", lambda r: Response("", status=301, headers={"Location": target}))
    config = make_config(tmp_path, [target, moved], jitter=0.0)
    summary = poll(config, clock)
    assert {o.outcome for o in summary.outcomes} == {"ok"}
    # The moved feed keeps asking its own address: a move onto another feed's is not taken.
    assert feed_row(config, moved)["fetch_url"] == moved
    assert feed_row(config, moved)["next_poll"] and feed_row(config, target)["next_poll"]


def test_daemon_waits_while_another_process_updates(tmp_path, site, clock, caplog) -> None:
    import contextlib

    from aggregator.lock import hold

    url = site.route("/a", feed(items(3)))
    path = tmp_path / "feeds.yaml"
    path.write_text(f"settings: {{database: test.db}}\nfeeds:\n  - {{url: '{url}'}}\n")
    Store(tmp_path / "test.db").close()
    other = contextlib.ExitStack()
    other.enter_context(hold(tmp_path / "test.db"))  # a `fetch` running elsewhere
    slept = []

    async def sleep(seconds: float, stop: asyncio.Event) -> None:
        slept.append(seconds)
        clock.advance(seconds=seconds)
        other.close()  # ...which then finishes

    daemon = Daemon(str(path), clock=clock, sleep=sleep)
    assert asyncio.run(daemon.run(asyncio.Event(), max_cycles=1)) == 1
    assert "already updating this database" in caplog.text
    assert slept == [60.0] and len(site.times("/a")) == 1


def test_idle_wake_ups_neither_lock_nor_write(tmp_path, site, clock, caplog) -> None:
    """Between polls the daemon wakes every minute for feeds.yaml edits only: a `fetch`
    holding the database meanwhile is not in its way."""
    import contextlib

    from aggregator.lock import hold

    url = site.route("/a", feed(items(3)))
    path = tmp_path / "feeds.yaml"
    path.write_text(
        f"settings: {{database: test.db, jitter: 0}}\nfeeds:\n  - {{url: '{url}', interval: 1h}}\n"
    )
    other = contextlib.ExitStack()
    wakes = []

    async def sleep(seconds: float, stop: asyncio.Event) -> None:
        wakes.append(seconds)
        if len(wakes) == 1:
            other.enter_context(hold(tmp_path / "test.db"))  # a `fetch` starts elsewhere
        if len(wakes) == 30:
            other.close()
        clock.advance(seconds=seconds)

    daemon = Daemon(str(path), clock=clock, sleep=sleep)
    assert asyncio.run(daemon.run(asyncio.Event(), max_cycles=2)) == 2
    assert wakes[:59] == [60.0] * 59  # idle wake-ups while the lock was held elsewhere
    assert "poll cycle failed" not in caplog.text
    assert len(site.times("/a")) == 2
