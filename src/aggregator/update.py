"""Config + Store in, UpdateSummary out: the one place that knows the order of the steps.

    fetch (network, concurrent) ─► parse ─► normalize ─► tag ─► store   (one feed at a time)
    then: new articles ─► cluster (against recent stories) ─► store stories

Fetching runs on the event loop; each finished download is parsed and normalised on a
small process pool (pool.py; in a thread for small runs), and stored by one store thread, so
downloads, parsing and writing overlap. A feed's failure at any step is recorded in its
fetch_log row and the run goes on.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import hashlib
import itertools
import logging
import random
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from . import store_stories
from .cluster import Clusterer, ClusterSettings
from .errors import AggregatorError, StoreError
from .fetch import fetch_all
from .lock import hold
from .models import Config, FeedRequest, FetchResult, PollPlan, PreparedFeed
from .pool import PrepareFailure, Preparer, TagJob, auto_workers, tag_lookup
from .schedule import PollHistory, plan
from .store import FeedState, SaveCounts, Store
from .topics import Tagger

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FeedOutcome:
    """What happened to one feed in one run."""

    #: Configured feed URL.
    url: str
    #: "ok", "not_modified", "unchanged", "error" or "parse_error" (as in fetch_log.outcome).
    outcome: str
    #: HTTP status of the final response, when one arrived.
    status: int | None = None
    #: Articles added / edited in place.
    new: int = 0
    updated: int = 0
    #: "ErrorClass: message" for failures.
    error: str | None = None
    #: The document was ill-formed but yielded entries (feedparser's complaint).
    problem: str | None = None
    #: When and why this feed is polled next (None when no plan was made).
    plan: PollPlan | None = None
    #: The new address after a permanent redirect (301/308), now stored.
    moved_to: str | None = None

    @property
    def failed(self) -> bool:
        return self.outcome in ("error", "parse_error")


@dataclass(frozen=True, slots=True)
class UpdateSummary:
    outcomes: tuple[FeedOutcome, ...]
    #: Articles assigned to stories after the fetch, and stories they opened.
    clustered: int = 0
    new_stories: int = 0

    @property
    def failed(self) -> tuple[FeedOutcome, ...]:
        return tuple(o for o in self.outcomes if o.failed)

    @property
    def new(self) -> int:
        return sum(o.new for o in self.outcomes)

    @property
    def updated(self) -> int:
        return sum(o.updated for o in self.outcomes)

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes if o.outcome == outcome)

    def __repr__(self) -> str:
        # Short on purpose: asyncio.run() formats its finished main task, this summary
        # included, when it puts the SIGINT handler back, and the full repr of thousands of
        # outcomes took ~20 ms of a 2,000-feed warm poll (issue #7).
        counts = dict(collections.Counter(o.outcome for o in self.outcomes))
        return (
            f"UpdateSummary(<{len(self.outcomes)} outcomes: {counts}>,"
            f" clustered={self.clustered}, new_stories={self.new_stories})"
        )


def utcnow() -> datetime:
    return datetime.now(UTC)


def select_feeds(config: Config, names: Sequence[str] = ()) -> list[str]:
    """URLs of the enabled feeds to fetch: all, or those whose URL, title or outlet is named."""
    if not names:
        return [f.url for f in config.feeds if f.enabled]
    wanted = {n.casefold() for n in names}
    chosen = [
        f.url
        for f in config.feeds
        if {f.url.casefold(), (f.title or "").casefold(), (f.outlet or "").casefold()} & wanted
    ]
    if not chosen:
        raise AggregatorError(
            f"no feed in {config.path} matches {', '.join(names)} (by URL, title or outlet)"
        )
    return chosen


def update(
    config: Config,
    store: Store,
    *,
    names: Sequence[str] = (),
    due: bool = False,
    clock: Callable[[], datetime] = utcnow,
    rng: random.Random | None = None,
    on_outcome: Callable[[FeedOutcome], None] | None = None,
    parse_workers: int | None = None,
) -> UpdateSummary:
    """Fetch, parse, normalise, tag and store the chosen feeds; never raises for one feed.

    All enabled feeds by default; those named (by URL, title or outlet), even ones the server
    disabled; or with `due`, only those whose next poll time has come. One update at a time
    per database: DatabaseBusy when another process is running one. `parse_workers`
    processes parse the downloads (0: a thread of this process); None picks by the number
    of feeds and cores (pool.auto_workers).
    """
    return asyncio.run(
        update_async(
            config,
            store,
            names=names,
            due=due,
            clock=clock,
            rng=rng,
            on_outcome=on_outcome,
            parse_workers=parse_workers,
        )
    )


async def update_async(
    config: Config,
    store: Store,
    *,
    names: Sequence[str] = (),
    due: bool = False,
    clock: Callable[[], datetime] = utcnow,
    rng: random.Random | None = None,
    on_outcome: Callable[[FeedOutcome], None] | None = None,
    stop: asyncio.Event | None = None,
    parse_workers: int | None = None,
    cluster_cache: ClusterCache | None = None,
) -> UpdateSummary:
    """`update` for a running event loop; setting `stop` ends the run early but cleanly.
    A long-running caller passes one `cluster_cache` to every run (see ClusterCache).

    On `stop`, downloads in flight are cancelled (those feeds stay due) and the feed being
    written finishes its transaction: nothing is half-written.
    """
    with hold(store.path):
        return await _update(
            config, store, names, due, clock, rng, on_outcome, stop, parse_workers, cluster_cache
        )


async def _update(
    config: Config,
    store: Store,
    names: Sequence[str],
    due: bool,
    clock: Callable[[], datetime],
    rng: random.Random | None,
    on_outcome: Callable[[FeedOutcome], None] | None,
    stop: asyncio.Event | None,
    parse_workers: int | None,
    cluster_cache: ClusterCache | None = None,
) -> UpdateSummary:
    urls = select_feeds(config, names)
    store.sync_config(config)
    states = store.feed_states()
    if due:
        now_due = set(store.due_urls(clock()))
        urls = [u for u in urls if u in now_due]
    elif not names:
        # Gone (410) feeds are only retried when asked for by name.
        urls = [u for u in urls if states[u].disabled_reason is None]
    if not urls:
        return UpdateSummary(())
    # One request per address; should two feeds share one (store.py avoids it), both
    # get the answer, so neither is left unscheduled.
    by_fetch_url: dict[str, list[FeedState]] = {}
    for u in urls:
        by_fetch_url.setdefault(states[u].fetch_url, []).append(states[u])
    rng = rng or random.Random()
    requests = [
        FeedRequest(url=s[0].fetch_url, etag=s[0].etag, last_modified=s[0].last_modified)
        for s in by_fetch_url.values()
    ]
    tagger = Tagger(config.topics, config.topic_scope)
    outcomes: list[FeedOutcome] = []
    workers = auto_workers(len(requests)) if parse_workers is None else parse_workers

    async def handle(result: FetchResult) -> None:
        for state in by_fetch_url[result.url]:
            body_hash: str | None = None
            prepared: PreparedFeed | PrepareFailure | None = None
            if result.ok and not result.not_modified and result.content is not None:
                body_hash = hashlib.sha256(result.content).hexdigest()
                # Servers without validators: the same bytes again are not parsed again.
                if body_hash != state.body_hash:
                    prepared = await preparer(
                        result.content,
                        url=result.final_url,
                        headers=dict(result.headers),
                        now=clock(),
                        # A feed's first document: every entry is new, so tag them all on
                        # the worker. Later ones mostly repeat stored entries, which the
                        # store skips without tagging: tagging them there would be waste.
                        tag=TagJob(config.topics, config.topic_scope, state.topics)
                        if state.body_hash is None
                        else None,
                    )
            outcome = await writer.write(
                partial(
                    process_result,
                    store,
                    state,
                    result,
                    tagger,
                    clock,
                    config,
                    rng,
                    body_hash,
                    prepared,
                ),
                # Feeds with entries to store commit one by one, as they come; the rest
                # (304s, errors, unchanged bodies) share a commit.
                alone=isinstance(prepared, PreparedFeed),
            )
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)

    # The store thread commits; another thread copies the log into the database.
    with store.background_checkpoints():
        # aclosing: if storing fails (StoreError), the downloads still in flight are cancelled
        # and the client closed before the error propagates. Leaving the `with` waits for the
        # store thread, so a write under way when `stop` is set finishes before we return.
        with (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="aggregator-store") as worker,
            Preparer(workers) as preparer,
        ):
            writer = _BatchWriter(store, worker)
            tasks: set[asyncio.Task[None]] = set()
            # Downloads run ahead of parsing and storing by at most `backlog` documents, so
            # memory holds a few dozen bodies, not the whole poll (a cold poll of 2,000 feeds
            # downloads 150 MB far faster than it parses it).
            backlog = 2 * config.settings.concurrency
            fetching = fetch_all(requests, config.settings, backlog=backlog)
            try:
                async with contextlib.aclosing(fetching) as results:
                    async for result in _until(results, stop):
                        tasks.add(asyncio.create_task(handle(result)))
                        if len(tasks) >= backlog:
                            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                        for task in [t for t in tasks if t.done()]:
                            tasks.discard(task)
                            task.result()  # a StoreError stops the run here
                if stop is None or not stop.is_set():
                    await asyncio.gather(*tasks)
            finally:
                # On stop (or an error): feeds not yet handed to the store thread stay due.
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await writer.close()
        clustered, new_stories = cluster_new(store, cluster_settings(config), cluster_cache)
    return UpdateSummary(tuple(outcomes), clustered, new_stories)


class _BatchWriter:
    """Runs store writes on the store thread; small writes that queued up meanwhile (a
    304, an error: one feed row and one fetch_log row each) share one transaction. A poll
    of thousands of feeds answering 304 paid a commit per feed.

    A write of new entries runs in a transaction of its own, so what a crash can lose is
    still at most the feed being written. Within a shared transaction each write keeps its
    own savepoint (Store.transaction nests); a StoreError (the database itself failed)
    fails the whole batch and, as before, stops the run.
    """

    _BATCH = 256

    def __init__(self, store: Store, thread: ThreadPoolExecutor) -> None:
        self._store = store
        self._thread = thread
        self._queue: list[tuple[Callable[[], FeedOutcome], bool, asyncio.Future[FeedOutcome]]]
        self._queue = []
        self._running: asyncio.Task[None] | None = None

    async def write(self, job: Callable[[], FeedOutcome], *, alone: bool) -> FeedOutcome:
        future: asyncio.Future[FeedOutcome] = asyncio.get_running_loop().create_future()
        self._queue.append((job, alone, future))
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._drain())
        return await future

    def _take(self) -> list[tuple[Callable[[], FeedOutcome], asyncio.Future[FeedOutcome]]]:
        """The next batch: one write that goes alone, or a run of small ones."""
        queue = [q for q in self._queue if not q[2].cancelled()]
        size = 1
        if queue and not queue[0][1]:
            while size < min(len(queue), self._BATCH) and not queue[size][1]:
                size += 1
        self._queue = queue[size:]
        return [(job, future) for job, _, future in queue[:size]]

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while batch := self._take():
            try:
                outcomes = await loop.run_in_executor(
                    self._thread, self._run, [job for job, _ in batch]
                )
            except BaseException as e:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(e)
                if isinstance(e, asyncio.CancelledError):
                    raise
                continue
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():
                    future.set_result(outcome)

    def _run(self, jobs: list[Callable[[], FeedOutcome]]) -> list[FeedOutcome]:
        if len(jobs) == 1:
            return [jobs[0]()]
        with self._store.transaction():
            return [job() for job in jobs]

    async def close(self) -> None:
        """Wait for the batch under way (a write that started finishes)."""
        if self._running is not None:
            await asyncio.gather(self._running, return_exceptions=True)


async def _until(
    results: AsyncIterator[FetchResult], stop: asyncio.Event | None
) -> AsyncIterator[FetchResult]:
    """The results until `stop` is set; a result that is ready when it is set still comes."""
    if stop is None:
        async for result in results:
            yield result
        return
    while not stop.is_set():
        following = asyncio.ensure_future(anext(results))
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({following, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not following.done():
            following.cancel()
            await asyncio.gather(following, return_exceptions=True)
            return
        try:
            yield following.result()
        except StopAsyncIteration:
            return


#: Story clustering settings (tuned on the labelled dev set; see bench/eval_stories.py).
CLUSTER_SETTINGS = ClusterSettings()


def cluster_settings(config: Config) -> ClusterSettings:
    """The tuned clustering settings with feeds.yaml's story_window and story_threshold."""
    return dataclasses.replace(
        CLUSTER_SETTINGS,
        window_hours=config.settings.story_window / 3600,
        threshold=config.settings.story_threshold,
    )


