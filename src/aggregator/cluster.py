"""StoryInputs in, StoryAssignments out: group reports of one news event into stories. Pure.

A story is one event (who did what, when), told by many outlets with different framing and
transliteration; a later development with the same actors is another story (issue #3).

Method, one article at a time in published order:

1. **Normalise** title and text: strip wire headline prefixes ("UPDATE 2-", "REFILE-",
   "EXCLUSIVE-"), wire credits (" - Meridian Press") and datelines ("KYIV, Nov 16 (Wire) -"),
   fold accents and transliteration variants (a small exonym table, Kiev → Kyiv, plus general
   spelling rules: y → i, doubled letters single, -iy/-yy endings, so Zelenskyy, Zelenskiy
   and Zelensky, or Odesa and Odessa, become one token), drop stop words, strip plural and
   tense endings. Only the headline and the lead (the first `lead_tokens` content words of
   the text) are counted: they say who did what, where and when, and a full-text feed's
   thousands of words would make an article's cost grow with its length.
2. **Index** the articles inside the time window in an inverted index (token → articles) with
   document frequencies over the same window. Articles older than the window behind the
   newest article seen are evicted (and the oldest beyond `max_indexed` articles), so the
   index and the cost of one article are bounded by the window's traffic, not by the size
   of the database.
3. **Candidates** are the indexed articles that share the new article's rarest tokens (never
   a pairwise scan), ranked by the IDF weight they share; the best `max_candidates` are scored
   by cosine of sublinear TF-IDF vectors (the headline counts twice; rare names, numbers
   and places dominate "Ukraine" and "Putin"). A story's score blends the cosine to its most
   similar member with the cosine to its centroid (the sum of its members' vectors), times
   a time decay from the story's first report: reports of one event follow within hours, a
   follow-up a day later with the same actors falls below the threshold unless its wording
   is close. IDF is counted over the window; see `Clusterer` for when vectors are reweighted.
4. The article **joins** the best-scoring story when its score reaches the
   threshold, else opens a new story. A near-verbatim copy of a member (Jaccard of the word
   3-shingles of headline and opening ≥ `syndication`, checked on close candidates) joins
   whatever the score and is flagged `syndicated`.
   Roundups and opinion columns (marked as such in the headline) always stand alone.
"""

from __future__ import annotations

import heapq
import itertools
import math
import operator
import re
import unicodedata
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from .models import StoryAssignment, StoryInput

__all__ = ["ClusterSettings", "Clusterer", "tokens"]

#: Candidate search (see Clusterer._candidates): the rarest tokens always probed, and the
#: postings visited beyond them at most.
_ALWAYS_PROBED = 4
_PROBE_BUDGET = 500
#: Changes to the window (articles added plus articles evicted), as a share of its size,
#: before the indexed vectors are weighted again with the window's current IDF: 1.0 is a
#: window half replaced once it is full. At 0.5 (twice as often) clustering a 2,000-feed
#: cold poll took 62.8 s instead of 49.6 s, for the same pair precision and recall.
_REWEIGHT = 1.0
#: Cosine below which a candidate is not checked for being a copy (copies score ~0.9).
_COPY_COSINE = 0.3
#: 1 + log(count) for every count a _Doc keeps.
_LOG_TF = [0.0] + [1 + math.log(c) for c in range(1, 256)]


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    """Tuning knobs; the defaults were tuned on the dev set (bench/eval_stories.py)."""

    #: Hours either side of an article in which stories are candidates (and IDF is counted).
    window_hours: float = 72.0
    #: Score at or above which an article joins a story (plateau 0.16-0.20 on the dev set).
    threshold: float = 0.17
    #: Hours after a story's first report within which a new report gets no time penalty ...
    grace_hours: float = 10.0
    #: ... and beyond which its score decays by a factor e every `decay_hours`.
    decay_hours: float = 16.0
    #: Weight of the cosine to the story's centroid (sum of its members in the window);
    #: the rest is the cosine to its most similar member.
    centroid_weight: float = 0.3
    #: Rarest tokens of an article looked up in the index to find candidates ...
    probe_tokens: int = 24
    #: ... and how many of the articles found, ranked by the IDF weight they share with it,
    #: are scored exactly.
    max_candidates: int = 10
    #: Jaccard of word 3-shingles at which an article is a copy of a member (wire copy).
    syndication: float = 0.6
    #: Body tokens that count besides the headline: the lead, which names who did what,
    #: where and when. Longer bodies add background, not identity, and would make the cost
    #: of an article grow with its length (full-text feeds run to thousands of words).
    lead_tokens: int = 100
    #: Words of the body from which copy shingles are taken (a wire copy's opening).
    shingle_words: int = 100
    #: Most articles indexed at once (about 5 KB each with their postings and share of a
    #: centroid: 30,000 take ~150 MB). A window that holds more, such as the first poll of
    #: 2,000 feeds (60,000 articles), has its oldest evicted early: memory stays bounded,
    #: and what goes is more than a day older than the newest, where the time decay keeps
    #: a story from winning anyway (the generated 2,000 feeds' events: pair precision
    #: 0.982 -> 0.980, recall 0.991 -> 0.994).
    max_indexed: int = 30_000


