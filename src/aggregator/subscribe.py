"""A URL or an OPML file in, feeds appended to feeds.yaml out: `add` and the OPML commands.

`discover(url)`: fetch the URL (fetch.py, behind netguard unless private addresses are
allowed); a feed is its own single candidate; a web page offers the feeds its <link>s
advertise, else the common places (/feed, /rss.xml, ...); every candidate is fetched and
parsed, and only real feeds are offered. `add_feed` appends the chosen one (feedsfile.py),
declaring an outlet or topics it names that do not exist yet. `import_opml` plans with
opml.py, refuses private addresses, and appends; `export_opml` writes the OPML.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from . import opml
from .config import parse_config
from .discover import decode_html, feed_links, guess_urls, kind_of_version
from .errors import BlockedURL, FetchError, ParseError
from .feedsfile import add_to_file, find_feed, read_text
from .fetch import fetch_sync
from .models import (
    Config,
    FeedCandidate,
    FeedConfig,
    FeedRequest,
    FetchResult,
    ImportPlan,
    ParsedFeed,
    Settings,
)
from .netguard import Guard, Resolver, check_url, check_urls, system_resolver
from .parse import parse_feed

#: At most this many advertised links are fetched to check them (a page may list dozens).
MAX_LINKS = 12


def current_config(path: str | os.PathLike[str]) -> Config:
    """feeds.yaml at `path`, validated; an empty Config when the file does not exist yet."""
    name = os.path.abspath(os.fspath(path))
    return parse_config(read_text(name).removeprefix("\ufeff"), name)


def discover(
    url: str,
    settings: Settings,
    *,
    allow_private: bool = False,
    resolve: Resolver = system_resolver,
) -> tuple[tuple[FeedCandidate, ...], tuple[str, ...]]:
    """(feeds found at or from `url`, best first; notes on advertised feeds that failed).

    Raises BlockedURL (a private address, unless allowed), FetchError (the URL cannot be
    fetched) or ParseError (no feed anywhere).
    """
    guard = None if allow_private else Guard(resolve)
    if guard is not None:
        check_url(url, resolve)  # the plain message, before any request
    [first] = fetch_sync([FeedRequest(url)], settings, guard=guard)
    if first.error_class == "BlockedURL":
        raise BlockedURL(first.error_message or f"refused {url}", url=url)
    if not first.ok or first.content is None:
        raise FetchError(f"{url}: {first.error_message}", url=url, status=first.status)
    parsed = _as_feed(first)
    if parsed is not None:
        return (_candidate(first, parsed, title=None, source="given"),), ()
    page = decode_html(first.content, first.header("content-type"))
    links = feed_links(page, first.final_url)
    notes: list[str] = []
    found = _check(links[:MAX_LINKS], settings, guard, notes) if links else []
    if not found:
        guesses = [FeedCandidate(u, None, "feed", "guess") for u in guess_urls(first.final_url)]
        found = _check(guesses, settings, guard, [])
    if not found:
        raise ParseError(
            f"no feed found: {url} is not a feed, "
            + ("none of the feeds it advertises works" if links else "it advertises none")
            + " and none of the usual places (/feed, /rss.xml, /atom.xml ...) has one",
            url=url,
        )
    return tuple(found), tuple(notes)


def _check(
    candidates: Sequence[FeedCandidate],
    settings: Settings,
    guard: Guard | None,
    notes: list[str],
) -> list[FeedCandidate]:
    """The candidates that answer with a feed, in the given order, each feed once."""
    requests = [FeedRequest(c.url) for c in candidates]
    results = {r.url: r for r in fetch_sync(requests, settings, guard=guard)}
    found: dict[str, FeedCandidate] = {}
    for c in candidates:
        result = results[c.url]
        parsed = _as_feed(result) if result.ok else None
        if parsed is None:
            notes.append(f"{c.url}: {result.error_message or 'not a feed'}")
            continue
        candidate = _candidate(result, parsed, title=c.title, source=c.source)
        found.setdefault(result.final_url, candidate)  # /feed and /feed/ are one feed
    return list(found.values())


def _as_feed(result: FetchResult) -> ParsedFeed | None:
    if result.content is None:
        return None
    try:
        return parse_feed(result.content, url=result.final_url, headers=dict(result.headers))
    except ParseError:
        return None


def _candidate(
    result: FetchResult, parsed: ParsedFeed, *, title: str | None, source: str
) -> FeedCandidate:
    # A permanent redirect says where the feed lives now; a temporary one does not.
    url = result.final_url if result.permanent_redirect else result.url
    return FeedCandidate(url, title or parsed.title, kind_of_version(parsed.version), source)


def add_feed(
    path: str | os.PathLike[str],
    feed: FeedConfig,
) -> tuple[Config, tuple[str, ...], tuple[str, ...]]:
    """Append `feed`; declare its outlet and topics when new. (config, new outlets, new topics)."""
    config = current_config(path)
    outlets = {o.name for o in config.outlets}
    topics = {t.name for t in config.topics}
    new_outlets = (feed.outlet,) if feed.outlet and feed.outlet not in outlets else ()
    new_topics = tuple(t for t in feed.topics if t not in topics)
    result = add_to_file(path, [feed], outlets=new_outlets, topics=[(t, None) for t in new_topics])
    return result, new_outlets, new_topics


def import_opml(
    path: str | os.PathLike[str],
    document: bytes,
    *,
    source: str = "OPML",
    outlet: str | None = None,
    allow_private: bool = False,
    resolve: Resolver = system_resolver,
) -> ImportPlan:
    """Append the usable feeds of `document`; the plan returned says what was added and not.

    Its `feeds` are the feeds added; `problems` includes the refused private addresses.
    """
    config = current_config(path)
    plan = opml.plan_import(document, config, outlet=outlet, source=source)
    allow_private = allow_private or config.settings.allow_private_addresses
    refusals = {} if allow_private else check_urls([f.url for f in plan.feeds], resolve)
    feeds = [f for f in plan.feeds if refusals.get(f.url) is None]
    used_topics = {t for f in feeds for t in f.topics}
    used_outlets = {f.outlet for f in feeds}
    if feeds:
        add_to_file(
            path,
            feeds,
            outlets=[o for o in plan.new_outlets if o in used_outlets],
            topics=[(t, d) for t, d in plan.new_topics if t in used_topics],
        )
    refused = tuple(str(e) for e in refusals.values() if e is not None)
    return replace(
        plan,
        feeds=tuple(feeds),
        new_topics=tuple((t, d) for t, d in plan.new_topics if t in used_topics),
        new_outlets=tuple(o for o in plan.new_outlets if o in used_outlets),
        problems=plan.problems + refused,
    )


def export_opml(config: Config, *, site_urls: dict[str, str] | None = None) -> bytes:
    """OPML 2.0 of every configured feed (opml.to_opml), dated now."""
    return opml.to_opml(config, now=datetime.now(UTC), site_urls=site_urls)


__all__ = ["add_feed", "current_config", "discover", "export_opml", "find_feed", "import_opml"]