@dataclass
class ClusterCache:
    """A story index kept between runs in one process (the polling daemon), so that a cycle
    does not re-read and re-tokenise every article of the window (seconds for tens of
    thousands). Reused only while the stories are as the last run left them (the epoch of
    migration m006: a cron fetch, `recluster` or `prune` in between starts afresh), with
    the same settings, and for new articles that its window still covers."""

    clusterer: Clusterer | None = None
    settings: ClusterSettings | None = None
    epoch: int = -1

    def reusable(
        self, store: Store, settings: ClusterSettings, since: datetime
    ) -> Clusterer | None:
        clusterer = self.clusterer
        if clusterer is None or settings != self.settings:
            return None
        if store_stories.epoch(store) != self.epoch:
            return None
        if store_stories.next_story_id(store) != clusterer.next_story_id:
            return None
        # The index has evicted what lies behind its horizon. A new article a little older
        # than the newest seen misses only members that much older than itself, which the
        # time decay keeps from winning anyway; one far older gets a fresh index.
        horizon = clusterer.horizon
        if horizon is not None and since < horizon - timedelta(hours=settings.window_hours / 4):
            return None
        return clusterer

    def keep(self, store: Store, settings: ClusterSettings, clusterer: Clusterer) -> None:
        self.clusterer, self.settings = clusterer, settings
        self.epoch = store_stories.epoch(store)


