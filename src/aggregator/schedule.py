"""A feed's poll history + one attempt's outcome in, a PollPlan (when to poll next, why) out.

Pure: the caller passes `now` and a random source, so tests drive it with a fixed clock.

    normal interval = the feed's `interval` from feeds.yaml when set (pinned), else adapted
                      to how often the feed posts (mean gap of its recent entries), clamped
                      to settings.min_interval .. settings.max_interval
    server floor    = the largest of Cache-Control max-age, Expires, RSS <ttl>,
                      sy:updatePeriod and, on 429/503, Retry-After (each capped at HINT_CAP)
    success         → next poll = now + max(normal ± jitter, server floor)
    temporary error → normal × 2^errors in a row, capped at settings.max_backoff
    permanent error → settings.max_backoff (still retried: nothing gives up silently)
    410 Gone        → the feed is disabled, with the reason recorded

A feed that recovers returns to its normal interval, because backoff never changes it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from .models import FetchResult, PollPlan, Settings

#: Longest wait any server hint may impose (a year-long max-age must not stop polling).
HINT_CAP = 7 * 86400
#: How many of the newest entry dates estimate a feed's posting rate.
RATE_SAMPLE = 20

#: Errors that are the network's or the server's passing trouble (httpx names and ours).
_TEMPORARY_ERRORS = frozenset(
    {
        "ConnectError",
        "ConnectTimeout",
        "ReadTimeout",
        "WriteTimeout",
        "PoolTimeout",
        "ReadError",
        "WriteError",
        "NetworkError",
        "RemoteProtocolError",
        "LocalProtocolError",
        "ProtocolError",
        "TimeoutException",
        "TotalTimeout",
        "DecodingError",
    }
)
#: HTTP statuses worth retrying soon: request timeout, too early, too many requests, 5xx.
_TEMPORARY_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True)
class PollHistory:
    """What scheduling needs to know about a feed before this attempt."""

    #: Interval pinned in feeds.yaml (seconds), or None to adapt.
    pinned: int | None
    #: The normal interval used last time (seconds), or None for a new feed.
    interval: int | None
    #: Failed attempts in a row before this one.
    errors: int
    #: RSS <ttl> / sy:updatePeriod from the last parsed document (seconds), if any.
    feed_ttl: int | None


def error_kind(result: FetchResult, outcome: str) -> str | None:
    """None for success; "gone" for 410; else "temporary" or "permanent"."""
    if outcome not in ("error", "parse_error"):
        return None
    if result.status == 410:
        return "gone"
    if outcome == "parse_error":
        # A document we cannot read needs a person to look, not a quick retry.
        return "permanent"
    if result.error_class == "HTTPStatus" and result.status is not None:
        if result.status in _TEMPORARY_STATUSES or result.status >= 500:
            return "temporary"
        return "permanent"
    if result.error_class in _TEMPORARY_ERRORS:
        return "temporary"
    if result.error_class in ("InvalidURL", "UnsupportedRedirect", "TooManyRedirects"):
        return "permanent"
    if result.error_class == "BodyTooLarge":
        return "permanent"
    return "temporary"  # something unforeseen: retry with backoff rather than give up


def posting_interval(dates: Sequence[datetime]) -> int | None:
    """Mean gap in seconds between a feed's newest distinct entry dates; None when unknown."""
    newest = sorted(set(dates), reverse=True)[:RATE_SAMPLE]
    if len(newest) < 3:
        return None
    span = (newest[0] - newest[-1]).total_seconds()
    return round(span / (len(newest) - 1)) if span > 0 else None