_WIRE_PREFIX = re.compile(
    r"^(?:\s*(?:UPDATE|REFILE|CORRECTED|CORRECTION|EXCLUSIVE|BREAKING|URGENT|FLASH|RPT|"
    r"REPEAT|WRAPUP|ANALYSIS|INSIGHT|FACTBOX)(?:\s*\d+)?\s*[-–—:|]\s*)+",
    re.IGNORECASE,
)
#: "KYIV, Nov 16 (Meridian) -", "MOSCOW (Wire) —", "LONDON, November 16 -".
_DATELINE = re.compile(
    r"^\s*[A-Z][A-Za-z.'’ -]{1,40}(?:,\s*[A-Z][a-z]{2,9}\.?\s+\d{1,2})?\s*(?:\([^)]{1,40}\))?"
    r"\s*[-–—]+\s+"
)
#: " - Meridian Press" / " | Outlet" credit at the end of a republished headline.
_CREDIT = re.compile(r"\s+[-–—|]\s+[A-Z][\w.&' ]{1,40}$")
#: Headlines of pieces that summarise several events or argue in general: a story of their own.
_STANDALONE = re.compile(
    r"^[\w' ]{0,30}?\b(?:briefing|roundup|round-up|at a glance|live|opinion|comment|column|"
    r"editorial|op-ed)\s*[:|–—]|\b(?:live updates|week in review|day \d+ of the war)\b",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*[a-z]*|[a-z]+")

#: Exonyms and Russian-style spellings of Ukrainian places -> the Ukrainian spelling.
_EXONYMS = {
    "kiev": "kyiv", "kharkov": "kharkiv", "lugansk": "luhansk", "nikolaev": "mykolaiv",
    "nikolayev": "mykolaiv", "dnepr": "dnipro", "dnepropetrovsk": "dnipro", "lvov": "lviv",
    "chernigov": "chernihiv", "zaporozhye": "zaporizhzhia", "zaporizhia": "zaporizhzhia",
    "zaporozhie": "zaporizhzhia", "rovno": "rivne", "zhitomir": "zhytomyr",
    "vinnitsa": "vinnytsia", "kirovograd": "kropyvnytskyi", "chernobyl": "chornobyl",
    "artyomovsk": "bakhmut", "artemovsk": "bakhmut", "ukrainian": "ukraine",
    "russian": "russia", "russians": "russia", "ukrainians": "ukraine", "britain": "uk",
    "british": "uk", "u.s": "us", "american": "us", "americans": "us", "european": "eu",
}  # fmt: skip

_STOP = frozenset(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few
    for from further had has have having he her here hers him his how i if in into is it its
    itself just me more most my no nor not now of off on once only or other our out over own
    same she should so some such than that the their them then there these they this those
    through to too under until up very was we were what when where which while who whom why
    will with would you your said says say saying told tell according new week weeks day days
    monday tuesday wednesday thursday friday saturday sunday today yesterday tomorrow year
    years month months time first last one two three per cent percent mr mrs ms report
    reported reports news update latest amid since may might must shall s t""".split()
)


_FOLDED: dict[str, str] = {}


def _fold(word: str) -> str:
    """A transliteration-insensitive, inflection-light form of one lower-case word."""
    folded = _FOLDED.get(word)
    if folded is None:
        if len(_FOLDED) > 200_000:  # a vocabulary is far smaller; this bounds odd input
            _FOLDED.clear()
        folded = _FOLDED[word] = _fold_word(word)
    return folded


def _fold_word(word: str) -> str:
    word = _EXONYMS.get(word, word)
    if word[0].isdigit():
        return word
    for suffix, repl in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)] + repl
            break
    else:
        if word.endswith("s") and not word.endswith("ss") and len(word) > 4:
            word = word[:-1]
    word = word.replace("y", "i")
    word = re.sub(r"(.)\1+", r"\1", word)
    if len(word) > 4:
        word = word.rstrip("aeiou") or word
    return word


def _words(text: str, limit: int | None = None) -> list[str]:
    """Lower-case, accent-free words of `text` (the first `limit` of them)."""
    if limit is not None and len(text) > limit * 12:
        # Words average well under 12 characters with their space; cut between words.
        text = text[: limit * 12].rsplit(None, 1)[0]
    text = text.lower().replace("’", "'")
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"'s\b", "", text)
    words = _TOKEN.findall(text)
    return words if limit is None else words[:limit]


def _content(words: Iterable[str], limit: int | None = None) -> list[str]:
    """Folded content tokens of `words`, stop words removed, the first `limit` of them."""
    content = (_fold(w) for w in words if w not in _STOP and (len(w) > 1 or w.isdigit()))
    return list(content if limit is None else itertools.islice(content, limit))


def _clean_title(title: str) -> str:
    return _CREDIT.sub("", _WIRE_PREFIX.sub("", title))


def _clean_body(body: str) -> str:
    return _DATELINE.sub("", body, count=1)


def _split(story: StoryInput) -> tuple[str, str]:
    """(cleaned title, cleaned body) of an article; `text` starts with the title line."""
    body = story.text
    if body.startswith(story.title):
        body = body[len(story.title) :]
    return _clean_title(story.title), _clean_body(body.strip())


def tokens(text: str) -> list[str]:
    """Folded content tokens of `text`, stop words removed, in order."""
    return _content(_words(text))


class _Doc:
    """One indexed article, kept small: a cold poll of thousands of feeds puts tens of
    thousands of articles in one window (about 3 KB each with its postings and share of
    a centroid)."""

    __slots__ = ("article_id", "story_id", "time", "tokens", "ltf", "vec", "shingles")

    def __init__(self, story: StoryInput, story_id: int, settings: ClusterSettings) -> None:
        title, body = _split(story)
        self.article_id = story.article_id
        self.story_id = story_id
        #: Hours since the epoch.
        self.time = story.published.timestamp() / 3600.0
        words = _words(body, max(settings.shingle_words, 3 * settings.lead_tokens))
        title_words = _words(title)
        # Token counts of headline and lead; the headline counts twice.
        tf = Counter(_content(words, settings.lead_tokens))
        tf.update(_content(title_words) * 2)
        #: Distinct tokens and their counts (capped at 255): the TF half of every TF-IDF
        #: vector is 1 + log(count).
        self.tokens = tuple(tf)
        self.ltf = bytes(min(c, 255) for c in tf.values())
        #: Unit TF-IDF vector over `tokens`, weighted when the article was indexed.
        self.vec = array("f")
        words = title_words + words[: settings.shingle_words]
        #: 31-bit hashes of the word 3-shingles, sorted: what copy detection compares (a
        #: chance collision in two sets of 100 moves a Jaccard by 1/100 once in ~200,000).
        shingles = zip(words, words[1:], words[2:], strict=False)
        self.shingles = array("i", sorted({hash(s) & 0x7FFFFFFF for s in shingles}))


class Clusterer:
    """Incremental story clustering over an inverted index bounded by the time window.

    `recent` seeds the index with stored articles inside the window and their story ids (a
    sequence in any order, or an iterator in published order); new stories get ids from
    `next_story_id` on (and above every seeded id).

    IDF is counted over the window, which changes with every article. A new article's vector
    is weighted with the IDF of that moment; an indexed article keeps the vector it was
    indexed with, and a story the sum of its members' vectors (its centroid) with its norm,
    so a comparison is a dot product over shared tokens. Once the window has changed by
    `_REWEIGHT` of its size, every indexed vector is weighted again with the current IDF:
    a small window is reweighted at nearly every article, and the cost of a large one
    stays linear (each reweighting follows as many changes as the window holds).
    """

    def __init__(
        self,
        settings: ClusterSettings = ClusterSettings(),  # noqa: B008 (frozen, so shared is fine)
        *,
        recent: Iterable[tuple[StoryInput, int]] = (),
        next_story_id: int = 1,
    ) -> None:
        self.settings = settings
        self._docs: dict[int, _Doc] = {}
        #: token -> ids of the articles that had it when indexed. Evicted ids stay until
        #: the next reweighting (lists are a quarter the size of sets); readers skip them.
        self._postings: dict[str, list[int]] = {}
        #: Document frequencies over the indexed articles (exact at all times).
        self._df: Counter[str] = Counter()
        #: (time, article id) of indexed articles, oldest first, for eviction.
        self._queue: list[tuple[float, int]] = []
        self._horizon = -math.inf
        #: Time of the newest article ever indexed.
        self._newest = -math.inf
        #: Indexed members of each story, its centroid (tokens, summed weights, squared
        #: norm), and the time of its first indexed member.
        self._members: dict[int, set[int]] = {}
        self._centroids: dict[int, tuple[tuple[str, ...], array[float], float]] = {}
        self._first: dict[int, float] = {}
        #: Articles added or evicted since the indexed vectors were last weighted, and those
        #: evicted since (still listed in postings).
        self._changes = 0
        self._evicted = 0
        self._next_id = next_story_id
        if isinstance(recent, Sequence):
            recent = sorted(recent, key=lambda r: (r[0].published, r[0].article_id))
        # An iterator (the store's cursor) must come in published order; it is read once.
        for story, story_id in recent:
            self._add(_Doc(story, story_id, settings))
            self._next_id = max(self._next_id, story_id + 1)

    def __len__(self) -> int:
        """Number of articles in the index (bounded by the window's traffic)."""
        return len(self._docs)

    def indexed_count(self) -> int:
        return len(self._docs)

    @property
    def horizon(self) -> datetime | None:
        """Articles published before this have been evicted (None: none yet)."""
        if self._horizon == -math.inf:
            return None
        return datetime.fromtimestamp(self._horizon * 3600.0, UTC)

    @property
    def next_story_id(self) -> int:
        return self._next_id

    def assign(self, batch: Sequence[StoryInput]) -> list[StoryAssignment]:
        """Assign each article, in published order, to an existing story or a new one."""
        out = []
        for story in sorted(batch, key=lambda s: (s.published, s.article_id)):
            doc = _Doc(story, 0, self.settings)
            self._evict(doc.time - self.settings.window_hours)
            assignment = self._decide(story, doc)
            doc.story_id = assignment.story_id
            self._add(doc)
            out.append(assignment)
        return out

    # ------------------------------------------------------------------ scoring

    def _decide(self, story: StoryInput, doc: _Doc) -> StoryAssignment:
        s = self.settings
        best_score, best_story = 0.0, None
        if not _STANDALONE.search(story.title):
            if self._changes > _REWEIGHT * len(self._docs):
                self._reweight()
            doc.vec = self._vector(doc)
            query = dict(zip(doc.tokens, doc.vec, strict=True))
            nearest: dict[int, float] = {}  # story id -> cosine to its most similar member
            for cand in self._candidates(doc, query):
                score = _dot(query, cand.tokens, cand.vec)
                # A copy shares its headline and lead, so only a close match can be one.
                if score >= _COPY_COSINE and _jaccard(doc.shingles, cand.shingles) >= s.syndication:
                    return StoryAssignment(story.article_id, cand.story_id, 1.0, "copy", True)
                nearest[cand.story_id] = max(score, nearest.get(cand.story_id, 0.0))
            for story_id, member in nearest.items():
                score = (1 - s.centroid_weight) * member
                if s.centroid_weight:
                    tokens, weights, squares = self._centroids[story_id]
                    centroid = _dot(query, tokens, weights) / (math.sqrt(squares) or 1.0)
                    score += s.centroid_weight * centroid
                # Reports of one event follow its first report within hours; a development
                # a day later with the same actors is another story (issue #3).
                late = max(0.0, abs(doc.time - self._first[story_id]) - s.grace_hours)
                score *= math.exp(-late / s.decay_hours)
                if score > best_score:
                    best_score, best_story = score, story_id
        if best_story is not None and best_score >= s.threshold:
            return StoryAssignment(story.article_id, best_story, round(best_score, 4), "tfidf")
        story_id = self._next_id
        self._next_id += 1
        return StoryAssignment(story.article_id, story_id, 1.0, "first")

    def _candidates(self, doc: _Doc, query: dict[str, float]) -> list[_Doc]:
        """Indexed articles in the window sharing the most weight of the article's rare tokens."""
        s = self.settings
        df = self._df
        probes = sorted((t for t in doc.tokens if t in df), key=lambda t: (df[t], t))
        docs = self._docs
        shared: defaultdict[int, float] = defaultdict(float)
        visited = 0
        for k, t in enumerate(probes[: s.probe_tokens]):
            # In a window holding one huge cold poll, common tokens list thousands of
            # articles: the rarest few are always probed, the rest only within a budget,
            # so finding candidates costs the same whatever the window holds.
            postings = self._postings[t]
            visited += len(postings)
            if k >= _ALWAYS_PROBED and visited > _PROBE_BUDGET:
                break
            weight = query[t]
            for i in postings:
                shared[i] += weight
        if self._evicted or self._newest > doc.time + s.window_hours:
            # Postings still list evicted articles, or the index holds articles beyond the
            # window ahead of this one (a batch reaching back in time): leave them out.
            ranked: Iterable[tuple[float, int]] = (
                (w, -i) for i, w in shared.items()
                if (d := docs.get(i)) is not None and d.time - doc.time <= s.window_hours
            )  # fmt: skip
        else:
            ranked = zip(shared.values(), map(operator.neg, shared.keys()), strict=True)
        return [docs[-neg_id] for _, neg_id in heapq.nlargest(s.max_candidates, ranked)]

    def _vector(self, doc: _Doc) -> array[float]:
        """Unit vector of sublinear TF x IDF over `doc.tokens`, IDF as the window is now."""
        n, df = len(self._docs) + 1, self._df
        weights = [
            w * math.log(1.0 + n / (df.get(t, 0) + 1))
            for t, w in zip(doc.tokens, map(_LOG_TF.__getitem__, doc.ltf), strict=True)
        ]
        norm = math.sqrt(sum(w * w for w in weights)) or 1.0
        return array("f", [w / norm for w in weights])

    def _reweight(self) -> None:
        """Weight every indexed vector, and so every centroid, with the current IDF; drop
        evicted articles from the postings."""
        self._changes = self._evicted = 0
        postings: dict[str, list[int]] = {}
        for doc in self._docs.values():
            doc.vec = self._vector(doc)
            for t in doc.tokens:
                postings.setdefault(t, []).append(doc.article_id)
        self._postings = postings
        for story_id in self._members:
            self._centroids[story_id] = self._sum(story_id)

    # ------------------------------------------------------------------ index

    def _add(self, doc: _Doc) -> None:
        self._evict(doc.time - self.settings.window_hours)
        if doc.time < self._horizon or doc.article_id in self._docs:
            return  # older than the window already (never a candidate again), or known
        if not doc.vec:
            doc.vec = self._vector(doc)
        self._docs[doc.article_id] = doc
        self._newest = max(self._newest, doc.time)
        self._changes += 1
        heapq.heappush(self._queue, (doc.time, doc.article_id))
        for t in doc.tokens:
            self._postings.setdefault(t, []).append(doc.article_id)
        self._df.update(doc.tokens)
        self._members.setdefault(doc.story_id, set()).add(doc.article_id)
        self._shift(doc, +1.0)
        self._first.setdefault(doc.story_id, doc.time)
        if len(self._docs) > self.settings.max_indexed:
            # The oldest goes, and the horizon moves up to it.
            self._horizon = max(self._horizon, self._queue[0][0])
            self._forget_oldest()

    def _sum(self, story_id: int) -> tuple[tuple[str, ...], array[float], float]:
        """A story's centroid: the sum of its indexed members' vectors, and its squared norm."""
        total: dict[str, float] = {}
        for i in self._members[story_id]:
            doc = self._docs[i]
            for t, w in zip(doc.tokens, doc.vec, strict=True):
                total[t] = total.get(t, 0.0) + w
        return _centroid(total)

    def _shift(self, doc: _Doc, sign: float) -> None:
        """Add (+1) or take away (-1) an article's vector to or from its story's centroid:
        the cost follows the centroid's size, not the number of members."""
        if len(self._members[doc.story_id]) == 1 and sign > 0:
            self._centroids[doc.story_id] = doc.tokens, doc.vec, sum(w * w for w in doc.vec)
            return
        tokens, weights, _ = self._centroids[doc.story_id]
        total = dict(zip(tokens, weights, strict=True))
        for t, w in zip(doc.tokens, doc.vec, strict=True):
            total[t] = total.get(t, 0.0) + sign * w
        if sign < 0:
            total = {t: w for t, w in total.items() if abs(w) > 1e-6}
        self._centroids[doc.story_id] = _centroid(total)

    def _evict(self, horizon: float) -> None:
        """Forget articles published before `horizon` (hours since the epoch)."""
        self._horizon = max(self._horizon, horizon)
        while self._queue and self._queue[0][0] < self._horizon:
            self._forget_oldest()

    def _forget_oldest(self) -> None:
        doc = self._docs.pop(heapq.heappop(self._queue)[1])
        self._changes += 1
        self._evicted += 1
        members = self._members[doc.story_id]
        members.discard(doc.article_id)
        if not members:
            del self._members[doc.story_id], self._first[doc.story_id]
            del self._centroids[doc.story_id]
        else:
            self._shift(doc, -1.0)
        df = self._df
        for t in doc.tokens:
            df[t] -= 1
            if not df[t]:
                del df[t], self._postings[t]


def _centroid(total: dict[str, float]) -> tuple[tuple[str, ...], array[float], float]:
    weights = array("d", total.values())
    return tuple(total), weights, sum(w * w for w in weights)


def _dot(query: dict[str, float], tokens: Sequence[str], weights: Sequence[float]) -> float:
    """Dot product of a vector given as a dict with one given as tokens and weights."""
    get = query.get
    return sum(w * q for t, w in zip(tokens, weights, strict=True) if (q := get(t)) is not None)


def _jaccard(a: array[int], b: array[int]) -> float:
    """Jaccard similarity of two sets of shingle hashes."""
    if not a or not b:
        return 0.0
    common = len(set(a).intersection(b))
    return common / (len(a) + len(b) - common)