def cluster_new(
    store: Store, settings: ClusterSettings = CLUSTER_SETTINGS, cache: ClusterCache | None = None
) -> tuple[int, int]:
    """Assign articles stored since the last run to stories; returns (articles, new stories).

    Only stories with members inside the time window before the oldest new article are
    loaded as candidates, so the cost follows the batch and the window, not the database.
    The new articles are read and saved a chunk at a time, in one transaction: a run that
    stops half-way leaves none of them clustered, and the next run takes them all.
    """
    chunks = store_stories.unclustered(store)
    first = next(chunks, None)
    if not first:
        return 0, 0
    since = first[0].published - timedelta(hours=settings.window_hours)
    first_new_id = store_stories.next_story_id(store)
    clusterer = cache.reusable(store, settings, since) if cache is not None else None
    if clusterer is None:
        recent = store_stories.recent_members(store, since, settings.max_indexed)
        clusterer = Clusterer(settings, recent=recent, next_story_id=first_new_id)
    count, touched = 0, set()
    try:
        with store.transaction():
            for batch in itertools.chain([first], chunks):
                assignments = clusterer.assign(batch)
                touched |= store_stories.add_members(store, assignments, batch)
                count += len(assignments)
            # Each story's figures once, not once per chunk it grew in: most chunks of a
            # cold poll add to the same big stories.
            store_stories.refresh_stories(store, touched)
    except BaseException:
        if cache is not None:
            cache.clusterer = None  # it saw assignments that were rolled back
        raise
    if cache is not None:
        cache.keep(store, settings, clusterer)
    return count, sum(1 for story_id in touched if story_id >= first_new_id)


