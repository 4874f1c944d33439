"""Shared fixtures: real loopback feed servers, real SQLite files in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from aggregator.feedserver import serve_folder
from aggregator.models import Config, FeedConfig, OutletConfig, Settings, TopicRule

DATA = Path(__file__).parent / "data"
CORPUS = DATA / "corpus"
EVAL_DEV = DATA / "eval_dev"

#: Nested internal entities ("billion laughs"): &i; would expand to 10^8 "a"s.
_LAUGHS = '<!ENTITY a "aaaaaaaaaa">' + "".join(
    f'<!ENTITY {n} "{("&" + p + ";") * 10}">' for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)
BILLION_LAUGHS = f"""<?xml version="1.0"?><!DOCTYPE rss [{_LAUGHS}]>
<rss version="2.0"><channel><item><title>&i;</title><link>https://e.example/1</link></item>
</channel></rss>""".encode()

RULES = (
    TopicRule(name="sanctions", keywords=("sanction", "price cap")),
    TopicRule(name="military", keywords=("drone", "missile", "strike")),
    TopicRule(name="other", fallback=True),
)


def make_config(
    tmp_path: Path,
    feed_urls: Sequence[str],
    *,
    outlets: Sequence[OutletConfig] = (),
    feed_outlets: Sequence[str | None] | None = None,
    feed_topics: Sequence[tuple[str, ...]] | None = None,
    rules: Sequence[TopicRule] = RULES,
    **settings: object,
) -> Config:
    """A Config like feeds.yaml would give, with the database in tmp_path."""
    feeds = tuple(
        FeedConfig(
            url=url,
            outlet=(feed_outlets[i] if feed_outlets else None),
            topics=(feed_topics[i] if feed_topics else ()),
        )
        for i, url in enumerate(feed_urls)
    )
    return Config(
        path=str(tmp_path / "feeds.yaml"),
        settings=Settings(database="test.db", **settings),  # type: ignore[arg-type]
        outlets=tuple(outlets),
        feeds=feeds,
        topics=tuple(rules),
    )


def rss(items: Sequence[dict[str, str]], *, title: str = "Test feed") -> str:
    """A small RSS 2.0 document; each item dict may have title, link, guid, description, pubDate."""
    parts = []
    for item in items:
        fields = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in item.items() if k != "guid")
        if "guid" in item:
            fields += f'<guid isPermaLink="false">{escape(item["guid"])}</guid>'
        parts.append(f"<item>{fields}</item>")
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>https://example.org/</link>"
        f"<description>d</description>{''.join(parts)}</channel></rss>"
    )


@pytest.fixture
def feed_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "www"
    folder.mkdir()
    return folder


@pytest.fixture
def feed_server(feed_dir: Path) -> Iterator[object]:
    """A loopback server over an empty folder the test fills (tmp_path/www)."""
    with serve_folder(feed_dir) as server:
        yield server


@pytest.fixture
def eval_server() -> Iterator[object]:
    """The nine hand-labelled dev feeds on a loopback server."""
    with serve_folder(EVAL_DEV) as server:
        yield server


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample feeds through a loopback server and the real pipeline, once a session.

    Read-only for the tests that share it (Datasette pages, the browser).
    """
    from aggregator.demo import demo_config, sample_folder
    from aggregator.store import Store
    from aggregator.update import update

    path = tmp_path_factory.mktemp("demo") / "coverage.db"
    with serve_folder(sample_folder()) as server:
        config = demo_config(server.base_url, str(path))
        with Store(path) as store:
            summary = update(config, store)
    assert not summary.failed
    return path
