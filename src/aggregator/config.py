"""feeds.yaml text in, validated `models.Config` out; every problem is one ConfigError.

Three steps, each with its own failure message:

1. ruamel.yaml (round-trip loader) reads the text; its `.lc` positions give the line of every
   key and list item, so errors can point at a line.
2. The tree is copied into plain Python values (guarding against alias bombs, recursive
   aliases and custom tags) and validated by pydantic models with `extra="forbid"`: a typo in
   a key is an error, never silently ignored.
3. Cross-references are checked (feed -> outlet, feed -> topic, unique names and URLs) and the
   result is converted to the frozen dataclasses of `models`. Pydantic stays inside this module.

The scalar parsers (durations, sizes, text, URLs, booleans, ...) are plain functions in
`units.py`; here they become pydantic validators.

An empty value (`title:`) means "not given" / the default; an empty file is an empty Config
(no feeds), not an error.
"""

from __future__ import annotations

import os
import re
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

from .errors import ConfigError
from .models import Config, FeedConfig, OutletConfig, Settings, TopicRule
from .units import (
    parse_bool,
    parse_duration,
    parse_keyword,
    parse_port,
    parse_positive_int,
    parse_regex,
    parse_seconds,
    parse_size,
    parse_text,
    parse_url,
    show_value,
)

# parse_duration and parse_size live in units.py; re-exported here, where they first lived.
__all__ = ["load_config", "parse_config", "parse_duration", "parse_size"]

Path = tuple[str | int, ...]

#: Feeds may not be polled more often than this (seconds).
MIN_INTERVAL = 60
_MAX_NODES = 100_000  # an alias "billion laughs" document expands past this
_MAX_DEPTH = 50
_TOPIC_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")

# --------------------------------------------------------------------------- scalars


def _interval(value: Any) -> int:
    seconds = parse_duration(value)
    if seconds < MIN_INTERVAL:
        raise ValueError(f"must be at least {MIN_INTERVAL} seconds (1m), got {show_value(value)}")
    return seconds


Text = Annotated[str, PlainValidator(parse_text)]
Keyword = Annotated[str, PlainValidator(parse_keyword)]
Regex = Annotated[str, PlainValidator(parse_regex)]
Url = Annotated[str, PlainValidator(parse_url)]
Bool = Annotated[bool, PlainValidator(parse_bool)]
PositiveInt = Annotated[int, PlainValidator(parse_positive_int)]
Seconds = Annotated[float, PlainValidator(parse_seconds)]
Interval = Annotated[int, PlainValidator(_interval)]
Size = Annotated[int, PlainValidator(parse_size)]
Port = Annotated[int, PlainValidator(parse_port)]

# --------------------------------------------------------------------------- schema


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Settings(_Strict):
    database: Text | None = None
    concurrency: PositiveInt | None = None
    per_host: PositiveInt | None = None
    connect_timeout: Seconds | None = None
    read_timeout: Seconds | None = None
    total_timeout: Seconds | None = None
    user_agent: Text | None = None
    max_body_bytes: Size | None = None
    default_interval: Interval | None = None
    adaptive: Bool | None = None
    min_interval: Interval | None = None
    max_interval: Interval | None = None
    max_backoff: Interval | None = None
    jitter: Annotated[float, Field(ge=0, le=0.5)] | None = None
    host: Text | None = None
    port: Port | None = None
    story_window: Interval | None = None
    story_threshold: Annotated[float, Field(gt=0, lt=1)] | None = None
    allow_private_addresses: Bool | None = None


class _Outlet(_Strict):
    name: Text
    country: Text | None = None
    language: Text | None = None
    labels: dict[str, Text] | None = None


class _Feed(_Strict):
    url: Url
    title: Text | None = None
    outlet: Text | None = None
    topics: list[Text] | None = None
    interval: Interval | None = None
    enabled: Bool | None = None


class _Topic(_Strict):
    keywords: list[Keyword] | None = None
    regex: list[Regex] | None = None
    exclude: list[Keyword] | None = None
    scope: list[Keyword] | None = None
    fallback: Bool | None = None
    description: Text | None = None


class _File(_Strict):
    settings: _Settings | None = None
    outlets: list[_Outlet] | None = None
    feeds: list[_Feed] | None = None
    topic_scope: list[Keyword] | None = None
    topics: dict[str, _Topic | None] | None = None


#: The model of the mapping at a key path, by its first key (for "expected one of" hints).
_SECTIONS: dict[Any, type[BaseModel]] = {
    "settings": _Settings, "outlets": _Outlet, "feeds": _Feed, "topics": _Topic
}  # fmt: skip


# --------------------------------------------------------------------------- errors


