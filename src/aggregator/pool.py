"""Fetched bytes in, a PreparedFeed (parsed, normalised, tagged) out: on worker processes.

feedparser is pure Python and the cold-poll bottleneck (issue #7): one core parses about
2,000 entries/s. A small process pool parses on the other core(s) while the event loop keeps
downloading and the store thread keeps writing. Workers start from a forkserver that has
already imported the parser, so each one costs a fork, not a fresh interpreter, and a fork
never copies the caller's threads (the event loop, a store thread, a test's server).

Topic tagging (regexes over every entry's text) also runs here for a feed's first document,
where every entry is new, with the feed's own fixed topics: the store thread then only looks
the result up (`tag_lookup`), and tags afresh only an article that other feeds carry too.

A worker never raises into the pool: `prepare_job` turns a ParseError or any surprise into a
`PrepareFailure` value, since ParseError (keyword-only `url`) does not survive pickling and a
crash of one document must stay that feed's problem.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from .errors import ParseError
from .models import PreparedFeed, TopicMatch, TopicRule
from .normalize import normalize_feed
from .parse import parse_feed
from .topics import Tagger

__all__ = [
    "PrepareFailure", "Preparer", "TagJob", "auto_workers", "prepare", "prepare_job", "tag_lookup"
]  # fmt: skip

#: Fewer requests than this are parsed in the calling thread: starting workers (~0.2 s)
#: costs more than it saves on a handful of feeds.
MIN_FEEDS_FOR_WORKERS = 16
#: Never more workers than this: with the event loop and the store thread busy too, two
#: parsing processes fill a 2-core machine, and each worker costs ~40 MB of RSS.
MAX_WORKERS = 2


@dataclass(frozen=True, slots=True)
class PrepareFailure:
    """Why a document yielded no PreparedFeed."""

    #: "ParseError" for a document that is not a readable feed, else the unexpected
    #: exception's class name (a bug or a document no step foresaw).
    error_class: str
    message: str
    #: Formatted traceback for unexpected errors (logged by the caller), else None.
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class TagJob:
    """What tagging needs, small enough to send with every document: the rules, the
    topic scope and the feed's fixed topics."""

    rules: tuple[TopicRule, ...]
    scope: tuple[str, ...]
    feed_topics: tuple[str, ...]


#: Compiled Taggers by (rules, scope): a worker compiles each rule set once.
_TAGGERS: dict[tuple[tuple[TopicRule, ...], tuple[str, ...]], Tagger] = {}


def prepare(
    content: bytes,
    *,
    url: str,
    headers: Mapping[str, str],
    now: datetime,
    tag: TagJob | None = None,
) -> PreparedFeed:
    """Parse, normalise (and tag) one document; raises ParseError when it is not a feed."""
    parsed = parse_feed(content, url=url, headers=headers)
    entries = normalize_feed(parsed, now=now)
    tags: tuple = ()
    if tag is not None:
        key = (tag.rules, tag.scope)
        if key not in _TAGGERS:
            _TAGGERS[key] = Tagger(tag.rules, tag.scope)
        tagger = _TAGGERS[key]
        topics = tuple(sorted(set(tag.feed_topics)))
        tags = tuple(tagger.tag(e.tagging_text, topics) for e in entries)
    return PreparedFeed(
        title=parsed.title,
        link=parsed.link,
        problem=parsed.problem,
        entries=entries,
        tags=tags,
        ttl_seconds=parsed.ttl_seconds,
    )


def prepare_job(
    content: bytes,
    url: str,
    headers: Mapping[str, str],
    now: datetime,
    tag: TagJob | None = None,
) -> PreparedFeed | PrepareFailure:
    """`prepare` as a value, never an exception: what a worker runs."""
    try:
        return prepare(content, url=url, headers=headers, now=now, tag=tag)
    except ParseError as e:
        return PrepareFailure("ParseError", str(e))
    except Exception as e:
        return PrepareFailure(type(e).__name__, str(e), traceback.format_exc())


def auto_workers(feeds: int) -> int:
    """Worker processes for a run of `feeds` requests: 0 (in-thread) for small runs."""
    if feeds < MIN_FEEDS_FOR_WORKERS:
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(0, min(MAX_WORKERS, cores or 1)) if (cores or 1) > 1 else 0


class Preparer:
    """Runs `prepare_job` on `workers` processes, or in a thread of ours when workers is 0.

    At most `2 * workers` documents are handed to the pool at once, so the bodies waiting
    for a worker stay in this process (one copy) and not also in the pool's queue.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._slots = asyncio.Semaphore(max(1, 2 * workers))
        if workers > 0:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["aggregator.pool"])
            self._pool = ProcessPoolExecutor(
                workers,
                mp_context=context,
                initializer=_die_with_parent,
                initargs=(os.getpid(),),
            )

    async def __call__(
        self,
        content: bytes,
        *,
        url: str,
        headers: Mapping[str, str],
        now: datetime,
        tag: TagJob | None = None,
    ) -> PreparedFeed | PrepareFailure:
        loop = asyncio.get_running_loop()
        async with self._slots:
            # In-thread mode runs on the default executor: the event loop keeps downloading.
            return await loop.run_in_executor(
                self._pool, prepare_job, content, url, dict(headers), now, tag
            )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Preparer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def tag_lookup(
    prepared: PreparedFeed, feed_topics: Sequence[str], tagger: Tagger
) -> Callable[[str, Sequence[str]], Sequence[TopicMatch]]:
    """A store.Tag that answers from the worker's tags when asked the same question, and
    asks `tagger` otherwise (an article carried by feeds with other fixed topics)."""
    topics = tuple(sorted(set(feed_topics)))
    known = {
        (e.tagging_text, topics): t for e, t in zip(prepared.entries, prepared.tags, strict=False)
    }

    def tag(text: str, article_topics: Sequence[str]) -> Sequence[TopicMatch]:
        found = known.get((text, tuple(article_topics)))
        return found if found is not None else tagger.tag(text, article_topics)

    return tag


def _die_with_parent(parent: int) -> None:
    """Worker initializer: end this worker soon after the aggregator process is gone.

    Workers hold both ends of the pool's pipes (and the forkserver's keep-alive pipe), so
    after a kill -9 of the aggregator nothing they wait on ever closes: without this, idle
    workers and their forkserver would stay behind forever (seen in the crash test).
    """

    def watch() -> None:
        while True:
            time.sleep(1.0)
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                pass  # alive, under another user (a reused pid would be too, harmlessly)

    threading.Thread(target=watch, name="aggregator-parent-watch", daemon=True).start()
