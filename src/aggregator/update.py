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
import contextlib
import dataclasses
import hashlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from . import store_stories
from .cluster import Clusterer, ClusterSettings
from .errors import AggregatorError, StoreError
from .fetch import fetch_all
from .models import Config, FeedRequest, FetchResult, PreparedFeed
from .pool import PrepareFailure, Preparer, TagJob, auto_workers, tag_lookup
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
    clock: Callable[[], datetime] = utcnow,
    on_outcome: Callable[[FeedOutcome], None] | None = None,
    parse_workers: int | None = None,
) -> UpdateSummary:
    """Fetch, parse, normalise, tag and store the chosen feeds; never raises for one feed.

    `parse_workers` processes parse the downloads (0: a thread of this process); None picks
    by the number of feeds and cores (pool.auto_workers).
    """
    return asyncio.run(
        _update(
            config,
            store,
            names=names,
            clock=clock,
            on_outcome=on_outcome,
            parse_workers=parse_workers,
        )
    )


async def _update(
    config: Config,
    store: Store,
    *,
    names: Sequence[str],
    clock: Callable[[], datetime],
    on_outcome: Callable[[FeedOutcome], None] | None,
    parse_workers: int | None,
) -> UpdateSummary:
    urls = select_feeds(config, names)
    store.sync_config(config)
    states = store.feed_states()
    by_fetch_url = {states[u].fetch_url: states[u] for u in urls}
    requests = [
        FeedRequest(url=s.fetch_url, etag=s.etag, last_modified=s.last_modified)
        for s in by_fetch_url.values()
    ]
    tagger = Tagger(config.topics, config.topic_scope)
    loop = asyncio.get_running_loop()
    outcomes: list[FeedOutcome] = []
    workers = auto_workers(len(requests)) if parse_workers is None else parse_workers

    async def handle(result: FetchResult, store_thread: ThreadPoolExecutor) -> None:
        state = by_fetch_url[result.url]
        body_hash = prepared = None
        if result.ok and not result.not_modified and result.content is not None:
            body_hash = hashlib.sha256(result.content).hexdigest()
            # Servers without validators: the same bytes again are not parsed again.
            if body_hash != state.body_hash:
                prepared = await preparer(
                    result.content,
                    url=result.final_url,
                    headers=dict(result.headers),
                    now=clock(),
                    # A feed's first document: every entry is new, so tag them all on the
                    # worker. Later ones mostly repeat stored entries, which the store
                    # skips without tagging, so tagging every entry there would be waste.
                    tag=TagJob(config.topics, config.topic_scope, state.topics)
                    if state.body_hash is None
                    else None,
                )
        outcome = await loop.run_in_executor(
            store_thread, process_result, store, state, result, tagger, clock, body_hash, prepared
        )
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    # aclosing: if storing fails (StoreError), the downloads still in flight are cancelled
    # and the client closed before the error propagates.
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="aggregator-store") as worker,
        Preparer(workers) as preparer,
    ):
        tasks: set[asyncio.Task[None]] = set()
        try:
            async with contextlib.aclosing(fetch_all(requests, config.settings)) as results:
                async for result in results:
                    tasks.add(asyncio.create_task(handle(result, worker)))
                    for task in [t for t in tasks if t.done()]:
                        tasks.discard(task)
                        task.result()  # a StoreError stops the run here
                await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    clustered, new_stories = cluster_new(store, cluster_settings(config))
    return UpdateSummary(tuple(outcomes), clustered, new_stories)


#: Story clustering settings (tuned on the labelled dev set; see bench/eval_stories.py).
CLUSTER_SETTINGS = ClusterSettings()


def cluster_settings(config: Config) -> ClusterSettings:
    """The tuned clustering settings with feeds.yaml's story_window and story_threshold."""
    return dataclasses.replace(
        CLUSTER_SETTINGS,
        window_hours=config.settings.story_window / 3600,
        threshold=config.settings.story_threshold,
    )