def key_path(loc: Path) -> str:
    """("feeds", 3, "interval") -> "feeds[3].interval"; odd names are quoted."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[\w-]+", part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


class _Reader:
    """Carries the file name and the line of every key path while reading one file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lines: dict[Path, int] = {}
        self.nodes = 0

    def error(self, message: str, loc: Path = (), line: int | None = None) -> ConfigError:
        if line is None:
            for n in range(len(loc), -1, -1):
                if loc[:n] in self.lines:
                    line = self.lines[loc[:n]]
                    break
        return ConfigError(message, path=self.path, key=key_path(loc) or None, line=line)

    def plain(self, value: Any, loc: Path = ()) -> Any:
        """Copy the ruamel tree into dict/list/str/int/float/bool/None, noting lines."""
        self.nodes += 1
        if self.nodes > _MAX_NODES:
            raise self.error(f"document too large (over {_MAX_NODES} values; alias bomb?)", loc)
        if len(loc) > _MAX_DEPTH:
            raise self.error(f"nested more than {_MAX_DEPTH} levels deep", loc)
        if isinstance(value, dict | list):  # ruamel breaks recursive aliases with None
            return self._container(value, loc)
        if value is None or isinstance(value, bool | str | date):
            return value
        if isinstance(value, int):  # also ruamel's ScalarInt, ScalarBoolean
            return bool(value) if type(value).__name__ == "ScalarBoolean" else int(value)
        if isinstance(value, float):
            return float(value)
        raise self.error(
            f"unsupported YAML value ({type(value).__name__}): use plain text, numbers, "
            "true/false, lists and mappings (no !tags, sets or binary)",
            loc,
        )

    def _container(self, value: dict | list, loc: Path) -> Any:
        lc = getattr(value, "lc", None)
        if isinstance(value, list):
            items = []
            for i, item in enumerate(value):
                self._note(loc + (i,), lc, "item", i)
                items.append(self.plain(item, loc + (i,)))
            return items
        mapping: dict[str, Any] = {}
        for key, item in value.items():
            name = (
                key if isinstance(key, str) else show_value(key).replace("nothing (null)", "null")
            )
            self._note(loc + (name,), lc, "key", key)
            if name in mapping:  # e.g. `1:` and `"1":`
                raise self.error(f"duplicate key {name!r}", loc + (name,))
            mapping[name] = self.plain(item, loc + (name,))
        return mapping

    def _note(self, loc: Path, lc: Any, kind: str, which: Any) -> None:
        try:
            self.lines[loc] = getattr(lc, kind)(which)[0] + 1
        except Exception:  # merged (`<<:`) keys have no position of their own
            pass


def _message(err: dict[str, Any], loc: Path) -> str:
    kind, value = err["type"], err.get("input")
    if kind == "value_error":
        return str(err["ctx"]["error"])
    if kind == "extra_forbidden":
        allowed = ", ".join(
            _SECTIONS.get(loc[0], _File).model_fields if len(loc) > 1 else _File.model_fields
        )
        return f"unknown key {str(loc[-1])!r}; expected one of: {allowed}"
    if kind == "missing":
        return f"missing required key {str(loc[-1])!r}"
    if kind == "list_type":
        return f"expected a list, got {show_value(value)}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        hint = " such as `- url: https://...`" if loc[:1] == ("feeds",) and len(loc) == 2 else ""
        return f"expected a mapping of key: value{hint}, got {show_value(value)}"
    return f"{err['msg']}, got {show_value(value)}"


def _first_error(reader: _Reader, exc: ValidationError) -> ConfigError:
    """The error nearest the top of the file (one clear message, not a list)."""
    errors = []
    for n, err in enumerate(exc.errors()):
        loc = tuple(err["loc"])
        raised = reader.error(_message(err, loc), loc)
        errors.append((raised.line or 0, n, raised))
    return min(errors, key=lambda t: t[:2])[2]


