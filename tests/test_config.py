"""config.py: feeds.yaml in, Config out; every bad file is one ConfigError with a key path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from aggregator.config import load_config, parse_config
from aggregator.errors import ConfigError
from aggregator.models import Config, FeedConfig, OutletConfig, Settings, TopicRule

ROOT = Path(__file__).resolve().parent.parent
FEEDS_YAML = ROOT / "feeds.yaml"
STARTER_YAML = ROOT / "src" / "aggregator" / "starter.yaml"

GOOD = """\
settings:
  database: news.db
  concurrency: 4
  max_body_bytes: 2MiB
  default_interval: 2h
outlets:
  - name: Kyiv Ledger
    country: UA
    language: en
    labels: {type: independent, side: ua}
feeds:
  - url: https://ledger.example/rss
    outlet: Kyiv Ledger
    topics: [diplomacy]
    interval: 30m
  - url: http://other.example/atom.xml
    title: Other
    enabled: false
topic_scope: [ukrain, russia]
topics:
  diplomacy:
    keywords: [talks, "peace plan"]
    regex: ['\\bUN\\b']
    exclude: [football]
    description: Talks.
  sanctions:
    keywords: [sanction]
    scope: []
  other:
    fallback: true
"""


def write(tmp_path: Path, text: str, name: str = "feeds.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the real file


def test_committed_feeds_yaml_loads_with_outlets_on_many_sides():
    config = load_config(FEEDS_YAML)
    sides = {dict(o.labels).get("side") for o in config.outlets}
    assert len(sides - {None}) >= 4, sides
    assert config.settings.database == "aggregator.db"
    assert len(config.feeds) >= 15
    assert all(f.url.startswith(("http://", "https://")) for f in config.feeds)
    names = {t.name for t in config.topics}
    expected = {"diplomacy", "sanctions", "mediation", "information-war", "legitimacy"}
    assert expected | {"military", "energy", "humanitarian", "other"} <= names
    assert [t.name for t in config.topics if t.fallback] == ["other"]
    assert config.topic_scope


def test_starter_yaml_is_a_byte_identical_copy_and_loads():
    assert STARTER_YAML.read_bytes() == FEEDS_YAML.read_bytes()
    starter = load_config(STARTER_YAML)
    assert starter.feeds == load_config(FEEDS_YAML).feeds


# --------------------------------------------------------------------------- good input


def test_full_example_converts_to_models(tmp_path):
    path = write(tmp_path, GOOD)
    config = load_config(path)
    assert config.path == str(path)
    assert config.database_path == str(tmp_path / "news.db")
    assert config.settings == Settings(
        database="news.db", concurrency=4, max_body_bytes=2 * 1024 * 1024, default_interval=7200
    )
    assert config.outlets == (
        OutletConfig("Kyiv Ledger", "UA", "en", (("side", "ua"), ("type", "independent"))),
    )
    assert config.feeds == (
        FeedConfig("https://ledger.example/rss", None, "Kyiv Ledger", ("diplomacy",), 1800, True),
        FeedConfig("http://other.example/atom.xml", "Other", None, (), None, False),
    )
    assert config.topic_scope == ("ukrain", "russia")
    diplomacy, sanctions, other = config.topics
    assert diplomacy == TopicRule(
        "diplomacy", ("talks", "peace plan"), (r"\bUN\b",), ("football",), None, False, "Talks."
    )
    assert sanctions.scope == ()  # `scope: []` switches the default scope off
    assert other.fallback and other.keywords == ()


@pytest.mark.parametrize("text", ["", "\n", "# nothing yet\n", "---\n", "feeds:\n", "feeds: []\n"])
def test_empty_file_is_an_empty_config(tmp_path, text):
    # Decision: an empty feeds.yaml is valid and follows nothing (`aggregator init` fills it).
    path = write(tmp_path, text)
    assert load_config(path) == Config(path=str(path))


def test_empty_values_mean_defaults(tmp_path):
    config = load_config(
        write(
            tmp_path, "settings:\n  concurrency:\nfeeds:\n  - url: http://a.example/\n    title:\n"
        )
    )
    assert config.settings.concurrency == Settings().concurrency
    assert config.feeds[0].title is None and config.feeds[0].enabled is True


def test_sizes_and_durations_in_settings(tmp_path):
    text = "settings:\n  max_body_bytes: 500KB\n  default_interval: 90s\n  read_timeout: 1m\n"
    s = load_config(write(tmp_path, text)).settings
    assert (s.max_body_bytes, s.default_interval, s.read_timeout) == (500_000, 90, 60.0)


# --------------------------------------------------------------------------- bad input

FEED = "feeds:\n  - url: https://a.example/rss\n"
TOPICS = "topics:\n  sanctions:\n    keywords: [sanction]\n"

BAD = [
    # (id, text, key path in the message, line, words the message must contain)
    ("unknown-top-key", "feedz:\n  - url: http://a.example\n", "feedz", 1, "unknown key 'feedz'"),
    ("unknown-feed-key", FEED + "    intervall: 30m\n", "feeds[0].intervall", 3, "unknown key"),
    ("unknown-settings-key", "settings:\n  concurrent: 3\n", "settings.concurrent", 2,
     "concurrency"),
    ("unknown-topic-key", TOPICS + "    keyword: [x]\n", "topics.sanctions.keyword", 4, "unknown"),
    ("bad-interval", FEED * 1 + "    interval: often\n", "feeds[0].interval", 3,
     "expected a duration like 30m, 2h, 1d or a number of seconds, got 'often'"),
    ("short-interval", FEED + "    interval: 30s\n", "feeds[0].interval", 3, "at least 60 seconds"),
    ("bad-default-interval", "settings:\n  default_interval: soon\n",
     "settings.default_interval", 2, "expected a duration"),
    ("zero-concurrency", "settings:\n  concurrency: 0\n", "settings.concurrency", 2, "positive"),
    ("bool-concurrency", "settings:\n  concurrency: true\n", "settings.concurrency", 2, "got true"),
    ("negative-timeout", "settings:\n  read_timeout: -1\n", "settings.read_timeout", 2, "positive"),
    ("bad-size", "settings:\n  max_body_bytes: lots\n", "settings.max_body_bytes", 2, "500KB"),
    ("bad-port", "settings:\n  port: 99999\n", "settings.port", 2, "65535"),
    ("ftp-url", "feeds:\n  - url: ftp://a.example/rss\n", "feeds[0].url", 2, "http:// or https://"),
    ("no-host-url", "feeds:\n  - url: 'https:///rss'\n", "feeds[0].url", 2, "with a host"),
    ("relative-url", "feeds:\n  - url: /rss.xml\n", "feeds[0].url", 2, "http://"),
    ("missing-url", "feeds:\n  - title: A\n", "feeds[0].url", 2, "missing required key 'url'"),
    ("feed-not-mapping", "feeds:\n  - https://a.example/rss\n", "feeds[0]", 2, "- url:"),
    ("feeds-not-list", "feeds: https://a.example/rss\n", "feeds", 1, "expected a list"),
    ("unknown-outlet", FEED + "    outlet: Nobody\n", "feeds[0].outlet", 3,
     "unknown outlet 'Nobody'"),
    ("unknown-feed-topic", TOPICS + FEED + "    topics: [sanctions, war]\n", "feeds[0].topics[1]",
     6, "unknown topic 'war'"),
    ("duplicate-url", FEED + "  - url: https://b.example/\n  - url: https://a.example/rss\n",
     "feeds[2].url", 4, "feeds[0] and feeds[2]"),
    ("duplicate-url-case", FEED + "  - url: HTTPS://A.EXAMPLE/rss\n", "feeds[1].url", 3,
     "feeds[0]"),
    ("bad-enabled", FEED + "    enabled: maybe\n", "feeds[0].enabled", 3, "true or false"),
    ("title-list", FEED + "    title: [a]\n", "feeds[0].title", 3, "expected non-empty text"),
    ("duplicate-outlet", "outlets:\n  - name: A\n  - name: B\n  - name: A\n", "outlets[2].name", 4,
     "duplicate outlet name 'A'"),
    ("outlet-no-name", "outlets:\n  - country: UA\n", "outlets[0].name", 2, "missing"),
    ("labels-not-mapping", "outlets:\n  - name: A\n    labels: [ua]\n", "outlets[0].labels", 3,
     "mapping"),
    ("bad-regex", TOPICS + "    regex: ['ok', '(unclosed']\n", "topics.sanctions.regex[1]", 4,
     "invalid regular expression '(unclosed'"),
    ("two-fallbacks", "topics:\n  other:\n    fallback: true\n  misc:\n    fallback: true\n",
     "topics.misc.fallback", 5, "'other' already"),
    ("fallback-with-keywords", "topics:\n  other:\n    fallback: true\n    keywords: [x]\n",
     "topics.other", 2, "no keywords"),
    ("topic-without-matchers", "topics:\n  empty:\n    description: nothing\n", "topics.empty", 2,
     "at least one keyword or regex"),
    ("topic-null", "topics:\n  empty:\n", "topics.empty", 2, "at least one keyword"),
    ("topic-name-case", "topics:\n  Sanctions:\n    keywords: [x]\n", "topics.Sanctions", 2,
     "slug"),
    ("topic-name-space", "topics:\n  peace talks:\n    keywords: [x]\n", "topics['peace talks']", 2,
     "slug"),
    ("empty-keyword", TOPICS + "    exclude: [ok, '', x]\n", "topics.sanctions.exclude[1]", 4,
     "non-empty"),
    ("punctuation-keyword", TOPICS.replace("[sanction]", "[sanction, '--', x]"),
     "topics.sanctions.keywords[1]", 3, "letter or digit"),
    ("keywords-not-list", "topics:\n  s:\n    keywords: sanction\n", "topics.s.keywords", 3,
     "list"),
    ("scope-keyword", "topic_scope: [ukrain, {a: b}]\n", "topic_scope[1]", 1, "got a mapping"),
    ("duplicate-key", FEED + "    title: A\n    title: B\n", "feeds[0].title", 4, "duplicate key"),
    ("duplicate-top-key", "feeds: []\nsettings: {}\nfeeds: []\n", "feeds", 3, "duplicate key"),
    ("custom-tag", FEED + "    title: !secret x\n", "feeds[0].title", 3, "unsupported YAML value"),
    ("settings-not-mapping", "settings: fast\n", "settings", 1, "expected a mapping"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "key", "line", "words"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_config_names_file_key_and_line(tmp_path, text, key, line, words):
    path = write(tmp_path, text, name="my-feeds.yaml")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert err.path == str(path)
    assert err.key == key
    assert err.line == line
    message = str(err)
    assert message.startswith(f"{path}:{line}: {key}: ")
    assert words in message


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("feeds:\n  - url: http://a.example\n    title: [unclosed\n", 4, "expected"),
        ("feeds:\n  - url: http://a.example\n   bad indent: x\n", 3, ""),
        ("settings: {concurrency: 3\n", 2, ""),
        ("a: 'unterminated\n", 2, ""),
        ("feeds: [a, b]]\n", 1, "found ']'"),
        ("feeds:\n\t- url: x\n", 2, "'\\t'"),
        ("feeds: []\n---\nfeeds: []\n", 2, "another document"),
    ],
)
def test_yaml_syntax_errors_carry_the_line(tmp_path, text, line, words):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("text", "got"),
    [("- url: http://a.example\n", "got a list"), ("just words\n", "got 'just words'"),
     ("42\n", "got 42")],
)  # fmt: skip
def test_top_level_must_be_a_mapping(tmp_path, text, got):
    with pytest.raises(ConfigError, match=f"at the top level, {got}"):
        load_config(write(tmp_path, text))


def test_missing_file_is_a_config_error(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="cannot read the file") as info:
        load_config(path)
    assert info.value.path == str(path)


def test_non_utf8_file_is_a_config_error(tmp_path):
    path = tmp_path / "feeds.yaml"
    path.write_bytes("feeds: []\n# Київ\n".encode("utf-16"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


def test_alias_bomb_is_refused_quickly(tmp_path):
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for n in range(1, 9):
        prev = chr(ord("a") + n - 1)
        lines.append(f"{chr(ord('a') + n)}: &{chr(ord('a') + n)} [{', '.join(['*' + prev] * 10)}]")
    with pytest.raises(ConfigError, match="too large"):
        load_config(write(tmp_path, "\n".join(lines) + "\n"))


def test_the_earliest_problem_in_the_file_is_reported(tmp_path):
    text = FEED + "    interval: often\n  - url: ftp://b.example\n"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert info.value.key == "feeds[0].interval"


# --------------------------------------------------------------------------- never a traceback

yaml_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20),
    st.sampled_from(["http://a.example", "30m", "15MiB", "fallback", "true", "~", "1d"]),
)  # fmt: skip
yaml_keys = st.one_of(
    st.sampled_from(
        ["settings", "outlets", "feeds", "topics", "topic_scope", "url", "name", "interval",
         "keywords", "regex", "fallback", "scope", "labels", "enabled", "outlet", "concurrency",
         "max_body_bytes", "default_interval", "port", "other", "sanctions"]
    ),
    st.text(max_size=10),
)  # fmt: skip
yaml_trees = st.recursive(
    yaml_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(yaml_keys, children, max_size=5)
    ),
    max_leaves=25,
)


def dump(tree: object) -> str:
    import io

    out = io.StringIO()
    YAML(typ="safe", pure=True).dump(tree, out)
    return out.getvalue()


def loads_or_config_error(text: str) -> None:
    try:
        result = parse_config(text, "/x/feeds.yaml")
    except ConfigError as e:
        assert e.path == "/x/feeds.yaml" and str(e).startswith("/x/feeds.yaml")
    else:
        assert isinstance(result, Config)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_any_text_loads_or_raises_config_error(text):
    loads_or_config_error(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(yaml_keys, yaml_trees, max_size=5) | yaml_trees)
def test_any_yaml_tree_loads_or_raises_config_error(tree):
    loads_or_config_error(dump(tree))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(GOOD) - 1), st.text(max_size=5))
def test_corrupted_good_file_loads_or_raises_config_error(position, junk):
    loads_or_config_error(GOOD[:position] + junk + GOOD[position:])


def test_story_settings_default_to_the_tuned_clusterer_and_validate(tmp_path) -> None:
    from aggregator.cluster import ClusterSettings

    tuned = ClusterSettings()
    assert Settings().story_window == tuned.window_hours * 3600
    assert Settings().story_threshold == tuned.threshold
    config = parse_config("settings:\n  story_window: 2d\n  story_threshold: 0.3\n", "f.yaml")
    assert (config.settings.story_window, config.settings.story_threshold) == (172800, 0.3)
    with pytest.raises(ConfigError, match=r"f.yaml:2: settings.story_threshold"):
        parse_config("settings:\n  story_threshold: 1.5\n", "f.yaml")


def test_polling_settings_parse_and_validate() -> None:
    config = parse_config(
        "settings:\n  adaptive: no\n  min_interval: 10m\n  max_interval: 12h\n"
        "  max_backoff: 2d\n  jitter: 0.25\n",
        "f.yaml",
    )
    s = config.settings
    assert (s.adaptive, s.min_interval, s.max_interval, s.max_backoff, s.jitter) == (
        False,
        600,
        43200,
        172800,
        0.25,
    )
    with pytest.raises(ConfigError, match=r"f.yaml:\d*:? ?settings.min_interval: .*longer than"):
        parse_config("settings:\n  min_interval: 2h\n  max_interval: 1h\n", "f.yaml")
    with pytest.raises(ConfigError, match=r"f.yaml:2: settings.jitter"):
        parse_config("settings:\n  jitter: 0.9\n", "f.yaml")
    with pytest.raises(ConfigError, match=r"f.yaml:2: settings.max_backoff"):
        parse_config("settings:\n  max_backoff: 10s\n", "f.yaml")
