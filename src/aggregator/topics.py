"""Entry text + topic rules in, topic matches out; pure (no I/O, no clock).

Build one `Tagger` per run from `Config.topics` and `Config.topic_scope`; it compiles one
alternation regex per topic (keywords and regexes together), one for its excludes and one
per scope, so tagging an entry is a handful of `re.search` calls. The alternations have no
capturing groups and one shared word-start check: with a group per keyword, Python's `re`
runs about ten times slower. Which keyword matched is asked only after a match.

Keyword semantics (see models.TopicRule):

- case-insensitive, on Unicode text (Cyrillic, accents);
- a keyword matches at the start of a word: `sanction` matches "Sanctions" and
  "sanctioned", not "unsanctioned"; the end is open, so keywords are word prefixes;
- a keyword with spaces is a phrase: its words must follow each other (any whitespace, or a
  hyphen, in between) and its last word is again a prefix ("peace talk" -> "peace talks");
- a hyphen in a keyword matches a hyphen or dash, a space, or nothing ("track-two" matches
  "track two", "track–two" and "tracktwo"); an apostrophe matches ' ’ or ʼ ("Kyiv's").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .models import TopicMatch, TopicRule

__all__ = ["Tagger", "keyword_pattern"]

_SPACE = r"[\s\-\u00ad\u2010-\u2015\u2212]+"  # whitespace or hyphens/dashes between words
_HYPHEN = r"[\s\-\u00ad\u2010-\u2015\u2212]*"  # a written hyphen: hyphen, dash, space or none
_HYPHENS = "-\u00ad\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
_APOSTROPHES = "'\u2018\u2019\u02bc\u2032`"
_APOSTROPHE = "['\u2018\u2019\u02bc\u2032`]"
# Not preceded by a letter or digit: the keyword starts a word. A hyphen or apostrophe
# before it counts as a word boundary, so "anti-sanctions" still says "sanctions".
_WORD_START = r"(?<!\w)"
_GLOBAL_FLAGS = re.compile(r"\(\?[aiLmsux]+\)")  # "(?x)..." must start the whole pattern


def _nfc(text: str) -> str:
    # Decomposed accents (e + U+0301) would otherwise not match a composed keyword.
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def keyword_pattern(keyword: str) -> str:
    """The regex source for one keyword or phrase (compile with re.IGNORECASE)."""
    return _WORD_START + _keyword_body(keyword)


def _keyword_body(keyword: str) -> str:
    out: list[str] = []
    pending = ""  # separator to emit before the next literal character
    for ch in _nfc(keyword.strip()):
        if ch.isspace():
            pending = _SPACE
        elif ch in _HYPHENS:
            pending = pending or _HYPHEN
        else:
            if pending and out:
                out.append(pending)
            pending = ""
            out.append(_APOSTROPHE if ch in _APOSTROPHES else re.escape(ch))
    if not out:
        raise ValueError(f"keyword {keyword!r} has nothing to match")
    return "".join(out)


def _keywords_source(keywords: Iterable[str]) -> str:
    bodies = [_keyword_body(k) for k in keywords]
    return f"{_WORD_START}(?:{'|'.join(bodies)})" if bodies else ""


def _alternation(keywords: Iterable[str]) -> re.Pattern[str] | None:
    source = _keywords_source(keywords)
    return re.compile(source, re.IGNORECASE) if source else None


@dataclass(frozen=True, slots=True)
class _Compiled:
    name: str
    #: Any keyword or (group-free) regex of the topic.
    matcher: re.Pattern[str] | None
    #: The same alternatives one by one, in order, to say which one matched.
    labelled: tuple[tuple[re.Pattern[str], str], ...]
    #: Regexes that could not go into the alternation (they use groups or global flags).
    separate: tuple[tuple[re.Pattern[str], str], ...]
    exclude: re.Pattern[str] | None
    #: None: use the Tagger-wide scope.
    scope: re.Pattern[str] | None
    own_scope: bool


def _compile_rule(rule: TopicRule) -> _Compiled:
    sources = [_keywords_source(rule.keywords)] if rule.keywords else []
    labelled = [
        (re.compile(keyword_pattern(k), re.IGNORECASE), f"keyword:{k}") for k in rule.keywords
    ]
    separate: list[tuple[re.Pattern[str], str]] = []
    for pattern in rule.regex:
        compiled = re.compile(pattern, re.IGNORECASE)
        # A pattern with its own groups would shift the group numbers (and break its own
        # backreferences) inside the big alternation; it runs on its own instead.
        if compiled.groups or _GLOBAL_FLAGS.match(pattern):
            separate.append((compiled, f"regex:{pattern}"))
        else:
            sources.append(f"(?:{pattern})")
            labelled.append((compiled, f"regex:{pattern}"))
    matcher = re.compile("|".join(sources), re.IGNORECASE) if sources else None
    return _Compiled(
        name=rule.name,
        matcher=matcher,
        labelled=tuple(labelled),
        separate=tuple(separate),
        exclude=_alternation(rule.exclude),
        scope=_alternation(rule.scope or ()),
        own_scope=rule.scope is not None,
    )


class Tagger:
    """Compiled topic rules; `tag()` is pure and thread-safe.

    The rules are checked at once and compiled at the first `tag()`: a poll in which every
    feed answers 304 tags nothing and should not pay for compiling every rule's pattern.
    """

    def __init__(self, rules: Sequence[TopicRule], topic_scope: Sequence[str] = ()) -> None:
        names = [r.name for r in rules]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate topic names in {names}")
        fallbacks = [r.name for r in rules if r.fallback]
        if len(fallbacks) > 1:
            raise ValueError(f"more than one fallback topic: {fallbacks}")
        self.fallback: str | None = fallbacks[0] if fallbacks else None
        self._sources = (tuple(r for r in rules if not r.fallback), tuple(topic_scope))
        self._compiled: tuple[tuple[_Compiled, ...], re.Pattern[str] | None] | None = None

    def _patterns(self) -> tuple[tuple[_Compiled, ...], re.Pattern[str] | None]:
        if self._compiled is None:  # two threads may both compile; either result is right
            rules, scope = self._sources
            self._compiled = (tuple(_compile_rule(r) for r in rules), _alternation(scope))
        return self._compiled

    def tag(self, text: str, feed_topics: Sequence[str] = ()) -> tuple[TopicMatch, ...]:
        """Topics for one entry's text (title + summary), sorted by topic name.

        Feed topics are given as rule "feed" whatever the rules say; the fallback topic only
        when no other topic was given, by rule or by feed.
        """
        rules, scope = self._patterns()
        text = _nfc(text)
        found: dict[str, str] = {}
        in_scope: bool | None = None  # the Tagger-wide scope, searched at most once
        for rule in rules:
            label = self._match(rule, text)
            if label is None:
                continue
            if rule.exclude is not None and rule.exclude.search(text):
                continue
            if rule.own_scope:
                if rule.scope is not None and not rule.scope.search(text):
                    continue
            elif scope is not None:
                if in_scope is None:
                    in_scope = scope.search(text) is not None
                if not in_scope:
                    continue
            found[rule.name] = label
        for topic in feed_topics:
            found[topic] = "feed"
        if self.fallback is not None and not (found.keys() - {self.fallback}):
            found.setdefault(self.fallback, "fallback")
        return tuple(TopicMatch(topic, found[topic]) for topic in sorted(found))

    @staticmethod
    def _match(rule: _Compiled, text: str) -> str | None:
        """The label of the earliest keyword/regex match in `text`, or None."""
        best: tuple[int, str] | None = None
        if rule.matcher is not None and (m := rule.matcher.search(text)):
            # The alternation takes the first alternative that matches at the leftmost
            # position; asking them in the same order names that one.
            label = next((lb for p, lb in rule.labelled if p.match(text, m.start())), "?")
            best = (m.start(), label)
        for pattern, label in rule.separate:
            m = pattern.search(text)
            if m and (best is None or m.start() < best[0]):
                best = (m.start(), label)
        return None if best is None else best[1]
