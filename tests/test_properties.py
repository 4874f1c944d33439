"""Property-based tests (hypothesis): canonical URLs, entry identity, the feeds.yaml loader."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from aggregator.config import parse_config
from aggregator.errors import ConfigError
from aggregator.models import Config, ParsedEntry, ParsedFeed
from aggregator.normalize import canonical_url, normalize_feed

# --------------------------------------------------------------------------- canonical_url

#: Tracking parameters as the outside world knows them (Google Analytics, Facebook, Google
#: Ads, Mailchimp, AT Internet/BBC, Deutsche Welle, Al Jazeera, Matomo); the README lists them.
TRACKING = (
    "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "utm_id",
    "fbclid", "gclid", "msclkid", "mc_cid", "mc_eid", "at_medium", "at_campaign", "maca",
    "traffic_source", "mtm_campaign", "pk_campaign", "_ga",
)  # fmt: skip
#: Parameters that mean something to the site and must stay (README: "id, p, page, story,
#: q, ref, src, rss ... stay").
MEANINGFUL = ("id", "p", "page", "story", "q", "ref", "src", "rss", "article", "v", "lang")

_UNRESERVED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
value_text = st.text(alphabet=_UNRESERVED + "%:@!$'()*+,;/?", max_size=12)
path_text = st.lists(st.text(alphabet=_UNRESERVED + "%:@!$'()*+,;=", max_size=10), max_size=4).map(
    lambda parts: "/" + "/".join(parts) if parts else ""
)


@st.composite
def case_variant(draw: st.DrawFn, name: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
    return "".join(c.upper() if f else c for c, f in zip(name, flips, strict=True))


tracking_pair = st.tuples(
    st.sampled_from(TRACKING).flatmap(case_variant), value_text, st.just(True)
)
kept_name = st.one_of(
    st.sampled_from(MEANINGFUL),
    # Letters then a digit: never a tracking name (those have no digit but at_customN).
    st.from_regex(r"[a-z]{1,6}[0-9]", fullmatch=True),
)
kept_pair = st.tuples(kept_name, value_text, st.just(False))


@st.composite
def web_urls(draw: st.DrawFn) -> tuple[str, str]:
    """(a URL as feeds write it, the canonical URL it must become)."""
    scheme = draw(st.sampled_from(["http", "https"]))
    host = draw(st.from_regex(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,10}){0,3}", fullmatch=True))
    port = draw(st.sampled_from(["", "80", "443", "8080"]))
    path = draw(path_text)
    pairs = draw(st.lists(st.one_of(tracking_pair, kept_pair), max_size=6))
    fragment = draw(st.sampled_from(["", "#top", "#x=1&utm_source=a"]))
    query = "&".join(f"{n}={v}" for n, v, _ in pairs)
    url = (
        f"{draw(case_variant(scheme))}://{draw(case_variant(host))}"
        + (f":{port}" if port else "")
        + path
        + (f"?{query}" if pairs else "")
        + fragment
    )
    default = {"http": "80", "https": "443"}[scheme]
    kept = "&".join(f"{n}={v}" for n, v, tracking in pairs if not tracking)
    expected = (
        f"{scheme}://{host}"
        + (f":{port}" if port and port != default else "")
        + path
        + (f"?{kept}" if kept else "")
    )
    return url, expected


@given(web_urls())
@example(("HTTPS://News.Example:443/a/B?utm_source=rss&id=7#frag", "https://news.example/a/B?id=7"))
def test_canonical_url_removes_tracking_and_nothing_else(case: tuple[str, str]) -> None:
    url, expected = case
    assert canonical_url(url) == expected


@given(web_urls())
def test_canonical_url_is_idempotent_and_keeps_the_path(case: tuple[str, str]) -> None:
    url, _ = case
    once = canonical_url(url)
    assert canonical_url(once) == once
    assert urlsplit(once).path == urlsplit(url).path


@given(st.text(max_size=80))
@example("http://[::1")
@example("https://exa mple.org/?utm_source=x")
def test_canonical_url_of_any_text_is_text_and_idempotent(text: str) -> None:
    once = canonical_url(text)
    assert isinstance(once, str)
    assert canonical_url(once) == once


# --------------------------------------------------------------------------- identity

HOME = "https://site.example/"
T0 = datetime(2026, 1, 1, tzinfo=UTC)

guids = st.one_of(st.none(), st.sampled_from(["g1", "g2", "g3", "", HOME]), st.uuids().map(str))
links = st.one_of(
    st.none(),
    st.sampled_from([HOME, "https://site.example/a", "https://site.example/b"]),
    st.integers(0, 10**6).map(lambda n: f"https://site.example/n/{n}"),
)
titles = st.one_of(st.none(), st.sampled_from(["A", "B", "Breaking"]), st.text(max_size=8))
dates = st.one_of(st.none(), st.integers(0, 1000).map(lambda h: T0 + timedelta(hours=h)))
entries = st.builds(
    ParsedEntry, guid=guids, link=links, title=titles, summary=titles, published=dates
)
feeds = st.lists(entries, max_size=12).map(
    lambda es: ParsedFeed(title="t", link=HOME, language="en", version="rss20", entries=tuple(es))
)


def ids(feed: ParsedFeed, now: datetime = T0) -> list[tuple[str, str, str]]:
    return [(e.entry_id, e.id_source, e.content_hash) for e in normalize_feed(feed, now=now)]


@given(feeds)
def test_entry_ids_are_unique_and_never_blank(feed: ParsedFeed) -> None:
    found = normalize_feed(feed, now=T0)
    entry_ids = [e.entry_id for e in found]
    assert len(entry_ids) == len(set(entry_ids))
    assert all(i.strip() for i in entry_ids)
    assert {e.id_source for e in found} <= {"guid", "link", "hash"}
    assert len(found) <= len(feed.entries)


@given(feeds, st.integers(1, 10**6))
def test_identity_does_not_depend_on_the_clock(feed: ParsedFeed, seconds: int) -> None:
    assert ids(feed, T0) == ids(feed, T0 + timedelta(seconds=seconds))


@given(feeds)
def test_the_same_document_twice_gives_the_same_ids(feed: ParsedFeed) -> None:
    doubled = ParsedFeed(
        title=feed.title, link=feed.link, language=feed.language, version=feed.version,
        entries=feed.entries + feed.entries,
    )  # fmt: skip
    assert ids(doubled) == ids(feed)  # every repeat is recognised as the same item


@given(st.lists(st.tuples(st.uuids(), links, titles), max_size=12))
def test_distinct_guids_are_the_ids_whatever_the_links(rows) -> None:
    feed = ParsedFeed(
        title="t", link=HOME, language="en", version="rss20",
        entries=tuple(
            ParsedEntry(guid=str(g), link=link, title=t, summary=None, content=None)
            for g, link, t in rows
        ),
    )  # fmt: skip
    found = normalize_feed(feed, now=T0)
    assert [(e.entry_id, e.id_source) for e in found] == [(str(g), "guid") for g, _, _ in rows]


# --------------------------------------------------------------------------- feeds.yaml

KEYS = (
    "settings", "outlets", "feeds", "topics", "topic_scope", "url", "outlet", "title",
    "interval", "enabled", "name", "labels", "keywords", "regex", "exclude", "scope",
    "fallback", "database", "concurrency", "per_host", "max_body_bytes", "total_timeout",
    "story_threshold", "port",
)  # fmt: skip
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(["30m", "1h", "15MiB", "https://e.example/feed", "[", "*a", "&a x",
                     "!!binary AA", "2026-01-01", "0x1F", "1e400", ".inf", "~", "yes"]),
)  # fmt: skip
trees = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), children, max_size=4
        ),
    ),
    max_leaves=25,
)
documents = st.dictionaries(st.sampled_from(KEYS[:5]), trees, max_size=5)


def load(text: str) -> Config | ConfigError:
    try:
        return parse_config(text, "/cfg/feeds.yaml")
    except ConfigError as e:
        return e


def dump(tree: object) -> str:
    out = io.StringIO()
    YAML(typ="safe", pure=True).dump(tree, out)
    return out.getvalue()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
@example("feeds: [*a]")
@example("a: &a [*a]")
@example("x: !!python/object:os.system ls")
@example("\ufeff\x00")
def test_any_text_is_a_config_or_one_config_error(text: str) -> None:
    result = load(text)
    if isinstance(result, ConfigError):
        assert str(result).startswith("/cfg/feeds.yaml"), str(result)
        assert "\n" not in str(result).strip() or "Traceback" not in str(result)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_any_yaml_structure_is_a_config_or_a_located_config_error(tree: dict) -> None:
    result = load(dump(tree))
    if isinstance(result, ConfigError):
        assert str(result).startswith("/cfg/feeds.yaml:"), str(result)
        # Where: the line, and the key path when the problem is below the top level.
        assert result.line is not None, str(result)
