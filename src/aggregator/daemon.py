"""A feeds.yaml path in, polling forever out: each cycle fetches the feeds that are due.

    loop: reload feeds.yaml if it changed ─► update(due only) ─► log one line
          ─► sleep until the next feed is due (at most MAX_IDLE, to notice config edits)

A cycle finishes before the next starts, so a feed never has two requests in flight; the
per-host limit applies inside each cycle (fetch.py). The clock and the sleep are passed in,
so tests run days of polling in milliseconds. Stopping (SIGINT/SIGTERM in `aggregator run`)
sets an asyncio.Event: downloads in flight are cancelled, the feed being written finishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from .config import load_config
from .errors import AggregatorError
from .models import Config
from .store import Store
from .update import ClusterCache, UpdateSummary, update_async, utcnow

log = logging.getLogger("aggregator.run")

#: Longest sleep between cycles (seconds): feeds.yaml edits are picked up within this time.
MAX_IDLE = 60.0
#: Shortest sleep, so a feed that cannot be scheduled never makes the loop spin.
MIN_IDLE = 1.0

Sleep = Callable[[float, asyncio.Event], Awaitable[None]]


async def sleep_until_stopped(seconds: float, stop: asyncio.Event) -> None:
    """Sleep `seconds`, or less when `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


@dataclass(frozen=True, slots=True)
class Cycle:
    """One poll cycle, as logged."""

    number: int
    summary: UpdateSummary
    next_poll: datetime | None


class Daemon:
    """Polls the feeds of one feeds.yaml until stopped."""

    def __init__(
        self,
        config_path: str,
        *,
        clock: Callable[[], datetime] = utcnow,
        sleep: Sleep = sleep_until_stopped,
        rng: random.Random | None = None,
        on_cycle: Callable[[Cycle], None] | None = None,
    ) -> None:
        self.config_path = config_path
        self.clock = clock
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.on_cycle = on_cycle
        #: The story index, kept from one cycle to the next (update.ClusterCache).
        self.cluster_cache = ClusterCache()
        self._stamp = self._file_stamp()
        # A broken feeds.yaml at start is the caller's error (ConfigError); later edits
        # that break it are logged and the last good config keeps running.
        self.config: Config = load_config(config_path)

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.config_path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def reload(self) -> bool:
        """Re-read feeds.yaml if it changed on disk; True when a new config is in force."""
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            config = load_config(self.config_path)
        except AggregatorError as e:
            log.error("feeds.yaml changed but is not usable, keeping the previous one: %s", e)
            return False
        log.info("feeds.yaml changed: %d feeds configured", len(config.feeds))
        self.config = config
        return True

    async def run(self, stop: asyncio.Event, *, max_cycles: int | None = None) -> int:
        """Poll until `stop` is set (or `max_cycles` cycles that polled something); returns
        the number of cycles that polled at least one feed."""
        cycles = 0
        store = Store(self.config.database_path)
        #: The store holds the config in force (update_async syncs it on every run).
        synced = False
        try:
            while not stop.is_set():
                if self.reload():
                    synced = False
                    if store.path != self.config.database_path:
                        store.close()
                        store = Store(self.config.database_path)
                next_poll = store.next_poll_time()
                if synced and not self._due(next_poll):
                    # A wake-up only to look at feeds.yaml: nothing to poll, so no lock and
                    # no config write (a cron `fetch` beside us is not made to wait).
                    await self.sleep(self._wait(next_poll), stop)
                    continue
                try:
                    summary = await update_async(
                        self.config,
                        store,
                        due=True,
                        clock=self.clock,
                        rng=self.rng,
                        stop=stop,
                        cluster_cache=self.cluster_cache,
                    )
                except AggregatorError as e:
                    # The database is busy, full or gone for now: say so and try again
                    # later rather than stop polling for good.
                    log.error("poll cycle failed, retrying in %d s: %s", MAX_IDLE, e)
                    await self.sleep(MAX_IDLE, stop)
                    continue
                synced = True
                next_poll = store.next_poll_time()
                if summary.outcomes:
                    cycles += 1
                    cycle = Cycle(cycles, summary, next_poll)
                    log_cycle(cycle, self.clock())
                    if self.on_cycle is not None:
                        self.on_cycle(cycle)
                    if max_cycles is not None and cycles >= max_cycles:
                        break
                if stop.is_set():
                    break
                await self.sleep(self._wait(next_poll), stop)
        finally:
            store.close()
        return cycles

    def _due(self, next_poll: datetime | None) -> bool:
        return next_poll is not None and next_poll <= self.clock()

    def _wait(self, next_poll: datetime | None) -> float:
        """Seconds to sleep: until the next feed is due, within MIN_IDLE .. MAX_IDLE."""
        if next_poll is None:
            return MAX_IDLE
        until = (next_poll - self.clock()).total_seconds()
        return min(max(until, MIN_IDLE), MAX_IDLE)


def log_cycle(cycle: Cycle, now: datetime) -> None:
    """One line per cycle (one JSON object with --log-format json), and one per failure."""
    s = cycle.summary
    fields = {
        "event": "cycle",
        "cycle": cycle.number,
        "polled": len(s.outcomes),
        "ok": s.count("ok"),
        "not_modified": s.count("not_modified"),
        "unchanged": s.count("unchanged"),
        "failed": len(s.failed),
        "new_articles": s.new,
        "updated_articles": s.updated,
        "new_stories": s.new_stories,
        "next_poll": cycle.next_poll.isoformat() if cycle.next_poll else None,
    }
    until = ""
    if cycle.next_poll is not None:
        seconds = max(0, round((cycle.next_poll - now).total_seconds()))
        until = f"; next poll in {seconds // 60}m{seconds % 60:02d}s"
    log.info(
        "cycle %d: %d feeds polled: %d ok, %d not modified, %d unchanged, %d failed;"
        " %d new articles, %d updated, %d new stories%s",
        cycle.number,
        len(s.outcomes),
        s.count("ok"),
        s.count("not_modified"),
        s.count("unchanged"),
        len(s.failed),
        s.new,
        s.updated,
        s.new_stories,
        until,
        extra={"fields": fields},
    )
    for o in s.outcomes:
        if o.moved_to:
            log.warning(
                "%s moved permanently to %s: polling the new address",
                o.url,
                o.moved_to,
                extra={"fields": {"event": "moved", "feed": o.url, "moved_to": o.moved_to}},
            )
        if not o.failed:
            continue
        plan = o.plan
        detail = "disabled" if plan and plan.disabled_reason else "retry"
        when = plan.next_poll.isoformat() if plan and plan.next_poll else None
        log.warning(
            "%s failed (%s): %s; %s%s",
            o.url,
            plan.error_kind if plan else "error",
            o.error,
            plan.disabled_reason if plan and plan.disabled_reason else f"next attempt {when}",
            f" ({plan.reason})" if plan and not plan.disabled_reason else "",
            extra={
                "fields": {
                    "event": "feed_failed",
                    "feed": o.url,
                    "error": o.error,
                    "error_kind": plan.error_kind if plan else None,
                    "action": detail,
                    "next_poll": when,
                }
            },
        )