def _http_date(value: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else None


def _delay(value: str | None, now: datetime) -> int | None:
    """Retry-After / Expires as seconds from now: a number of seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = int(value)
    else:
        when = _http_date(value)
        if when is None:
            return None
        seconds = round((when - now).total_seconds())
    return min(max(seconds, 0), HINT_CAP)


def cache_lifetime(result: FetchResult, now: datetime) -> int | None:
    """Seconds the response says it stays fresh (Cache-Control max-age, else Expires)."""
    cache_control = result.header("cache-control")
    if cache_control:
        directives = {}
        for part in cache_control.split(","):
            name, _, value = part.strip().partition("=")
            directives[name.lower()] = value.strip().strip('"')
        if "no-store" in directives or "no-cache" in directives:
            return None
        max_age = directives.get("max-age", "")
        if max_age.isdigit():
            return min(int(max_age), HINT_CAP)
    expires = result.header("expires")
    if expires is not None:
        # Measured against the server's own Date when given: clocks disagree.
        date = _http_date(result.header("date") or "")
        return _delay(expires, date or now)
    return None


def plan(
    history: PollHistory,
    result: FetchResult,
    outcome: str,
    settings: Settings,
    *,
    now: datetime,
    rng: random.Random,
    entry_dates: Sequence[datetime] = (),
    feed_ttl: int | None = None,
) -> PollPlan:
    """When to poll this feed next, after `result` ended with `outcome` (as in fetch_log).

    `entry_dates` are the publication dates of the document's entries and `feed_ttl` its
    <ttl>/sy:updatePeriod, both only when a document was parsed in this attempt.
    """
    ttl = feed_ttl if feed_ttl is not None else history.feed_ttl
    normal, why = _normal_interval(history, settings, entry_dates)
    floor, floor_why = 0, ""
    for seconds, name in (
        (cache_lifetime(result, now), "Cache-Control/Expires"),
        (min(ttl, HINT_CAP) if ttl else None, "feed ttl"),
    ):
        if seconds is not None and seconds > floor:
            floor, floor_why = seconds, name
    kind = error_kind(result, outcome)
    if kind is None:
        wait = _jittered(normal, settings.jitter, rng)
        if floor > wait:
            return _plan(now, floor, normal, None, f"{floor_why} asks for {format_span(floor)}")
        return _plan(now, wait, normal, None, why)
    errors = history.errors + 1
    if kind == "gone":
        reason = f"HTTP 410 Gone at {now:%Y-%m-%d %H:%M} UTC: the publisher removed this feed"
        return PollPlan(None, normal, "permanent", reason, "disabled: 410 Gone")
    if kind == "temporary":
        backoff = min(normal * 2 ** min(errors, 16), settings.max_backoff)
        why = f"backoff after {errors} error{'s' if errors > 1 else ''} in a row"
    else:
        backoff = settings.max_backoff
        why = "permanent error: retried at the longest backoff"
    wait = _jittered(max(backoff, normal), settings.jitter, rng)
    if result.status in (429, 503):
        retry_after = _delay(result.header("retry-after"), now)
        if retry_after is not None and retry_after > floor:
            floor, floor_why = retry_after, "Retry-After"
    if floor > wait:
        return _plan(now, floor, normal, kind, f"{floor_why} asks for {format_span(floor)}")
    return _plan(now, wait, normal, kind, why)


def _normal_interval(
    history: PollHistory, settings: Settings, entry_dates: Sequence[datetime]
) -> tuple[int, str]:
    if history.pinned is not None:
        return history.pinned, f"every {format_span(history.pinned)} (feeds.yaml)"
    if settings.adaptive:
        gap = posting_interval(entry_dates)
        if gap is not None:
            seconds = min(max(gap, settings.min_interval), settings.max_interval)
            return seconds, f"adaptive: posts about every {format_span(gap)}"
    if history.interval is not None:
        return history.interval, f"every {format_span(history.interval)}"
    default = min(max(settings.default_interval, settings.min_interval), settings.max_interval)
    return default, f"every {format_span(default)} (default)"


def _jittered(seconds: int, jitter: float, rng: random.Random) -> int:
    """Spread polls so feeds added together do not stay in lockstep."""
    return max(1, round(seconds * (1 + rng.uniform(-jitter, jitter))))


def _plan(now: datetime, wait: int, interval: int, kind: str | None, reason: str) -> PollPlan:
    return PollPlan(now + timedelta(seconds=wait), interval, kind, None, reason)


def format_span(seconds: int) -> str:
    """3600 -> "1h", 5400 -> "1h30m", 90 -> "1m30s"."""
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            amount, seconds = divmod(seconds, size)
            parts.append(f"{amount}{unit}")
        if len(parts) == 2:
            break
    return "".join(parts) or "0s"