def recluster(store: Store, settings: ClusterSettings = CLUSTER_SETTINGS) -> tuple[int, int]:
    """Rebuild every story from the stored articles; returns (articles, stories)."""
    store_stories.clear(store)
    clusterer = Clusterer(settings)
    count = 0
    for chunk in store_stories.iter_all(store):
        store_stories.save(store, clusterer.assign(chunk), chunk)
        count += len(chunk)
    return count, store_stories.next_story_id(store) - 1


def process_result(
    store: Store,
    feed: FeedState,
    result: FetchResult,
    tagger: Tagger,
    clock: Callable[[], datetime],
    config: Config,
    rng: random.Random,
    body_hash: str | None = None,
    prepared: PreparedFeed | PrepareFailure | None = None,
) -> FeedOutcome:
    """Store one download's outcome (parsed by pool.prepare); record the attempt whatever
    happens."""
    try:
        return _process_result(store, feed, result, tagger, clock, config, rng, body_hash, prepared)
    except StoreError:
        raise  # the database itself failed: no later feed can be stored either
    except Exception as e:
        # A document no step foresaw (or a bug): this feed fails, the others still run.
        log.exception("%s: unexpected error while processing", feed.url)
        return _unexpected(store, feed, result, type(e).__name__, str(e), config, clock(), rng)


