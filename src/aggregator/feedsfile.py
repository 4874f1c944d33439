"""feeds.yaml plus feeds, outlets and topics to add in; the same file with them appended out.

Appending keeps every byte already in the file: comments, blank lines, key order, quoting and
multi-line flow lists. A ruamel.yaml round-trip *dump* would not: on our own feeds.yaml it
puts each multi-line `keywords: [...]` list on one line and drops the comments inside it.
So ruamel.yaml reads the file in round-trip mode, for the line and column of each section
and of its last item; ruamel.yaml writes each new item on its own; and the new text goes in
right after the last item of its section, indented like that item (a missing section is
added at the end). The result must pass the config loader (`config.parse_config`) before
it replaces the file, atomically (a temporary file in the same folder, then os.replace).
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Sequence
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .config import parse_config, url_identity
from .errors import ConfigError
from .models import Config, FeedConfig

_BOM = "\ufeff"


def read_text(path: str | os.PathLike[str]) -> str:
    """The file's text ("" when it does not exist yet)."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return f.read()
    except FileNotFoundError:
        return ""
    except UnicodeDecodeError as e:
        raise ConfigError(f"not UTF-8 text ({e.reason})", path=os.fspath(path)) from e
    except OSError as e:
        raise ConfigError(f"cannot read the file: {e.strerror or e}", path=os.fspath(path)) from e


def find_feed(config: Config, url: str) -> int | None:
    """Index of the configured feed with this URL (scheme and host in any case), or None."""
    identity = url_identity(url)
    for i, feed in enumerate(config.feeds):
        if url_identity(feed.url) == identity:
            return i
    return None


def add_to_file(
    path: str | os.PathLike[str],
    feeds: Sequence[FeedConfig],
    *,
    outlets: Sequence[str] = (),
    topics: Sequence[tuple[str, str | None]] = (),
) -> Config:
    """Append `feeds` (and first declare `outlets` and `topics` (name, description)) to `path`.

    Raises ConfigError, leaving the file as it was, when the file is invalid now, when a feed
    URL is already in it, or when the result would not be valid.
    """
    name = os.path.abspath(os.fspath(path))
    text = read_text(name)
    config = parse_config(text.removeprefix(_BOM), name)
    for feed in feeds:
        if (index := find_feed(config, feed.url)) is not None:
            raise ConfigError(
                f"{feed.url} is already configured (as {config.feeds[index].url})",
                path=name,
                key=f"feeds[{index}].url",
            )
    new_text = append_text(text, feeds, outlets=outlets, topics=topics, path=name)
    result = parse_config(new_text.removeprefix(_BOM), name)
    write_atomic(name, new_text)
    return result


def append_text(
    text: str,
    feeds: Sequence[FeedConfig],
    *,
    outlets: Sequence[str] = (),
    topics: Sequence[tuple[str, str | None]] = (),
    path: str = "feeds.yaml",
) -> str:
    """`text` with the new outlets, topics and feeds inserted (pure; see the module docstring)."""
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.replace("\r\n", "\n").splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    try:
        tree = YAML(typ="rt", pure=True).load("".join(lines).removeprefix(_BOM))
    except Exception as e:  # parse_config has read it already; be safe anyway
        raise ConfigError(f"not valid YAML: {e}", path=path) from e
    if tree is not None and not isinstance(tree, CommentedMap):
        raise ConfigError("expected a mapping at the top level", path=path, line=1)
    sections: list[tuple[str, list[dict[str, Any]], bool]] = [
        ("outlets", [{"name": name} for name in outlets], False),
        ("topics", [{name: {"description": d} if d else None} for name, d in topics], True),
        ("feeds", [_feed_item(f) for f in feeds], False),
    ]
    inserts: list[tuple[int, str]] = []  # (insert before this line index, text)
    tail = ""
    for key, items, is_mapping in sections:
        if not items:
            continue
        if tree is None or key not in tree:
            block = "".join(_emit(item, 2, 2, is_mapping) for item in items)
            tail += f"\n{key}:\n{block}"
            continue
        at, block = _insertion(lines, tree, key, items, is_mapping, path)
        inserts.append((at, block))
    for at, block in sorted(inserts, key=lambda pair: pair[0], reverse=True):
        lines.insert(at, block)
    out = "".join(lines) + tail
    return out.replace("\n", newline) if newline != "\n" else out


