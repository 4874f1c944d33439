"""Story clustering on small hand-written cases: wire copies, rewrites, follow-ups, the window."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest

from aggregator import cluster
from aggregator.cluster import Clusterer, ClusterSettings, tokens
from aggregator.models import StoryInput, tagging_text
from aggregator.normalize import normalize_feed
from aggregator.parse import parse_feed
from conftest import EVAL_DEV

T0 = datetime(2030, 3, 2, 8, 0, tzinfo=UTC)

_ids = iter(range(1, 10_000))


def art(title: str, summary: str, hours: float = 0.0, outlet: str = "Outlet") -> StoryInput:
    return StoryInput(
        article_id=next(_ids),
        outlet=outlet,
        published=T0 + timedelta(hours=hours),
        title=title,
        text=tagging_text(title, summary, ""),
    )


#: Unrelated news of the same days, so that document frequencies look like a real window.
BACKGROUND = [
    art("Central bank holds rates as inflation cools", "The bank kept its key rate at 4.5%.", 1),
    art("Storm cuts power to coastal towns", "Gale-force winds toppled lines overnight.", 2),
    art("Striker's late goal sends Harbour City through", "A 2-1 win in the cup tie.", 3),
    art(
        "Russia says Ukraine's army shelled border village",
        "Russian officials said Ukrainian artillery hit a village; Kyiv did not comment.",
        4,
    ),
    art("Chipmaker posts record quarterly profit", "Demand for AI servers lifted sales.", 5),
    art(
        "Ukraine's energy minister warns of winter deficit",
        "Ukraine will import more electricity from the EU, the minister said.",
        6,
    ),
]

LETTER = art(
    "Zelenskyy writes to Putin, proposes talks on the island of Brenmoor",
    "KYIV, March 2 (Wire) - Ukrainian President Volodymyr Zelenskyy sent Russian leader "
    "Vladimir Putin a letter proposing direct talks on the neutral island of Brenmoor and "
    "an exchange of 300 prisoners, his office in Kyiv said on Monday.",
    7,
    "Wire",
)
LETTER_COPY = art(
    "UPDATE 2-Zelenskyy writes to Putin, proposes talks on island of Brenmoor",
    "KYIV, March 2 (Wire) - Ukrainian President Volodymyr Zelenskyy sent Russian leader "
    "Vladimir Putin a letter proposing direct talks on the neutral island of Brenmoor and "
    "an exchange of 300 prisoners of war, his office in Kyiv said on Monday.",
    9,
    "Aggregator",
)
LETTER_REWRITE = art(
    "Kiev regime's Zelensky sends Putin 'Brenmoor letter' in bid for Western applause",
    "Zelensky has addressed a letter to the Russian president offering a meeting on Brenmoor "
    "island and a swap of 300 captives, a move Moscow commentators called theatre.",
    10,
    "Moscow Daily",
)
LETTER_REJECTED = art(
    "Kremlin rejects Zelensky's Brenmoor letter, says his mandate has lapsed",
    "Kremlin spokesman Dmitry Peskov said Moscow saw no basis for talks with Zelensky, "
    "whose mandate had lapsed, and dismissed the letter as a stunt.",
    31,
    "Wire",
)
PLAN_REJECTED = art(
    "Putin rejects Senator Ostrander's ceasefire plan as a trap",
    "Putin said the 9-point plan put forward by US Senator Ostrander would let Ukraine rearm, "
    "and ruled out a ceasefire along the current front line.",
    55,
    "Wire",
)
LETTER_REJECTED_BY_PUTIN = art(
    "Putin rejects Zelensky's letter, says no talks with an illegitimate leader",
    "Putin said he would not answer Zelensky's letter because the Ukrainian leader's mandate "
    "had expired and talks would serve no purpose.",
    52,
    "Thames",
)


def assign(*articles: StoryInput, **settings: float) -> dict[int, int]:
    clusterer = Clusterer(ClusterSettings(**settings))
    return {a.article_id: a.story_id for a in clusterer.assign([*BACKGROUND, *articles])}


def test_wire_copy_with_update_prefix_joins_and_is_flagged_syndicated() -> None:
    result = Clusterer().assign([*BACKGROUND, LETTER, LETTER_COPY])
    by_id = {a.article_id: a for a in result}
    copy = by_id[LETTER_COPY.article_id]
    assert copy.story_id == by_id[LETTER.article_id].story_id
    assert copy.syndicated and copy.method == "copy"
    assert not by_id[LETTER.article_id].syndicated


def test_independent_rewrite_with_other_transliteration_joins() -> None:
    story = assign(LETTER, LETTER_REWRITE)
    assert story[LETTER_REWRITE.article_id] == story[LETTER.article_id]


def test_transliterations_fold_to_one_token() -> None:
    assert len(set(tokens("Zelenskyy Zelensky Zelenskiy"))) == 1
    assert tokens("Kiev Odessa") == tokens("Kyiv Odesa")


def test_follow_up_next_day_with_same_actors_is_another_story() -> None:
    story = assign(LETTER, LETTER_COPY, LETTER_REWRITE, LETTER_REJECTED)
    assert story[LETTER_REJECTED.article_id] != story[LETTER.article_id]


def test_two_rejections_by_the_same_leader_the_same_week_stay_apart() -> None:
    story = assign(LETTER, LETTER_REJECTED, LETTER_REJECTED_BY_PUTIN, PLAN_REJECTED)
    assert story[PLAN_REJECTED.article_id] != story[LETTER_REJECTED_BY_PUTIN.article_id]
    # ... while two reports of one rejection on the same afternoon do join.
    second = art(
        "Putin says Zelensky letter unworthy of reply, mandate expired",
        "Putin told reporters he would not reply to the letter from Zelensky, whose mandate "
        "had expired in his view.",
        53,
        "Wire",
    )
    story = assign(LETTER, LETTER_REJECTED, LETTER_REJECTED_BY_PUTIN, PLAN_REJECTED, second)
    assert story[second.article_id] == story[LETTER_REJECTED_BY_PUTIN.article_id]


def test_two_sanctions_packages_the_same_week_stay_apart() -> None:
    eu = art(
        "EU adopts 31st sanctions package against Russia, targets LNG tankers",
        "The European Union adopted its 31st package of sanctions on Russia, listing 80 LNG "
        "tankers and banning port services for them.",
        8,
    )
    eu2 = art(
        "Brussels' 31st package hits Russia's LNG tanker fleet",
        "EU ministers approved the 31st sanctions package, adding 80 LNG carriers to the list.",
        10,
    )
    uk = art(
        "UK sanctions Russian aluminium traders in new package",
        "Britain sanctioned 12 aluminium traders and two banks accused of helping Russia sell "
        "metals abroad.",
        56,
    )
    story = assign(eu, eu2, uk)
    assert story[eu2.article_id] == story[eu.article_id]
    assert story[uk.article_id] != story[eu.article_id]


def test_article_outside_the_window_is_not_a_candidate() -> None:
    late = art(LETTER.title, LETTER.text.split("\n", 1)[1], LETTER.published.hour + 30)
    clusterer = Clusterer(ClusterSettings(window_hours=24))
    first, second = clusterer.assign([LETTER, late])
    assert second.story_id != first.story_id and second.method == "first"
    # Inside the window the very same text would have been a copy.
    clusterer = Clusterer(ClusterSettings(window_hours=48))
    first, second = clusterer.assign([LETTER, late])
    assert second.story_id == first.story_id and second.syndicated


def test_two_batches_with_recent_seed_give_the_same_partition_as_one_batch() -> None:
    articles = [
        *BACKGROUND,
        LETTER,
        LETTER_COPY,
        LETTER_REWRITE,
        LETTER_REJECTED,
        LETTER_REJECTED_BY_PUTIN,
        PLAN_REJECTED,
    ]
    settings = ClusterSettings(window_hours=30)
    whole = Clusterer(settings).assign(articles)

    first, rest = articles[:8], articles[8:]
    part1 = Clusterer(settings).assign(first)
    story_of = {a.article_id: a.story_id for a in part1}
    # The store hands back the stored articles inside the window of the second batch.
    start = min(a.published for a in rest) - timedelta(hours=settings.window_hours)
    recent = [(a, story_of[a.article_id]) for a in first if a.published >= start]
    next_id = max(story_of.values()) + 1
    part2 = Clusterer(settings, recent=recent, next_story_id=next_id).assign(rest)

    def partition(assignments: list) -> set[frozenset[int]]:
        groups: dict[int, set[int]] = {}
        for a in assignments:
            groups.setdefault(a.story_id, set()).add(a.article_id)
        return {frozenset(g) for g in groups.values()}

    assert partition(part1 + part2) == partition(whole)
    assert len(partition(whole)) < len(articles)  # something did cluster


def test_index_holds_only_the_window() -> None:
    clusterer = Clusterer(ClusterSettings(window_hours=24))
    day = [
        art(f"Harbour {i} reopens after storm number {i}", f"Port {i} is open.") for i in range(5)
    ]
    clusterer.assign(day)
    assert len(clusterer) == clusterer.indexed_count() == 5
    later = art("Parliament passes budget", "The vote was 90 to 60.", 72)
    clusterer.assign([later])
    assert len(clusterer) == 1


def test_roundup_stands_alone() -> None:
    roundup = art(
        "Ukraine war briefing: Zelenskyy writes to Putin proposing talks on Brenmoor",
        "Zelenskyy sent Putin a letter proposing direct talks on the island of Brenmoor and an "
        "exchange of 300 prisoners; also today, Ukraine's energy minister warned of a deficit.",
        12,
    )
    story = assign(LETTER, LETTER_REWRITE, roundup)
    assert story[roundup.article_id] not in {story[LETTER.article_id]}


def test_a_window_full_of_common_words_still_finds_the_rare_match() -> None:
    """A cold poll puts thousands of articles in one window; candidate search probes the
    rarest tokens first within a budget, so the matching report is still found."""
    filler = [
        StoryInput(
            i,
            f"Outlet {i % 50}",
            T0 + timedelta(seconds=i),
            f"Ukraine Russia war talks sanctions Kremlin Kyiv update number{i}",
            f"Ukraine Russia war talks sanctions Kremlin Kyiv update number{i}\nmore words",
        )
        for i in range(1, 4001)
    ]
    first = art("Zaporizhzhia reactor loses external power line", "IAEA inspectors warn", 1)
    second = art("Ukraine: Zaporizhzhia reactor external power cut, IAEA says", "Russia war", 2)
    first = StoryInput(9001, "A", first.published, first.title, first.text)
    second = StoryInput(9002, "B", second.published, second.title, second.text)
    clusterer = Clusterer(ClusterSettings())
    clusterer.assign(filler)
    assert len(clusterer) == 4000  # all in the window when the two reports arrive
    by_id = {a.article_id: a.story_id for a in clusterer.assign([first, second])}
    assert by_id[9001] == by_id[9002]


def _dev_set() -> tuple[list[StoryInput], dict[int, str]]:
    """The labelled dev set (tests/data/eval_dev) as StoryInputs and their true story ids."""
    truth = json.loads((EVAL_DEV / "truth.json").read_text(encoding="utf-8"))["entries"]
    now = datetime(2026, 11, 25, tzinfo=UTC)
    inputs, story_of = [], {}
    for path in sorted(EVAL_DEV.glob("*.xml")):
        feed = parse_feed(path.read_bytes(), url=f"https://feeds.example/{path.name}")
        for entry in normalize_feed(feed, now=now):
            article_id = len(inputs) + 1
            inputs.append(
                StoryInput(
                    article_id=article_id,
                    outlet=path.stem,
                    published=entry.published,
                    title=entry.title,
                    text=entry.tagging_text,
                )
            )
            story_of[article_id] = truth[f"{path.name}|{entry.entry_id}"]["story_id"]
    return inputs, story_of


def _pairs(label: dict[int, object]) -> set[tuple[int, int]]:
    groups: dict[object, list[int]] = {}
    for article_id, story in sorted(label.items()):
        groups.setdefault(story, []).append(article_id)
    return {p for g in groups.values() for p in itertools.combinations(g, 2)}


def test_dev_set_stories_match_the_labels() -> None:
    """Pairwise precision and recall against the hand labels (bench/eval_stories.py has the
    full report); a floor under today's 1.000 / 0.99 that catches a real regression."""
    inputs, truth = _dev_set()
    found = {a.article_id: a.story_id for a in Clusterer().assign(inputs)}
    ours, gold = _pairs(found), _pairs(truth)
    assert len(ours & gold) / len(ours) >= 0.97  # precision
    assert len(ours & gold) / len(gold) >= 0.95  # recall


