"""Entry text + topic rules in, topic matches out; pure (no I/O, no clock).

Build one `Tagger` per run from `Config.topics` and `Config.topic_scope`; it compiles one
alternation regex per topic (keywords and regexes together), one for its excludes and one
per scope, so tagging an entry is a handful of `re.search` calls. The alternations have no
capturing groups and one shared word-start check: with a group per keyword, Python's `re`
runs about ten times slower. Which keyword matched is asked only after a match.

Keywords are matched case-sensitively against a *folded* copy of the text (`fold`: lower
case, plus the few extra equivalences that `re.IGNORECASE` knows, such as ſ = s and
ı = i), which gives exactly the matches of an IGNORECASE search at a third of the cost
per rule (60 % of tagging as a whole): Python's `re` skips a failing alternative with one
comparison only for case-sensitive literals. Folding keeps every character's position,
so "the earliest match" is unchanged. Regexes from feeds.yaml run on the original text
with IGNORECASE, as written.

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


def _fold_classes() -> tuple[dict[int, int], dict[str, str]]:
    """Characters that IGNORECASE matches beyond simple lower case -> one representative,
    and the representatives that also stand for a non-word character.

    `re` compares simple lower-case mappings plus the extra classes of `re._casefix` (i/ı,
    s/ſ, σ/ς, в/ᲀ ...); str.lower() uses the full mapping, which differs only for U+0130
    (İ -> "i̇", two characters; its simple mapping is "i"). A word character is only ever
    replaced by a word character, so the word-start check sees the same text; the one
    non-word member of a class (U+0345, which IGNORECASE equates with iota) is left alone in
    the text and matched by a character class in the keyword instead.
    """
    table = {0x130: ord("i")}
    try:
        from re._casefix import _EXTRA_CASES  # the table re itself compiles with
    except ImportError:  # pragma: no cover - not CPython 3.11+: keep the known classes
        _EXTRA_CASES = {0x69: (0x131,), 0x131: (0x69,), 0x73: (0x17F,), 0x17F: (0x73,)}
    mixed: dict[int, set[int]] = {}  # representative -> the non-word members of its class
    for char, others in _EXTRA_CASES.items():
        members = {char, *others} | {table.get(m, m) for m in (char, *others)}
        words = sorted(m for m in members if chr(m).isalnum())
        representative = words[0] if words else min(members)
        for m in members:
            if chr(m).isalnum() == chr(representative).isalnum():
                table[m] = representative
            else:
                mixed.setdefault(representative, set()).add(m)
    # In a keyword, any character of a mixed class matches every form the folded text
    # can hold: the representative and the non-word members.
    aliases: dict[str, str] = {}
    for representative, non_words in mixed.items():
        forms = "".join(chr(c) for c in sorted({representative, *non_words}))
        for c in (representative, *non_words):
            aliases[chr(c)] = forms
    return {k: v for k, v in table.items() if k != v}, aliases


_FOLD, _NON_WORD_ALIASES = _fold_classes()


def fold(text: str) -> str:
    """`text` with every character replaced by one representative of its IGNORECASE class;
    the same length, so positions in it are positions in `text`."""
    if text.isascii():
        return text.lower()
    return text.translate(_FOLD).lower().translate(_FOLD)


def keyword_pattern(keyword: str) -> str:
    """The regex source for one keyword or phrase (compile with re.IGNORECASE)."""
    return _WORD_START + _keyword_body(keyword)


def _keyword_body(keyword: str, *, normalise: bool = True) -> str:
    """Regex source for one keyword (no word-start check)."""
    out: list[str] = []
    pending = ""  # separator to emit before the next literal character
    for ch in _nfc(keyword.strip()) if normalise else keyword:
        if ch.isspace():
            pending = _SPACE
        elif ch in _HYPHENS:
            pending = pending or _HYPHEN
        else:
            if pending and out:
                out.append(pending)
            pending = ""
            if ch in _APOSTROPHES:
                out.append(_APOSTROPHE)
            elif ch in _NON_WORD_ALIASES:
                out.append(f"[{re.escape(_NON_WORD_ALIASES[ch])}]")
            else:
                out.append(re.escape(ch))
    if not out:
        raise ValueError(f"keyword {keyword!r} has nothing to match")
    return "".join(out)


def _keywords_source(keywords: Iterable[str]) -> str:
    """One alternation of folded keywords, grouped by first character (case-sensitive)."""
    groups: dict[str, list[str]] = {}
    for keyword in keywords:
        # NFC first, then fold, as the text is; composing again after folding could join
        # characters that the text keeps apart.
        body = _keyword_body(fold(_nfc(keyword.strip())), normalise=False)
        first = body[0] if body[0].isalnum() else ""  # escapes and classes stay whole
        groups.setdefault(first, []).append(body[len(first) :])
    parts = [
        f"{first}(?:{'|'.join(rests)})" if first else "|".join(rests)
        for first, rests in groups.items()
    ]
    return f"{_WORD_START}(?:{'|'.join(parts)})" if parts else ""


def _alternation(keywords: Iterable[str]) -> re.Pattern[str] | None:
    """Matches any of `keywords` in folded text."""
    source = _keywords_source(keywords)
    return re.compile(source) if source else None


@dataclass(frozen=True, slots=True)
class _Compiled:
    name: str
    #: Any keyword of the topic, on folded text.
    keywords: re.Pattern[str] | None
    #: The keywords one by one, in order, to say which one matched (folded text).
    keyword_labels: tuple[tuple[re.Pattern[str], str], ...]
    #: Any (group-free) regex of the topic, on the text as it is (IGNORECASE).
    regexes: re.Pattern[str] | None
    regex_labels: tuple[tuple[re.Pattern[str], str], ...]
    #: Regexes that could not go into the alternation (they use groups or global flags).
    separate: tuple[tuple[re.Pattern[str], str], ...]
    exclude: re.Pattern[str] | None
    #: None: use the Tagger-wide scope.
    scope: re.Pattern[str] | None
    own_scope: bool


def _compile_rule(rule: TopicRule) -> _Compiled:
    keyword_labels = [(re.compile(_keywords_source([k])), f"keyword:{k}") for k in rule.keywords]
    sources: list[str] = []
    regex_labels: list[tuple[re.Pattern[str], str]] = []
    separate: list[tuple[re.Pattern[str], str]] = []
    for pattern in rule.regex:
        compiled = re.compile(pattern, re.IGNORECASE)
        # A pattern with its own groups would shift the group numbers (and break its own
        # backreferences) inside the big alternation; it runs on its own instead.
        if compiled.groups or _GLOBAL_FLAGS.match(pattern):
            separate.append((compiled, f"regex:{pattern}"))
        else:
            sources.append(f"(?:{pattern})")
            regex_labels.append((compiled, f"regex:{pattern}"))
    return _Compiled(
        name=rule.name,
        keywords=_alternation(rule.keywords),
        keyword_labels=tuple(keyword_labels),
        regexes=re.compile("|".join(sources), re.IGNORECASE) if sources else None,
        regex_labels=tuple(regex_labels),
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
        folded = fold(text)
        found: dict[str, str] = {}
        in_scope: bool | None = None  # the Tagger-wide scope, searched at most once
        for rule in rules:
            label = self._match(rule, text, folded)
            if label is None:
                continue
            if rule.exclude is not None and rule.exclude.search(folded):
                continue
            if rule.own_scope:
                if rule.scope is not None and not rule.scope.search(folded):
                    continue
            elif scope is not None:
                if in_scope is None:
                    in_scope = scope.search(folded) is not None
                if not in_scope:
                    continue
            found[rule.name] = label
        for topic in feed_topics:
            found[topic] = "feed"
        if self.fallback is not None and not (found.keys() - {self.fallback}):
            found.setdefault(self.fallback, "fallback")
        return tuple(TopicMatch(topic, found[topic]) for topic in sorted(found))

    @staticmethod
    def _match(rule: _Compiled, text: str, folded: str) -> str | None:
        """The label of the earliest keyword/regex match in `text`, or None; at one
        position the first keyword in the rule's order, then the first regex."""
        best: tuple[int, str] | None = None
        if rule.keywords is not None and (m := rule.keywords.search(folded)):
            at = m.start()
            label = next((lb for p, lb in rule.keyword_labels if p.match(folded, at)), "?")
            best = (at, label)
        if rule.regexes is not None and (m := rule.regexes.search(text)):
            if best is None or m.start() < best[0]:
                at = m.start()
                label = next((lb for p, lb in rule.regex_labels if p.match(text, at)), "?")
                best = (at, label)
        for pattern, label in rule.separate:
            m = pattern.search(text)
            if m and (best is None or m.start() < best[0]):
                best = (m.start(), label)
        return None if best is None else best[1]