def _unexpected(
    store: Store,
    feed: FeedState,
    result: FetchResult,
    error_class: str,
    text: str,
    config: Config,
    now: datetime,
    rng: random.Random,
) -> FeedOutcome:
    message = f"unexpected {error_class}: {text}"
    next_plan = _plan(feed, result, "parse_error", config, now, rng)
    store.record_attempt(
        feed,
        result,
        outcome="parse_error",
        error_class=error_class,
        error_message=message,
        plan=next_plan,
    )
    return FeedOutcome(feed.url, "parse_error", result.status, error=message, plan=next_plan)


def _plan(
    feed: FeedState,
    result: FetchResult,
    outcome: str,
    config: Config,
    now: datetime,
    rng: random.Random,
    entry_dates: Sequence[datetime] = (),
    feed_ttl: int | None = None,
) -> PollPlan:
    history = PollHistory(feed.interval, feed.poll_interval, feed.error_count, feed.feed_ttl)
    return plan(
        history,
        result,
        outcome,
        config.settings,
        now=now,
        rng=rng,
        entry_dates=entry_dates,
        feed_ttl=feed_ttl,
    )


def _moved_to(feed: FeedState, result: FetchResult) -> str | None:
    if result.ok and result.permanent_redirect and result.final_url != feed.fetch_url:
        log.warning(
            "%s: moved permanently to %s; polling the new address", feed.url, result.final_url
        )
        return result.final_url
    return None


def _process_result(
    store: Store,
    feed: FeedState,
    result: FetchResult,
    tagger: Tagger,
    clock: Callable[[], datetime],
    config: Config,
    rng: random.Random,
    body_hash: str | None,
    prepared: PreparedFeed | PrepareFailure | None,
) -> FeedOutcome:
    now = clock()
    if not result.ok:
        next_plan = _plan(feed, result, "error", config, now, rng)
        store.record_attempt(
            feed,
            result,
            outcome="error",
            error_class=result.error_class,
            error_message=result.error_message,
            plan=next_plan,
        )
        error = f"{result.error_class}: {result.error_message}"
        return FeedOutcome(feed.url, "error", result.status, error=error, plan=next_plan)
    moved_to = _moved_to(feed, result)
    if result.not_modified:
        next_plan = _plan(feed, result, "not_modified", config, now, rng)
        store.record_attempt(feed, result, outcome="not_modified", plan=next_plan)
        return FeedOutcome(
            feed.url, "not_modified", result.status, plan=next_plan, moved_to=moved_to
        )
    assert result.content is not None and body_hash is not None
    if prepared is None:
        # The same bytes as last time (see _update): not parsed again.
        next_plan = _plan(feed, result, "unchanged", config, now, rng)
        store.record_attempt(feed, result, outcome="unchanged", body_hash=body_hash, plan=next_plan)
        return FeedOutcome(feed.url, "unchanged", result.status, plan=next_plan, moved_to=moved_to)
    if isinstance(prepared, PrepareFailure):
        if prepared.error_class != "ParseError":
            log.error("%s: unexpected error while processing\n%s", feed.url, prepared.detail)
            return _unexpected(
                store, feed, result, prepared.error_class, prepared.message, config, now, rng
            )
        log.warning("%s: %s", feed.url, prepared.message)
        next_plan = _plan(feed, result, "parse_error", config, now, rng)
        store.record_attempt(
            feed,
            result,
            outcome="parse_error",
            error_class="ParseError",
            error_message=prepared.message,
            plan=next_plan,
        )
        error = f"ParseError: {prepared.message}"
        return FeedOutcome(feed.url, "parse_error", result.status, error=error, plan=next_plan)
    if prepared.problem:
        log.info("%s: ill-formed but readable: %s", feed.url, prepared.problem)
    dates = [e.published for e in prepared.entries if not e.date_is_fallback]
    next_plan = _plan(feed, result, "ok", config, now, rng, dates, prepared.ttl_seconds)
    counts: SaveCounts = store.save_entries(
        feed,
        result,
        prepared.entries,
        tag=tag_lookup(prepared, feed.topics, tagger),
        now=now,
        body_hash=body_hash,
        feed_title=prepared.title,
        site_url=prepared.link,
        problem=prepared.problem,
        plan=next_plan,
        feed_ttl=prepared.ttl_seconds,
    )
    return FeedOutcome(
        feed.url,
        "ok",
        result.status,
        counts.new,
        counts.updated,
        problem=prepared.problem,
        plan=next_plan,
        moved_to=moved_to,
    )