def cluster_new(store: Store, settings: ClusterSettings = CLUSTER_SETTINGS) -> tuple[int, int]:
    """Assign articles stored since the last run to stories; returns (articles, new stories).

    Only stories with members inside the time window before the oldest new article are
    loaded as candidates, so the cost follows the batch and the window, not the database.
    """
    batch = store_stories.unclustered(store)
    if not batch:
        return 0, 0
    since = batch[0].published - timedelta(hours=settings.window_hours)
    first_new_id = store_stories.next_story_id(store)
    clusterer = Clusterer(
        settings, recent=store_stories.recent_members(store, since), next_story_id=first_new_id
    )
    assignments = clusterer.assign(batch)
    store_stories.save(store, assignments, batch)
    return len(assignments), len({a.story_id for a in assignments if a.story_id >= first_new_id})


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
    body_hash: str | None = None,
    prepared: PreparedFeed | PrepareFailure | None = None,
) -> FeedOutcome:
    """Store one download's outcome (parsed by pool.prepare); record the attempt whatever
    happens."""
    try:
        return _process_result(store, feed, result, tagger, clock, body_hash, prepared)
    except StoreError:
        raise  # the database itself failed: no later feed can be stored either
    except Exception as e:
        # A document no step foresaw (or a bug): this feed fails, the others still run.
        log.exception("%s: unexpected error while processing", feed.url)
        return _unexpected(store, feed, result, type(e).__name__, str(e))


def _unexpected(
    store: Store, feed: FeedState, result: FetchResult, error_class: str, text: str
) -> FeedOutcome:
    message = f"unexpected {error_class}: {text}"
    store.record_attempt(
        feed, result, outcome="parse_error", error_class=error_class, error_message=message
    )
    return FeedOutcome(feed.url, "parse_error", result.status, error=message)


def _process_result(
    store: Store,
    feed: FeedState,
    result: FetchResult,
    tagger: Tagger,
    clock: Callable[[], datetime],
    body_hash: str | None,
    prepared: PreparedFeed | PrepareFailure | None,
) -> FeedOutcome:
    if not result.ok:
        store.record_attempt(
            feed,
            result,
            outcome="error",
            error_class=result.error_class,
            error_message=result.error_message,
        )
        return FeedOutcome(
            feed.url, "error", result.status, error=f"{result.error_class}: {result.error_message}"
        )
    if result.not_modified:
        store.record_attempt(feed, result, outcome="not_modified")
        return FeedOutcome(feed.url, "not_modified", result.status)
    assert result.content is not None and body_hash is not None
    if prepared is None:
        # The same bytes as last time (see _update): not parsed again.
        store.record_attempt(feed, result, outcome="unchanged", body_hash=body_hash)
        return FeedOutcome(feed.url, "unchanged", result.status)
    if isinstance(prepared, PrepareFailure):
        if prepared.error_class != "ParseError":
            log.error("%s: unexpected error while processing\n%s", feed.url, prepared.detail)
            return _unexpected(store, feed, result, prepared.error_class, prepared.message)
        log.warning("%s: %s", feed.url, prepared.message)
        store.record_attempt(
            feed,
            result,
            outcome="parse_error",
            error_class="ParseError",
            error_message=prepared.message,
        )
        return FeedOutcome(
            feed.url, "parse_error", result.status, error=f"ParseError: {prepared.message}"
        )
    if prepared.problem:
        log.info("%s: ill-formed but readable: %s", feed.url, prepared.problem)
    counts: SaveCounts = store.save_entries(
        feed,
        result,
        prepared.entries,
        tag=tag_lookup(prepared, feed.topics, tagger),
        now=clock(),
        body_hash=body_hash,
        feed_title=prepared.title,
        site_url=prepared.link,
        problem=prepared.problem,
    )
    return FeedOutcome(
        feed.url, "ok", result.status, counts.new, counts.updated, problem=prepared.problem
    )
