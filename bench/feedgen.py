"""Seed and feed count in, rendered feed documents out: the benchmark's reproducible publishers.

Every generated feed lives on one of 100 loopback addresses (127.0.0.2 ... 127.0.0.101), has
30 entries of 500-1500 characters of HTML made from the word frequencies of the committed news
text (tests/data/eval_dev and tests/data/corpus/news), links with tracking parameters, RSS 2.0
(a third with content:encoded) or Atom, and a tenth of wire copies that several outlets
carry under one canonical URL. Entries belong to events covered by several feeds, so story
clustering has real work. The 17 real news feeds of tests/data/corpus/news are served too.

Two phases: "base", and "half", in which every even-numbered generated feed gained 3 new
entries (its 3 oldest fell off, as on a real feed). ETag and Last-Modified follow the bytes.
`load(n, seed)` builds both phases once and caches them under bench/.cache/ (pickle, keyed by
this file's contents), so the server, the floors and the harness see identical bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import itertools
import pickle
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CACHE = HERE / ".cache"
HOSTS = tuple(f"127.0.0.{i}" for i in range(2, 102))
ENTRIES = 30
NEW_IN_HALF = 3
#: Newest entry of the base phase; the "half" phase adds entries after it.
BASE_TIME = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TRACKING = (
    "utm_source=rss&utm_medium=feed&utm_campaign={c}",
    "at_medium=RSS&at_campaign={c}",
    "utm_source=feedburner&fbclid=IwAR{c}",
    "maca=en-rss-{c}&traffic_source=rss",
)
CORPUS_NEWS = REPO / "tests" / "data" / "corpus" / "news"
PHASES = ("base", "half")


@dataclass(frozen=True, slots=True)
class Doc:
    """One feed document as the server sends it."""

    #: Loopback address and path: the feed is http://{host}:{port}{path}.
    host: str
    path: str
    body: bytes
    gzipped: bytes
    etag: str
    last_modified: str
    content_type: str
    #: Outlet name for feeds.yaml.
    outlet: str
    #: Entries in the document (generated feeds; corpus feeds: counted by feedparser later).
    entries: int
    #: Changed since the base phase.
    changed: bool = False


@dataclass(frozen=True, slots=True)
class Event:
    """One news event: what every report of it is written with."""

    #: Eight rare words that name the event (people, places): what clustering keys on.
    keys: list[str]
    #: Sixty words of its subject (a real story's vocabulary is narrower than the language).
    vocabulary: list[str]


class Words:
    """Frequency-weighted vocabulary drawn from the committed news text."""

    def __init__(self) -> None:
        counts: dict[str, int] = {}
        files = sorted((REPO / "tests" / "data" / "eval_dev").glob("*.xml"))
        files += sorted(CORPUS_NEWS.iterdir())
        for path in files:
            text = html.unescape(re.sub(r"<[^>]+>", " ", path.read_text("utf-8", "replace")))
            for word in re.findall(r"[A-Za-z][a-z]{2,}", text):
                counts[word] = counts.get(word, 0) + 1
        ranked = sorted(counts, key=lambda w: (-counts[w], w))
        self.words = ranked
        self.cum = list(itertools.accumulate(counts[w] for w in ranked))
        #: Rarer words: each event is named by a handful of them (what clustering keys on).
        self.rare = ranked[len(ranked) // 10 :]

    def pick(self, rng: random.Random, k: int) -> list[str]:
        return rng.choices(self.words, cum_weights=self.cum, k=k)

    def event(self, event_id: int) -> Event:
        rng = random.Random(event_id)
        return Event(rng.sample(self.rare, 8), rng.sample(self.words[50:5000], 60))


def _sentence(rng: random.Random, words: Words, event: Event, n: int) -> str:
    """Words of the event's own vocabulary, two of its rare key words, some common words."""
    chosen = rng.choices(event.vocabulary, k=n // 2) + rng.sample(event.keys, 2)
    chosen += words.pick(rng, n - len(chosen))
    rng.shuffle(chosen)
    return " ".join(chosen).capitalize() + "."


def _html(rng: random.Random, words: Words, event: Event, low: int, high: int) -> str:
    """Paragraphs of sentences with links, emphasis and a relative image, low..high chars."""
    target = rng.randint(low, high)
    parts: list[str] = []
    size = 0
    while size < target:
        sentences = [_sentence(rng, words, event, rng.randint(8, 18)) for _ in range(3)]
        para = " ".join(sentences)
        roll = rng.random()
        if roll < 0.3:
            w = rng.choice(event.keys)
            para = para.replace(w, f'<a href="/tag/{w.lower()}?utm_source=rss">{w}</a>', 1)
        elif roll < 0.5:
            para = f"<strong>{sentences[0]}</strong> " + " ".join(sentences[1:])
        elif roll < 0.6:
            para += f' <img src="/img/{rng.randrange(10**6)}.jpg" alt="{sentences[0][:20]}">'
        parts.append(f"<p>{para}</p>")
        size += len(para) + 7
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class _Entry:
    guid: str
    link: str
    title: str
    summary: str
    content: str | None
    published: datetime
    author: str
    categories: tuple[str, ...]


def _entries(feed: int, n_feeds: int, words: Words, with_content: bool) -> list[_Entry]:
    """ENTRIES + NEW_IN_HALF entries of one feed, newest first."""
    rng = random.Random(feed * 7_919 + 17)
    host = HOSTS[feed % len(HOSTS)]
    total = ENTRIES + NEW_IN_HALF
    # Events are local in time, as news is: each 90-minute slot has n_feeds // 5 events and
    # an entry reports one of its slot's (or the previous slot's), so an event is covered by
    # about five feeds of different outlets within a few hours, then never again.
    per_slot = max(1, n_feeds // 5)
    out = []
    for k in range(total):
        age = timedelta(minutes=(k - NEW_IN_HALF) * 90 + rng.randint(0, 60))
        published = BASE_TIME - age
        event_id = (k + rng.choice((0, 0, 1))) * per_slot + rng.randrange(per_slot)
        event = words.event(event_id)
        title = " ".join(
            [*rng.sample(event.keys, 3), *rng.choices(event.vocabulary, k=rng.randint(4, 9))]
        ).capitalize()
        if rng.random() < 0.1:
            # Wire copy: the same canonical URL at several outlets (one article, many sightings).
            link = f"https://wire.example/{event_id}/story"
        else:
            site = host.replace(".", "-")
            link = f"https://{site}.example/news/{feed}/{k}-{event.keys[0].lower()}"
        link += "?" + rng.choice(TRACKING).format(c=rng.randrange(10**4))
        summary = _html(rng, words, event, 500, 1500)
        content = _html(rng, words, event, 800, 3000) if with_content else None
        out.append(
            _Entry(
                guid=f"{host}-{feed}-{k}",
                link=link,
                title=title,
                summary=summary,
                content=content,
                published=published,
                author=" ".join(w.capitalize() for w in words.pick(rng, 2)),
                categories=tuple(rng.sample(event.keys, 2)),
            )
        )
    return out


def _rss(feed: int, title: str, home: str, entries: list[_Entry]) -> str:
    items = []
    for e in entries:
        content = f"<content:encoded><![CDATA[{e.content}]]></content:encoded>" if e.content else ""
        cats = "".join(f"<category>{html.escape(c)}</category>" for c in e.categories)
        items.append(
            f"<item><title>{html.escape(e.title)}</title>"
            f"<link>{html.escape(e.link)}</link>"
            f'<guid isPermaLink="false">{e.guid}</guid>'
            f"<pubDate>{format_datetime(e.published)}</pubDate>"
            f"<dc:creator>{html.escape(e.author)}</dc:creator>{cats}"
            f"<description>{html.escape(e.summary)}</description>{content}</item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>{html.escape(title)}</title><link>{home}</link>"
        f"<description>Generated feed {feed}</description><language>en</language>"
        f"<lastBuildDate>{format_datetime(entries[0].published)}</lastBuildDate>"
        + "".join(items)
        + "</channel></rss>\n"
    )


def _atom(feed: int, title: str, home: str, entries: list[_Entry]) -> str:
    items = []
    for e in entries:
        content = f'<content type="html">{html.escape(e.content)}</content>' if e.content else ""
        cats = "".join(f'<category term="{html.escape(c)}"/>' for c in e.categories)
        items.append(
            f"<entry><title>{html.escape(e.title)}</title>"
            f'<link rel="alternate" href="{html.escape(e.link)}"/>'
            f"<id>urn:bench:{e.guid}</id>"
            f"<published>{e.published.isoformat()}</published>"
            f"<updated>{e.published.isoformat()}</updated>"
            f"<author><name>{html.escape(e.author)}</name></author>{cats}"
            f'<summary type="html">{html.escape(e.summary)}</summary>{content}</entry>'
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{html.escape(title)}</title>"
        f'<link rel="alternate" href="{home}"/><id>urn:bench:feed:{feed}</id>'
        f"<updated>{entries[0].published.isoformat()}</updated>" + "".join(items) + "</feed>\n"
    )


def _doc(
    host: str, path: str, body: bytes, ctype: str, outlet: str, n: int, changed: bool, lm: datetime
) -> Doc:
    return Doc(
        host=host,
        path=path,
        body=body,
        gzipped=gzip.compress(body, compresslevel=6, mtime=0),
        etag='"' + hashlib.sha1(body).hexdigest()[:20] + '"',
        last_modified=format_datetime(lm, usegmt=True),
        content_type=ctype,
        outlet=outlet,
        entries=n,
        changed=changed,
    )


def generate(n_feeds: int) -> dict[str, list[Doc]]:
    """Both phases of n_feeds generated feeds plus the corpus news feeds."""
    words = Words()
    phases: dict[str, list[Doc]] = {p: [] for p in PHASES}
    for feed in range(n_feeds):
        host = HOSTS[feed % len(HOSTS)]
        outlet = f"Outlet {feed % len(HOSTS):03d}"
        atom = feed % 5 == 4
        entries = _entries(feed, n_feeds, words, with_content=feed % 3 == 0)
        title = f"{outlet} – section {feed // len(HOSTS)}"
        home = f"https://{host.replace('.', '-')}.example/"
        path = f"/feeds/{feed:05d}." + ("atom" if atom else "xml")
        ctype = "application/atom+xml" if atom else "application/rss+xml; charset=utf-8"
        render = _atom if atom else _rss
        for phase in PHASES:
            changed = phase == "half" and feed % 2 == 0
            shown = entries[:ENTRIES] if changed else entries[NEW_IN_HALF:]
            body = render(feed, title, home, shown).encode()
            doc = _doc(host, path, body, ctype, outlet, ENTRIES, changed, shown[0].published)
            phases[phase].append(doc)
    for i, path in enumerate(sorted(CORPUS_NEWS.iterdir())):
        body = path.read_bytes()
        doc = _doc(
            HOSTS[i % len(HOSTS)],
            f"/corpus/{path.name}",
            body,
            "application/xml",
            "Corpus",
            0,
            False,
            BASE_TIME,
        )
        for phase in PHASES:
            phases[phase].append(doc)
    return phases


def load(n_feeds: int) -> dict[str, list[Doc]]:
    """generate(n_feeds), cached under bench/.cache/ by this file's contents."""
    version = hashlib.sha1(Path(__file__).read_bytes()).hexdigest()[:10]
    cached = CACHE / f"feeds-{n_feeds}-{version}.pickle"
    if cached.exists():
        with cached.open("rb") as f:
            return pickle.load(f)
    phases = generate(n_feeds)
    CACHE.mkdir(exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    with tmp.open("wb") as f:
        pickle.dump(phases, f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(cached)
    return phases


def url(doc: Doc, port: int) -> str:
    return f"http://{doc.host}:{port}{doc.path}"


def lookup(docs: list[Doc]) -> dict[tuple[str, str], Doc]:
    return {(d.host, d.path): d for d in docs}