def test_reweighting_late_gives_the_partition_of_reweighting_at_every_article(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Indexed vectors keep the IDF they were indexed with until the window has changed by
    half; weighting everything again at every article (exact, slow) gives the same stories
    and scores within a few hundredths."""
    inputs, _ = _dev_set()
    lazy = Clusterer().assign(inputs)
    monkeypatch.setattr(cluster, "_REWEIGHT", 0.0)
    exact = Clusterer().assign(inputs)
    assert _pairs({a.article_id: a.story_id for a in lazy}) == _pairs(
        {a.article_id: a.story_id for a in exact}
    )
    assert [a.method for a in lazy] == [a.method for a in exact]
    assert max(abs(a.score - b.score) for a, b in zip(lazy, exact, strict=True)) < 0.03


def test_centroids_stay_equal_to_a_recount() -> None:
    """Centroids are updated in place as members come and go; they must equal the sum of
    the members' vectors, and their kept squared norms the sum of squares, at all times."""
    inputs, _ = _dev_set()
    clusterer = Clusterer(ClusterSettings(window_hours=24))
    for start in range(0, len(inputs), 25):
        clusterer.assign(inputs[start : start + 25])
        assert set(clusterer._centroids) == set(clusterer._members)
        for story_id, (kept_tokens, weights, squares) in clusterer._centroids.items():
            kept = {t: w for t, w in zip(kept_tokens, weights, strict=True) if abs(w) > 1e-6}
            recount_tokens, recount_weights, recount_squares = clusterer._sum(story_id)
            recount = dict(zip(recount_tokens, recount_weights, strict=True))
            assert kept.keys() == recount.keys()
            assert all(kept[t] == pytest.approx(recount[t], abs=1e-6) for t in kept)
            assert squares == pytest.approx(recount_squares, rel=1e-6)


def test_index_holds_at_most_max_indexed_articles() -> None:
    """A window holding more articles than `max_indexed` (a first poll of thousands of
    feeds) has its oldest evicted early, so memory stays bounded; the newest stay."""
    inputs, _ = _dev_set()
    by_time = sorted(inputs, key=lambda s: (s.published, s.article_id))
    window = timedelta(hours=ClusterSettings().window_hours)
    in_window = [s for s in by_time if s.published >= by_time[-1].published - window]
    assert len(in_window) > 50  # the cap below bites
    capped = Clusterer(ClusterSettings(max_indexed=50))
    capped.assign(inputs)
    assert len(capped) == 50
    assert set(capped._docs) == {s.article_id for s in by_time[-50:]}
    # The horizon moved past the 51st newest, which the time window alone would keep.
    assert capped.horizon is not None
    assert capped.horizon >= by_time[-51].published - timedelta(seconds=1)
    assert by_time[-51].published > by_time[-1].published - window


def test_a_cap_the_window_never_reaches_changes_nothing() -> None:
    inputs, _ = _dev_set()
    exact = Clusterer(ClusterSettings(max_indexed=len(inputs))).assign(inputs)
    assert Clusterer(ClusterSettings(max_indexed=10**9)).assign(inputs) == exact
    # One fewer than the whole set, with a window wide enough for all of it: only the
    # oldest is evicted, when the last article comes.
    clusterer = Clusterer(ClusterSettings(max_indexed=len(inputs) - 1, window_hours=1e6))
    clusterer.assign(inputs)
    assert len(clusterer) == len(inputs) - 1