# --------------------------------------------------------------------------- loading


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate feeds.yaml at `path`."""
    name = os.path.abspath(os.fspath(path))
    try:
        with open(name, encoding="utf-8-sig") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise ConfigError(f"not UTF-8 text ({e.reason})", path=name) from e
    except OSError as e:
        raise ConfigError(f"cannot read the file: {e.strerror or e}", path=name) from e
    return parse_config(text, name)


def parse_config(text: str, path: str) -> Config:
    """Validate feeds.yaml `text`; `path` is used in messages and for relative paths."""
    reader = _Reader(path)
    try:
        tree = YAML(typ="rt", pure=True).load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = e.problem or e.context or "invalid YAML"
        key = None
        if isinstance(e, DuplicateKeyError):
            problem = problem.split(" with value")[0]
            key = key_path(_duplicate_key(text)) or None
        line = mark.line + 1 if mark else None
        raise ConfigError(problem, path=path, key=key, line=line) from e
    except Exception as e:  # any YAML parser failure is the file's problem, not a crash
        raise ConfigError(f"not valid YAML: {e}", path=path) from e
    if tree is None:
        return Config(path=path)
    if not isinstance(tree, dict):
        raise reader.error(
            f"expected a mapping with keys {', '.join(_File.model_fields)} at the top level, "
            f"got {show_value(tree)}",
            line=1,
        )
    data = reader.plain(tree)
    try:
        model = _File.model_validate(data)
    except ValidationError as e:
        raise _first_error(reader, e) from None
    return _build(model, reader)


def _duplicate_key(text: str) -> Path:
    """Key path of the first repeated mapping key, found on the node graph (no construction)."""
    seen: set[int] = set()

    def walk(node: Any, loc: Path) -> Path | None:
        if id(node) in seen or len(loc) > _MAX_DEPTH:
            return None
        seen.add(id(node))
        if isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                if (found := walk(item, loc + (i,))) is not None:
                    return found
        elif isinstance(node, MappingNode):
            keys: set[str] = set()
            for key, item in node.value:
                name = str(key.value) if isinstance(key, ScalarNode) else "?"
                if name in keys and name != "<<":
                    return loc + (name,)
                keys.add(name)
                if (found := walk(item, loc + (name,))) is not None:
                    return found
        return None

    try:
        return walk(YAML(typ="rt", pure=True).compose(text), ()) or ()
    except Exception:  # best effort: the line number is still reported
        return ()


def _build(model: _File, reader: _Reader) -> Config:
    """Check cross-references and convert to models.Config."""
    outlets: list[OutletConfig] = []
    first: dict[str, int] = {}
    for i, o in enumerate(model.outlets or ()):
        if o.name in first:
            raise reader.error(
                f"duplicate outlet name {o.name!r} (also outlets[{first[o.name]}])",
                ("outlets", i, "name"),
            )
        first[o.name] = i
        labels = tuple(sorted((o.labels or {}).items()))
        outlets.append(OutletConfig(o.name, o.country, o.language, labels))

    topics = _build_topics(model, reader)
    topic_names = {t.name for t in topics}

    feeds: list[FeedConfig] = []
    seen_urls: dict[str, int] = {}
    for i, f in enumerate(model.feeds or ()):
        if f.outlet is not None and f.outlet not in first:
            declared = ", ".join(repr(n) for n in first) or "none"
            raise reader.error(
                f"unknown outlet {f.outlet!r}; declared outlets: {declared}",
                ("feeds", i, "outlet"),
            )
        for j, topic in enumerate(f.topics or ()):
            if topic not in topic_names:
                declared = ", ".join(sorted(topic_names)) or "none"
                raise reader.error(
                    f"unknown topic {topic!r}; declared topics: {declared}",
                    ("feeds", i, "topics", j),
                )
        identity = url_identity(f.url)
        if identity in seen_urls:
            raise reader.error(
                f"duplicate feed URL {f.url!r}: feeds[{seen_urls[identity]}] and feeds[{i}]",
                ("feeds", i, "url"),
            )
        seen_urls[identity] = i
        topics_ = tuple(dict.fromkeys(f.topics or ()))
        feeds.append(
            FeedConfig(f.url, f.title, f.outlet, topics_, f.interval, f.enabled is not False)
        )

    given = model.settings.model_dump(exclude_none=True) if model.settings else {}
    settings = Settings(**given)
    if settings.min_interval > settings.max_interval:
        raise reader.error(
            f"min_interval ({settings.min_interval} s) is longer than max_interval"
            f" ({settings.max_interval} s)",
            ("settings", "min_interval"),
        )
    return Config(
        path=reader.path,
        settings=settings,
        outlets=tuple(outlets),
        feeds=tuple(feeds),
        topic_scope=tuple(model.topic_scope or ()),
        topics=topics,
    )


def _build_topics(model: _File, reader: _Reader) -> tuple[TopicRule, ...]:
    feed_topics = {t for f in model.feeds or () for t in f.topics or ()}
    rules: list[TopicRule] = []
    fallback: str | None = None
    for name, t in (model.topics or {}).items():
        loc: Path = ("topics", name)
        if not _TOPIC_NAME.fullmatch(name):
            raise reader.error(
                f"topic names are lower-case slugs like 'peace-talks' "
                f"(letters a-z, digits, hyphens), got {name!r}",
                loc,
            )
        t = t or _Topic()
        matchers = bool(t.keywords or t.regex)
        if t.fallback:
            if fallback is not None:
                raise reader.error(
                    f"only one topic may have fallback: true; {fallback!r} already does",
                    loc + ("fallback",),
                )
            if matchers or t.exclude or t.scope is not None:
                raise reader.error(
                    "a fallback topic is given when no other topic matched; "
                    "it takes no keywords, regex, exclude or scope",
                    loc,
                )
            fallback = name
        elif not matchers and name not in feed_topics:
            # A topic no rule gives is still useful when feeds list it (an OPML folder).
            raise reader.error(
                "a topic needs at least one keyword or regex (or fallback: true), "
                "or a feed that lists it under topics:",
                loc,
            )
        scope = None if t.scope is None else tuple(t.scope)
        words = (tuple(t.keywords or ()), tuple(t.regex or ()), tuple(t.exclude or ()))
        rules.append(TopicRule(name, *words, scope, bool(t.fallback), t.description))
    return tuple(rules)


def url_identity(url: str) -> str:
    """Scheme and host are case-insensitive; two spellings of one feed are one feed."""
    parts = urlsplit(url)
    return parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()).geturl()
