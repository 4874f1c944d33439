"""Appending to feeds.yaml keeps every existing byte, validates first and writes atomically."""

from __future__ import annotations

import difflib
import os
import shutil
from pathlib import Path

import pytest

from aggregator.config import load_config
from aggregator.errors import ConfigError
from aggregator.feedsfile import add_to_file, append_text, duration_text
from aggregator.models import FeedConfig

ROOT = Path(__file__).parent.parent
OURS = [ROOT / "feeds.yaml", ROOT / "src" / "aggregator" / "sample" / "sample.yaml"]


def only_insertions(before: str, after: str) -> list[str]:
    """The inserted lines; fails when any existing line changed, moved or vanished."""
    matcher = difflib.SequenceMatcher(a=before.splitlines(), b=after.splitlines(), autojunk=False)
    inserted = []
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        assert op in ("equal", "insert"), (
            op,
            before.splitlines()[a1:a2],
            after.splitlines()[b1:b2],
        )
        if op == "insert":
            inserted += after.splitlines()[b1:b2]
    return inserted


@pytest.mark.parametrize("source", OURS, ids=lambda p: p.name)
def test_appending_to_our_own_files_only_inserts(tmp_path: Path, source: Path) -> None:
    path = tmp_path / "feeds.yaml"
    shutil.copy(source, path)
    before = path.read_text(encoding="utf-8")
    old = load_config(path)
    outlet = old.outlets[0].name if old.outlets else None
    new = FeedConfig(
        "https://new.example/feed", title="New: one", outlet=outlet, topics=("ukraine-live",),
        interval=1800,
    )  # fmt: skip
    config = add_to_file(path, [new], topics=[("ukraine-live", "Live pages")])
    after = path.read_text(encoding="utf-8")
    inserted = only_insertions(before, after)
    assert "  - url: https://new.example/feed" in inserted
    assert "    interval: 30m" in inserted and "    topics: [ukraine-live]" in inserted
    assert config.feeds[:-1] == old.feeds and config.feeds[-1] == new
    assert config.topics[-1].name == "ukraine-live"
    assert config.topics[-1].description == "Live pages"
    assert load_config(path) == config


def test_new_item_sits_in_its_section_not_after_the_next_heading(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    shutil.copy(ROOT / "feeds.yaml", path)
    add_to_file(path, [FeedConfig("https://new.example/feed")], outlets=["Newcomer"])
    lines = path.read_text(encoding="utf-8").splitlines()
    feed_line = lines.index("  - url: https://new.example/feed")
    outlet_line = lines.index("  - name: Newcomer")
    headings = [i for i, line in enumerate(lines) if line.startswith("# -----")]
    # The feed comes before the topics heading, the outlet before the feeds heading.
    assert any(feed_line < h for h in headings) and feed_line > lines.index("feeds:")
    assert outlet_line < lines.index("feeds:")
    assert lines[feed_line - 1].startswith("    ")  # right after the last feed's own lines


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("", "\nfeeds:\n  - url: https://a.example/rss\n"),
        ("settings: {}", "settings: {}\n\nfeeds:\n  - url: https://a.example/rss\n"),
        ("feeds: []  # none yet\n", "feeds:  # none yet\n  - url: https://a.example/rss\n"),
        ("feeds:\n# later\n", "feeds:\n  - url: https://a.example/rss\n# later\n"),
        (
            "feeds:\n- url: https://b.example/\n  enabled: false  # off\n\n# end\n",
            "feeds:\n- url: https://b.example/\n  enabled: false  # off\n"
            "- url: https://a.example/rss\n\n# end\n",
        ),
        (
            "feeds:\r\n    -   url: https://b.example/\r\n",
            "feeds:\r\n    -   url: https://b.example/\r\n    -   url: https://a.example/rss\r\n",
        ),
    ],
    ids=["empty", "no-section", "flow-empty", "null", "dash-at-0", "crlf-wide"],
)
def test_shapes_of_the_feeds_section(before: str, after: str) -> None:
    assert append_text(before, [FeedConfig("https://a.example/rss")]) == after


def test_flow_style_section_with_items_is_refused() -> None:
    with pytest.raises(ConfigError, match="block list"):
        append_text("feeds: [{url: https://b.example/}]\n", [FeedConfig("https://a.example/")])


def test_quoting_of_odd_titles_survives(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    title = "Ukraine: #1 'news' — \"live\" & more"
    add_to_file(path, [FeedConfig("https://a.example/rss?x=1&y=2", title=title)])
    [feed] = load_config(path).feeds
    assert feed.title == title and feed.url == "https://a.example/rss?x=1&y=2"


def test_duplicate_url_is_refused_and_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    text = "feeds:\n  - url: https://a.example/rss   # keep me\n"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"already configured") as caught:
        add_to_file(path, [FeedConfig("HTTPS://A.EXAMPLE/rss")])
    assert caught.value.key == "feeds[0].url"
    assert path.read_text() == text


def test_an_invalid_result_is_not_written(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    text = "feeds:\n  - url: https://a.example/rss\n"
    path.write_text(text)
    with pytest.raises(ConfigError, match="unknown outlet"):
        add_to_file(path, [FeedConfig("https://b.example/rss", outlet="Nobody")])
    with pytest.raises(ConfigError, match="topic names are lower-case"):
        add_to_file(path, [FeedConfig("https://b.example/rss", topics=("Bad Name",))],
                    topics=[("Bad Name", None)])  # fmt: skip
    assert path.read_text() == text
    assert os.listdir(tmp_path) == ["feeds.yaml"]  # no temporary file left behind


def test_an_invalid_file_is_reported_not_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  - url: https://a.example/rss\n    interval: often\n")
    with pytest.raises(ConfigError, match=r"feeds\[0\]\.interval"):
        add_to_file(path, [FeedConfig("https://b.example/rss")])


def test_symlink_and_mode_are_kept(tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_text("feeds:\n")
    real.chmod(0o640)
    link = tmp_path / "feeds.yaml"
    link.symlink_to(real)
    add_to_file(link, [FeedConfig("https://a.example/rss")])
    assert link.is_symlink()
    assert "https://a.example/rss" in real.read_text()
    assert real.stat().st_mode & 0o777 == 0o640


def test_topics_only_given_by_feeds_are_valid_only_when_a_feed_lists_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "feeds.yaml"
    add_to_file(path, [FeedConfig("https://a.example/rss", topics=("tech",))],
                topics=[("tech", "Tech")])  # fmt: skip
    assert [t.name for t in load_config(path).topics] == ["tech"]
    path.write_text("topics:\n  tech:\n    description: Tech\n")
    with pytest.raises(ConfigError, match="or a feed that lists it"):
        load_config(path)


@pytest.mark.parametrize(("seconds", "text"), [(60, "1m"), (5400, "90m"), (7200, "2h"),
                                              (86400, "1d"), (90, "90s")])  # fmt: skip
def test_duration_text(seconds: int, text: str) -> None:
    assert duration_text(seconds) == text
