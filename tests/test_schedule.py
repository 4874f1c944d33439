"""schedule.py: adaptive intervals, server hints, backoff and 410, with a fixed clock."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from aggregator.models import FetchResult, Settings
from aggregator.schedule import (
    HINT_CAP,
    PollHistory,
    cache_lifetime,
    error_kind,
    format_span,
    plan,
    posting_interval,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SETTINGS = Settings(default_interval=3600, min_interval=300, max_interval=86400, jitter=0.1)
NEW = PollHistory(pinned=None, interval=None, errors=0, feed_ttl=None)


def result(status: int | None = 200, headers: dict[str, str] | None = None, **kw) -> FetchResult:
    return FetchResult(
        url="http://feeds.test/a",
        final_url="http://feeds.test/a",
        status=status,
        started=NOW,
        duration=0.1,
        headers=tuple(sorted((headers or {}).items())),
        **kw,
    )


def failure(status: int | None, error_class: str = "HTTPStatus", **headers: str) -> FetchResult:
    return result(status, headers, error_class=error_class, error_message="boom")


def wait(p) -> float:
    return (p.next_poll - NOW).total_seconds()


def every(minutes: float, n: int = 10) -> list[datetime]:
    return [NOW - timedelta(minutes=minutes * i) for i in range(n)]


def test_success_waits_the_default_interval_within_the_jitter() -> None:
    waits = {
        wait(plan(NEW, result(), "ok", SETTINGS, now=NOW, rng=random.Random(s))) for s in range(50)
    }
    assert min(waits) >= 3600 * 0.9 and max(waits) <= 3600 * 1.1
    assert len(waits) > 10  # spread, not lockstep


def test_no_jitter_gives_the_exact_interval() -> None:
    p = plan(NEW, result(), "ok", Settings(jitter=0), now=NOW, rng=random.Random(1))
    assert wait(p) == 3600 and p.interval == 3600 and p.error_kind is None


def test_pinned_interval_is_kept_whatever_the_posting_rate() -> None:
    history = PollHistory(pinned=7200, interval=None, errors=0, feed_ttl=None)
    p = plan(
        history,
        result(),
        "ok",
        Settings(jitter=0),
        now=NOW,
        rng=random.Random(1),
        entry_dates=every(5),
    )
    assert p.interval == 7200 and "feeds.yaml" in p.reason


@pytest.mark.parametrize(
    ("gap_minutes", "expected"),
    [(20, 1200), (1, 300), (60 * 24 * 3, 86400)],  # inside, below min, above max
)
def test_adaptive_interval_follows_posting_rate_within_bounds(gap_minutes, expected) -> None:
    p = plan(
        NEW,
        result(),
        "ok",
        Settings(jitter=0),
        now=NOW,
        rng=random.Random(1),
        entry_dates=every(gap_minutes),
    )
    assert p.interval == expected and "adaptive" in p.reason


def test_adaptive_off_uses_the_default() -> None:
    p = plan(
        NEW,
        result(),
        "ok",
        Settings(jitter=0, adaptive=False),
        now=NOW,
        rng=random.Random(1),
        entry_dates=every(20),
    )
    assert p.interval == 3600


def test_a_304_keeps_the_interval_learnt_before() -> None:
    history = PollHistory(pinned=None, interval=1200, errors=0, feed_ttl=None)
    p = plan(
        history, result(304), "not_modified", Settings(jitter=0), now=NOW, rng=random.Random(1)
    )
    assert p.interval == 1200 and wait(p) == 1200


def test_posting_interval_needs_three_distinct_dates() -> None:
    assert posting_interval(every(30, 2)) is None
    assert posting_interval([NOW, NOW, NOW]) is None
    assert posting_interval(every(30, 3)) == 1800


def test_posting_interval_reads_only_the_newest_entries() -> None:
    dates = every(10, 20) + [NOW - timedelta(days=300)]  # one ancient entry at the bottom
    assert posting_interval(dates) == 600


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"cache-control": "public, max-age=10800"}, 10800),
        ({"cache-control": 'max-age="7200"'}, 7200),
        ({"cache-control": "no-cache, max-age=10800"}, None),
        ({"cache-control": "max-age=99999999"}, HINT_CAP),
        (
            {"expires": "Sun, 01 Mar 2026 16:00:00 GMT", "date": "Sun, 01 Mar 2026 13:00:00 GMT"},
            3 * 3600,  # measured against the server's own Date, not our clock
        ),
        ({"expires": "Sun, 01 Mar 2026 14:00:00 GMT"}, 2 * 3600),
        ({"expires": "0"}, 0),
        ({"expires": "garbage"}, None),
        ({}, None),
    ],
)
def test_cache_lifetime(headers, expected) -> None:
    assert cache_lifetime(result(200, headers), NOW) == expected


def test_server_cache_lifetime_longer_than_the_interval_wins() -> None:
    r = result(200, {"cache-control": "max-age=10800"})
    p = plan(NEW, r, "ok", SETTINGS, now=NOW, rng=random.Random(1))
    assert wait(p) == 10800 and "Cache-Control" in p.reason
    assert p.interval == 3600  # the feed's own interval is unchanged


def test_shorter_cache_lifetime_does_not_speed_polling_up() -> None:
    r = result(200, {"cache-control": "max-age=60"})
    p = plan(NEW, r, "ok", Settings(jitter=0), now=NOW, rng=random.Random(1))
    assert wait(p) == 3600


def test_feed_ttl_is_a_floor_and_is_remembered_across_304s() -> None:
    p = plan(
        NEW, result(), "ok", Settings(jitter=0), now=NOW, rng=random.Random(1), feed_ttl=5 * 3600
    )
    assert wait(p) == 5 * 3600 and "ttl" in p.reason
    history = PollHistory(pinned=None, interval=3600, errors=0, feed_ttl=5 * 3600)
    p = plan(
        history, result(304), "not_modified", Settings(jitter=0), now=NOW, rng=random.Random(1)
    )
    assert wait(p) == 5 * 3600


def test_temporary_failures_back_off_doubling_up_to_the_cap() -> None:
    settings = Settings(jitter=0, max_backoff=8 * 3600)
    waits = []
    for errors in range(6):
        history = PollHistory(pinned=None, interval=3600, errors=errors, feed_ttl=None)
        p = plan(history, failure(500), "error", settings, now=NOW, rng=random.Random(1))
        assert p.error_kind == "temporary" and p.interval == 3600
        waits.append(wait(p))
    assert waits == [7200, 14400, 28800, 28800, 28800, 28800]


def test_backoff_keeps_its_jitter_and_its_cap() -> None:
    history = PollHistory(pinned=None, interval=3600, errors=30, feed_ttl=None)
    for seed in range(20):
        p = plan(
            history,
            failure(None, "ConnectError"),
            "error",
            SETTINGS,
            now=NOW,
            rng=random.Random(seed),
        )
        assert 86400 * 0.9 <= wait(p) <= 86400 * 1.1


def test_permanent_failures_wait_the_longest_backoff() -> None:
    p = plan(NEW, failure(404), "error", Settings(jitter=0), now=NOW, rng=random.Random(1))
    assert p.error_kind == "permanent" and wait(p) == 86400
    assert p.next_poll is not None  # never given up silently


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize(
    ("retry_after", "seconds"),
    [("10800", 10800), ("Sun, 01 Mar 2026 18:00:00 GMT", 6 * 3600)],
)
def test_retry_after_is_honoured(status, retry_after, seconds) -> None:
    r = failure(status, **{"retry-after": retry_after})
    p = plan(NEW, r, "error", SETTINGS, now=NOW, rng=random.Random(1))
    assert wait(p) == seconds and "Retry-After" in p.reason


def test_retry_after_shorter_than_backoff_does_not_shorten_it() -> None:
    r = failure(503, **{"retry-after": "5"})
    p = plan(NEW, r, "error", Settings(jitter=0), now=NOW, rng=random.Random(1))
    assert wait(p) == 7200


def test_retry_after_is_capped() -> None:
    r = failure(429, **{"retry-after": str(365 * 86400)})
    assert wait(plan(NEW, r, "error", SETTINGS, now=NOW, rng=random.Random(1))) == HINT_CAP


def test_410_disables_the_feed_with_a_reason() -> None:
    p = plan(NEW, failure(410), "error", SETTINGS, now=NOW, rng=random.Random(1))
    assert p.next_poll is None and p.error_kind == "permanent"
    assert p.disabled_reason is not None and "410" in p.disabled_reason


def test_recovery_returns_to_the_normal_interval() -> None:
    history = PollHistory(pinned=None, interval=1800, errors=7, feed_ttl=None)
    p = plan(history, result(), "ok", Settings(jitter=0), now=NOW, rng=random.Random(1))
    assert wait(p) == 1800 and p.error_kind is None


@pytest.mark.parametrize(
    ("status", "error_class", "outcome", "kind"),
    [
        (500, "HTTPStatus", "error", "temporary"),
        (502, "HTTPStatus", "error", "temporary"),
        (429, "HTTPStatus", "error", "temporary"),
        (408, "HTTPStatus", "error", "temporary"),
        (404, "HTTPStatus", "error", "permanent"),
        (403, "HTTPStatus", "error", "permanent"),
        (410, "HTTPStatus", "error", "gone"),
        (None, "ReadTimeout", "error", "temporary"),
        (None, "ConnectError", "error", "temporary"),
        (None, "TotalTimeout", "error", "temporary"),
        (None, "InvalidURL", "error", "permanent"),
        (None, "TooManyRedirects", "error", "permanent"),
        (None, "BodyTooLarge", "error", "permanent"),
        (200, None, "parse_error", "permanent"),
        (200, None, "ok", None),
        (304, None, "not_modified", None),
    ],
)
def test_error_kind(status, error_class, outcome, kind) -> None:
    r = result(status, error_class=error_class, error_message="x" if error_class else None)
    assert error_kind(r, outcome) == kind


def test_format_span() -> None:
    assert [format_span(s) for s in (0, 59, 90, 3600, 5400, 90061)] == [
        "0s",
        "59s",
        "1m30s",
        "1h",
        "1h30m",
        "1d1h",
    ]
