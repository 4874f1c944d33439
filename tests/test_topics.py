"""topics.py: entry text + rules in, topic matches out."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.config import load_config
from aggregator.models import TopicMatch, TopicRule
from aggregator.topics import Tagger, keyword_pattern

SCOPE = ("ukrain", "russia", "kyiv", "kremlin", "україн", "росси")
RULES = (
    TopicRule("sanctions", keywords=("sanction", "price cap", "санкци")),
    TopicRule("mediation", keywords=("mediat", "track-two", "good offices")),
    TopicRule("diplomacy", keywords=("peace talk", "envoy", "kyiv's position")),
    TopicRule("legitimacy", keywords=("legitima",), exclude=("illegitimate sanctions",)),
    TopicRule("energy", keywords=("power plant",), regex=(r"\bgas(es)?\b",)),
    TopicRule("weather", keywords=("storm",), scope=()),  # scoping off for this topic
    TopicRule("markets", keywords=("rouble",), scope=("market", "trading")),
    TopicRule("other", fallback=True),
)


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger(RULES, SCOPE)


def topics(tagger: Tagger, text: str, feed_topics: tuple[str, ...] = ()) -> list[str]:
    return [m.topic for m in tagger.tag(text, feed_topics)]


@pytest.mark.parametrize(
    "text",
    ["Russia hit by new SANCTIONS", "EU sanctioned Russian banks", "Sanction relief for Russia?",
     "Russia: \"sanctions\" debated", "Russia faces anti-sanctions backlash"],
)  # fmt: skip
def test_keyword_matches_at_word_start_any_case(tagger, text):
    assert "sanctions" in topics(tagger, text)


@pytest.mark.parametrize(
    "text", ["Unsanctioned rally in Russia", "Russia's desanctioning", "Russia_sanctions_file"]
)
def test_keyword_does_not_match_inside_a_word(tagger, text):
    assert topics(tagger, text) == ["other"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Ukraine peace talks resume", True), ("Ukraine peace\n  talk", True),
     ("Ukraine: peace-talks", True), ("Ukraine peace and talks", False),
     ("Ukraine talks peace", False), ("Ukraine peacetime talks", False)],
)  # fmt: skip
def test_phrase_words_in_order_last_word_a_prefix(tagger, text, expected):
    assert ("diplomacy" in topics(tagger, text)) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Ukraine track-two contacts", True), ("Ukraine track two contacts", True),
     ("Ukraine track\u2011two contacts", True), ("Ukraine tracktwo", True),
     ("Ukraine two tracks", False)],
)  # fmt: skip
def test_hyphen_in_keyword_matches_hyphens_spaces_or_nothing(tagger, text, expected):
    assert ("mediation" in topics(tagger, text)) is expected


@pytest.mark.parametrize("text", ["Kyiv's position hardens", "Kyiv\u2019s position hardens"])
def test_apostrophes_do_not_break_matching(tagger, text):
    assert tagger.tag(text) == (TopicMatch("diplomacy", "keyword:kyiv's position"),)


def test_exclude_vetoes_the_topic(tagger):
    assert "legitimacy" in topics(tagger, "Kremlin questions Kyiv's legitimacy")
    vetoed = topics(tagger, "Kremlin: illegitimate sanctions and legitimacy questions")
    assert "legitimacy" not in vetoed
    assert "sanctions" in vetoed  # the veto is for that topic only


def test_default_scope_gates_every_non_fallback_topic(tagger):
    assert topics(tagger, "New sanctions on Iran's oil exports") == ["other"]
    assert topics(tagger, "New sanctions on Russia's oil exports") == ["sanctions"]


def test_own_scope_replaces_the_default(tagger):
    # `scope: ()` switches scoping off; a non-empty scope replaces topic_scope.
    assert topics(tagger, "Storm hits the Channel") == ["weather"]
    assert topics(tagger, "Rouble falls in Moscow trading") == ["markets"]
    assert topics(tagger, "Rouble falls after Russia statement") == ["other"]


def test_without_topic_scope_rules_are_ungated():
    assert Tagger(RULES).tag("New sanctions on Iran") == (
        TopicMatch("sanctions", "keyword:sanction"),
    )


def test_regex_is_an_additional_matcher(tagger):
    assert tagger.tag("Russia cuts gas to Europe") == (TopicMatch("energy", r"regex:\bgas(es)?\b"),)
    assert topics(tagger, "Russia accused of gaslighting") == ["other"]


def test_regexes_with_groups_or_flags_keep_their_meaning():
    rules = [TopicRule("t", keywords=("zzz",), regex=(r"(\w+) \1", r"(?x) s p a c e d"))]
    tagger = Tagger(rules)
    assert tagger.tag("the the") == (TopicMatch("t", r"regex:(\w+) \1"),)
    assert tagger.tag("spaced out") == (TopicMatch("t", r"regex:(?x) s p a c e d"),)
    assert tagger.tag("the cat") == ()


def test_fallback_only_when_nothing_else_matched(tagger):
    assert tagger.tag("Football results") == (TopicMatch("other", "fallback"),)
    assert topics(tagger, "Russia sanctions") == ["sanctions"]


def test_feed_topics_are_given_whatever_the_rules_say(tagger):
    # A feed topic counts as a match: no fallback next to it, and scope/exclude do not apply.
    assert tagger.tag("Football results", ("energy",)) == (TopicMatch("energy", "feed"),)
    both = tagger.tag("Russia sanctions", ("energy",))
    assert both == (TopicMatch("energy", "feed"), TopicMatch("sanctions", "keyword:sanction"))
    assert tagger.tag("Russia sanctions", ("sanctions",)) == (TopicMatch("sanctions", "feed"),)
    assert tagger.tag("Football", ("other",)) == (TopicMatch("other", "feed"),)


def test_rule_strings_record_the_keyword_as_written(tagger):
    result = tagger.tag("Ukraine: Vatican mediators and price caps, then peace talks")
    assert result == (
        TopicMatch("diplomacy", "keyword:peace talk"),
        TopicMatch("mediation", "keyword:mediat"),
        TopicMatch("sanctions", "keyword:price cap"),
    )


def test_the_earliest_match_in_the_text_names_the_rule():
    tagger = Tagger([TopicRule("t", keywords=("beta", "alpha"), regex=("gamma",))])
    assert tagger.tag("gamma then alpha then beta") == (TopicMatch("t", "regex:gamma"),)
    assert tagger.tag("alpha then beta") == (TopicMatch("t", "keyword:alpha"),)


def test_results_are_sorted_by_topic(tagger):
    result = topics(tagger, "Ukraine gas: sanctions, mediation, storm", ("zeta", "alpha"))
    assert (
        result == sorted(result) == ["alpha", "energy", "mediation", "sanctions", "weather", "zeta"]
    )


@pytest.mark.parametrize(
    "text",
    ["Новые САНКЦИИ против России", "Евросоюз ввёл санкции; Россия ответила",
     "Україна: нові санкции"],
)  # fmt: skip
def test_cyrillic_text_and_keywords(tagger, text):
    assert tagger.tag(text) == (TopicMatch("sanctions", "keyword:санкци"),)


def test_cyrillic_word_start():
    tagger = Tagger([TopicRule("t", keywords=("санкци",))])
    assert tagger.tag("антисанкционный") == ()  # inside a Cyrillic word: no match


def test_accents_match_in_either_unicode_form():
    tagger = Tagger([TopicRule("t", keywords=("communiqué",))])
    composed = "Joint communiqué issued"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert (
        tagger.tag(composed) == tagger.tag(decomposed) == (TopicMatch("t", "keyword:communiqué"),)
    )
    assert tagger.tag("COMMUNIQUÉ") != ()
    assert tagger.tag("COMMUNIQUÉ") == (TopicMatch("t", "keyword:communiqué"),)


def test_keyword_pattern_refuses_empty_keywords():
    with pytest.raises(ValueError, match="has nothing to match"):
        keyword_pattern(" - ")


def test_tagger_refuses_two_fallbacks_and_duplicate_names():
    with pytest.raises(ValueError, match="fallback"):
        Tagger([TopicRule("a", fallback=True), TopicRule("b", fallback=True)])
    with pytest.raises(ValueError, match="duplicate"):
        Tagger([TopicRule("a", keywords=("x",)), TopicRule("a", keywords=("y",))])


def test_committed_rules_tag_plain_war_news():
    config = load_config(Path(__file__).resolve().parent.parent / "feeds.yaml")
    tagger = Tagger(config.topics, config.topic_scope)
    cases = {
        "EU adopts new sanctions package against Russia's shadow fleet": {"sanctions"},
        "Russian missile strike on Kharkiv kills four civilians": {"military", "humanitarian"},
        "Turkey offers to mediate between Kyiv and Moscow": {"mediation"},
        "Kremlin says Zelensky's mandate has expired": {"legitimacy"},
        "Drone attack knocks out power plant in Odesa region": {"military", "energy"},
        "Local football club wins the cup": {"other"},
        "Oil prices rise on Middle East supply fears": {"other"},
    }
    for text, expected in cases.items():
        got = {m.topic for m in tagger.tag(text)}
        assert expected <= got, (text, got)
        if expected == {"other"}:
            assert got == {"other"}, (text, got)


# Keywords run case-sensitively on folded text (topics.fold) instead of IGNORECASE on the
# text: the same matches, checked here against one IGNORECASE search per keyword, on an
# alphabet full of the characters where the two could part: dotted and dotless i, long s,
# the Kelvin sign, final sigma, Greek and Cyrillic letters with extra case forms, accents
# (composed and combining), hyphens, dashes and apostrophes.
_ALPHABET = "aAiIıİsSſkKKσςΣβϐΒιͅιвВᲀоОᲂeéÉ\u0301 -–’'xX1_"


def _reference_label(keywords: tuple[str, ...], text: str) -> str | None:
    text = unicodedata.normalize("NFC", text)
    hits = []
    for order, keyword in enumerate(keywords):
        m = re.search(keyword_pattern(keyword), text, re.IGNORECASE)
        if m:
            hits.append((m.start(), order))
    return f"keyword:{keywords[min(hits)[1]]}" if hits else None


def _usable(keyword: str) -> bool:
    try:
        keyword_pattern(keyword)
    except ValueError:
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(
    keywords=st.lists(
        st.text(_ALPHABET, min_size=1, max_size=4).filter(_usable), min_size=1, max_size=4
    ),
    text=st.text(_ALPHABET, max_size=30),
)
def test_folded_keyword_matching_equals_ignorecase(keywords: list[str], text: str) -> None:
    rule = TopicRule("t", keywords=tuple(keywords))
    matches = Tagger((rule,)).tag(text)
    expected = _reference_label(tuple(keywords), text)
    assert [m.rule for m in matches] == ([expected] if expected else [])