def _feed_item(feed: FeedConfig) -> dict[str, Any]:
    item: dict[str, Any] = {"url": feed.url}
    if feed.title:
        item["title"] = " ".join(feed.title.split())
    if feed.outlet:
        item["outlet"] = feed.outlet
    if feed.topics:
        item["topics"] = list(feed.topics)
    if feed.interval is not None:
        item["interval"] = duration_text(feed.interval)
    if not feed.enabled:
        item["enabled"] = False
    return item


def duration_text(seconds: int) -> str:
    """3600 -> "1h", 1800 -> "30m", 90 -> "90s": the spelling feeds.yaml uses."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _insertion(
    lines: list[str],
    tree: CommentedMap,
    key: str,
    items: list[dict[str, Any]],
    is_mapping: bool,
    path: str,
) -> tuple[int, str]:
    """Where the new items of section `key` go (a line index) and their text."""
    value = tree[key]
    key_line = tree.lc.key(key)[0]
    if value is None or (isinstance(value, dict | list) and not value):
        if value is not None:  # `feeds: []` -> `feeds:`, the block goes below
            line, col = tree.lc.value(key)
            closing = lines[line].index("]" if isinstance(value, list) else "}", col)
            lines[line] = lines[line][:col].rstrip(" ") + lines[line][closing + 1 :]
        block = "".join(_emit(item, 2, 2, is_mapping) for item in items)
        return key_line + 1, block
    flow = value.fa.flow_style() if isinstance(value, CommentedMap | CommentedSeq) else None
    if flow or not isinstance(value, CommentedMap if is_mapping else CommentedSeq):
        raise ConfigError(
            f"`{key}:` is not written as a block {'mapping' if is_mapping else 'list'} "
            "(one item per line), so aggregator cannot add to it; change it by hand",
            path=path,
            key=key,
            line=key_line + 1,
        )
    if is_mapping:
        last = list(value)[-1]
        line, col = value.lc.key(last)
        first = value[last]
        inner = (
            first.lc.key(next(iter(first)))[1] - col
            if isinstance(first, CommentedMap) and first and not first.fa.flow_style()
            else 2
        )
        owner = col
    else:
        line, col = value.lc.item(len(value) - 1)
        owner = lines[line].rfind("-", 0, col)  # the dash of `  - url: ...`
        if owner < 0:
            owner, col = max(col - 2, 0), max(col, 2)
        inner = col - owner
    end = _item_end(lines, line, owner)
    block = "".join(_emit(item, owner, inner, is_mapping) for item in items)
    return end + 1, block


def _item_end(lines: list[str], start: int, owner: int) -> int:
    """Last line of the item starting at `start` whose dash or key is in column `owner`.

    Its lines are those indented past `owner`; a comment at `owner` or left of it belongs
    to what follows (e.g. the next section's heading), not to the item.
    """
    end = start
    for i in range(start + 1, len(lines)):
        stripped = lines[i].strip()
        if not stripped:
            continue
        indent = len(lines[i]) - len(lines[i].lstrip(" "))
        if stripped.startswith("#"):
            if indent > owner:
                end = i
            continue
        if indent <= owner:
            break
        end = i
    return end


def _emit(item: dict[str, Any], owner: int, inner: int, is_mapping: bool) -> str:
    """One item as YAML text: `- key: ...` with the dash at `owner`, or `name:` at `owner`."""
    data = CommentedMap()
    for key, value in item.items():
        if isinstance(value, list):
            value = CommentedSeq(value)
            value.fa.set_flow_style()
        elif isinstance(value, dict):
            value = CommentedMap(value)
        data[key] = value
    yaml = YAML(typ="rt", pure=True)
    yaml.width = 4096  # never fold a long title or URL
    yaml.indent(mapping=inner, sequence=inner + 2, offset=inner)
    buf = io.StringIO()
    yaml.dump(data, buf)
    body = buf.getvalue().splitlines(keepends=True)
    if is_mapping:
        return "".join(" " * owner + line for line in body)
    first = " " * owner + "-" + " " * (inner - 1) + body[0]
    return first + "".join(" " * (owner + inner) + line for line in body[1:])


def write_atomic(path: str, text: str) -> None:
    """Replace `path` with `text` at once: readers see the old file or the new, never half."""
    target = os.path.realpath(path)  # a symlinked feeds.yaml stays a symlink
    folder = os.path.dirname(target)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".feeds-", suffix=".yaml.tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if os.path.exists(target):
            shutil.copymode(target, tmp)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
