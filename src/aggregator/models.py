"""The types that cross module boundaries: frozen, slotted dataclasses, tuples, UTC datetimes.

Data flows one way (see README "Architecture"):

    Config ─► FeedRequest ─► FetchResult ─► ParsedFeed ─► Entry ─► (store) ─► Datasette

Every datetime here is timezone-aware UTC. Nothing in this module does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePath

# --------------------------------------------------------------------------- config


@dataclass(frozen=True, slots=True)
class Settings:
    """`settings:` in feeds.yaml."""

    #: SQLite database path; relative paths are relative to feeds.yaml's folder.
    database: str = "aggregator.db"
    #: Requests in flight at once, over all hosts.
    concurrency: int = 16
    #: Requests in flight at once to one host name.
    per_host: int = 2
    #: Seconds to establish a TCP/TLS connection.
    connect_timeout: float = 10.0
    #: Seconds to wait for any single read from the socket.
    read_timeout: float = 30.0
    #: Seconds for the whole request, body included (a dripping server is cut off here).
    total_timeout: float = 60.0
    #: User-Agent header; None means "aggregator/<version> (+project URL)".
    user_agent: str | None = None
    #: Largest response body accepted, in bytes (checked while streaming, after decompression).
    max_body_bytes: int = 15 * 1024 * 1024
    #: Poll interval in seconds for feeds without their own `interval`, until their posting
    #: rate is known (see schedule.py).
    default_interval: int = 3600
    #: Adapt each feed's interval (without its own `interval`) to how often it posts,
    #: within min_interval .. max_interval seconds.
    adaptive: bool = True
    min_interval: int = 300
    max_interval: int = 86400
    #: Longest wait after failures in a row (seconds); failures double the wait up to it.
    max_backoff: int = 86400
    #: Random spread of each wait, as a fraction (0.1: ±10 %), so polls do not bunch up.
    jitter: float = 0.1
    #: `aggregator serve` defaults.
    host: str = "127.0.0.1"
    port: int = 8001
    #: Story clustering: how far back (seconds) an article looks for its story, and the
    #: similarity (0..1) needed to join one. Defaults equal cluster.ClusterSettings'.
    story_window: int = 72 * 3600
    story_threshold: float = 0.17
    #: `add`/`import-opml` may add feeds on private, loopback, link-local ... addresses
    #: (netguard.py); off by default, against server-side request forgery (#6).
    allow_private_addresses: bool = False


@dataclass(frozen=True, slots=True)
class OutletConfig:
    """One publisher; its labels become facets in Datasette."""

    #: Display name, unique within feeds.yaml.
    name: str
    #: ISO 3166 country code or free text.
    country: str | None = None
    #: BCP 47 language tag, e.g. "en", "uk", "ru".
    language: str | None = None
    #: Free labels, e.g. (("side", "ua"), ("type", "state")); sorted by key.
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """One feed line of feeds.yaml."""

    #: Feed URL as written in feeds.yaml (the feed's identity).
    url: str
    #: Display title; None means "use the feed's own title".
    title: str | None = None
    #: Name of an OutletConfig, or None.
    outlet: str | None = None
    #: Topics applied to every entry of this feed, whatever the rules say.
    topics: tuple[str, ...] = ()
    #: Poll interval in seconds; None means settings.default_interval.
    interval: int | None = None
    #: False keeps the feed configured but never fetched.
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class TopicRule:
    """One topic's matching rule.

    An entry gets the topic when (scope is empty or a scope term matches) and a keyword or
    regex matches and no exclude term matches. Keywords match at the start of a word,
    case-insensitively ("sanction" matches "Sanctions"); a keyword with spaces is a phrase
    whose last word may also be a word start ("peace talk" matches "peace talks").
    """

    #: Topic name, e.g. "sanctions".
    name: str
    #: Word-start keywords and phrases.
    keywords: tuple[str, ...] = ()
    #: Python regular expressions (case-insensitive) that also select the topic.
    regex: tuple[str, ...] = ()
    #: Keywords/phrases that veto the topic when present.
    exclude: tuple[str, ...] = ()
    #: Keywords of which at least one must also match (None: use the topic-wide default scope).
    scope: tuple[str, ...] | None = None
    #: Assigned only when no other rule topic matched (e.g. "other").
    fallback: bool = False
    #: Free text shown in Datasette.
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Config:
    """A validated feeds.yaml."""

    #: The file it came from (absolute), for messages and relative paths.
    path: str
    settings: Settings = field(default_factory=Settings)
    outlets: tuple[OutletConfig, ...] = ()
    feeds: tuple[FeedConfig, ...] = ()
    #: Default scope for every non-fallback topic without its own `scope`.
    topic_scope: tuple[str, ...] = ()
    topics: tuple[TopicRule, ...] = ()

    @property
    def database_path(self) -> str:
        """settings.database resolved against the config file's folder."""
        database = PurePath(self.settings.database)
        if database.is_absolute():
            return str(database)
        return str(PurePath(self.path).parent / database)


# --------------------------------------------------------------------------- fetch


@dataclass(frozen=True, slots=True)
class FeedRequest:
    """What the fetcher needs to poll one feed politely."""

    #: URL to request (feeds.yaml URL, or the stored URL after a permanent redirect).
    url: str
    #: Validators from the last 200 response, sent back byte-for-byte.
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of one HTTP attempt. Exactly one of `content`, `not_modified`, `error`."""

    #: The FeedRequest.url this answers.
    url: str
    #: URL after redirects (== url when none).
    final_url: str
    #: HTTP status of the final response; None when no response arrived.
    status: int | None
    #: When the request started and how long it took (seconds).
    started: datetime
    duration: float
    #: Response body (decompressed) for a 200; None otherwise.
    content: bytes | None = None
    #: Response headers of interest, lower-case names (content-type, etag, last-modified,
    #: content-location, retry-after, cache-control, expires), as a sorted tuple of pairs.
    headers: tuple[tuple[str, str], ...] = ()
    #: True for a 304 answer to a conditional request.
    not_modified: bool = False
    #: True when a redirect on the way was permanent (301/308).
    permanent_redirect: bool = False
    #: Error class name and message when the attempt failed (network, HTTP status, size).
    error_class: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_class is None

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None


# --------------------------------------------------------------------------- schedule


@dataclass(frozen=True, slots=True)
class PollPlan:
    """When to poll a feed next and why (see schedule.py)."""

    #: Next attempt (UTC); None when the feed is disabled.
    next_poll: datetime | None
    #: The feed's normal interval in seconds (backoff and server hints come on top).
    interval: int
    #: None after a success, else "temporary" or "permanent".
    error_kind: str | None
    #: Set when the server disabled the feed (410 Gone): what happened and when.
    disabled_reason: str | None
    #: Why this wait, for logs and `aggregator feeds`, e.g. "Retry-After asks for 2h".
    reason: str


# --------------------------------------------------------------------------- parse


@dataclass(frozen=True, slots=True)
class Enclosure:
    """A media file attached to an entry."""

    #: Absolute URL.
    url: str
    #: MIME type, when given.
    type: str | None = None
    #: Size in bytes, when given and numeric.
    length: int | None = None


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    """One entry as the feed states it (absolute URLs, UTC dates), before normalisation."""

    #: RSS <guid> / Atom <id> / JSON Feed id, stripped; None when absent or blank.
    guid: str | None
    #: The entry's main link (absolute), None when absent.
    link: str | None
    #: Title as HTML/text from the feed (not yet cleaned).
    title: str | None
    #: Summary/description HTML (unsanitised).
    summary: str | None
    #: Full content HTML (content:encoded, Atom content, JSON content_html/text), unsanitised.
    content: str | None
    #: Author names (or emails when no name).
    authors: tuple[str, ...] = ()
    #: Category/tag terms.
    categories: tuple[str, ...] = ()
    enclosures: tuple[Enclosure, ...] = ()
    #: Entry language or None.
    language: str | None = None
    #: Publication and update times in UTC, None when absent or unparseable.
    published: datetime | None = None
    updated: datetime | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed document: feed-level metadata plus its entries in document order."""

    #: Feed title (plain text) or None.
    title: str | None
    #: Feed's home page link or None.
    link: str | None
    #: Feed language or None.
    language: str | None
    #: "rss20", "atom10", ... as feedparser names versions; "json10"/"json11" for JSON Feed.
    version: str
    entries: tuple[ParsedEntry, ...]
    #: Description of the ill-formedness when the document was not well-formed but still
    #: yielded entries (feedparser's bozo_exception), else None.
    problem: str | None = None
    #: RSS <ttl> in minutes, sy:updatePeriod/updateFrequency as seconds, when stated.
    ttl_seconds: int | None = None


# --------------------------------------------------------------------------- normalise


@dataclass(frozen=True, slots=True)
class Entry:
    """A normalised entry, ready to store: identity, canonical URL, clean text, UTC dates."""

    #: Identity within its feed (guid, else link, else hash of title+date).
    entry_id: str
    #: Which rule produced entry_id: "guid", "link" or "hash".
    id_source: str
    #: Link as published (absolute, tracking parameters included), or None.
    url: str | None
    #: Canonical URL (see normalize.canonical_url), or None when there is no link.
    canonical_url: str | None
    #: Title, plain text, entities decoded, whitespace collapsed ("" when none).
    title: str
    #: Sanitised HTML (nh3) of summary and content ("" when none).
    summary_html: str
    content_html: str
    #: Plain text of summary and content.
    summary_text: str
    content_text: str
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    enclosures: tuple[Enclosure, ...]
    language: str | None
    #: Published time (UTC). When the feed gave no date this is the first-seen time and
    #: date_is_fallback is True.
    published: datetime
    updated: datetime | None
    date_is_fallback: bool
    #: sha256 hex of the fields a reader sees (title, url, summary, content, dates...):
    #: a change means the entry was edited.
    content_hash: str

    @property
    def tagging_text(self) -> str:
        """What topic rules and story clustering read (see `tagging_text`)."""
        return tagging_text(self.title, self.summary_text, self.content_text)


@dataclass(frozen=True, slots=True)
class PreparedFeed:
    """One document parsed and normalised (pool.prepare): what the store needs of it."""

    #: Feed title (plain text), home page link and ill-formedness note, as in ParsedFeed.
    title: str | None
    link: str | None
    problem: str | None
    #: The normalised entries, in document order.
    entries: tuple[Entry, ...]
    #: Topics of each entry (same order), tagged with the feed's own fixed topics, or ()
    #: when not tagged here; the store re-tags an article another feed also carries.
    tags: tuple[tuple[TopicMatch, ...], ...] = ()
    #: RSS <ttl> / sy:updatePeriod in seconds, as in ParsedFeed (scheduling reads it).
    ttl_seconds: int | None = None


def tagging_text(title: str, summary_text: str, content_text: str) -> str:
    """Title and summary, or the start of the content when there is no summary.

    Rules read what an entry is substantially about: its headline and its standfirst. Full
    article bodies mention everything (background paragraphs) and would over-tag.
    """
    body = summary_text or content_text[:2000]
    return f"{title}\n{body}"


@dataclass(frozen=True, slots=True)
class TopicMatch:
    """One topic given to an entry and why."""

    topic: str
    #: "feed" (fixed feed topic), "keyword:<kw>", "regex:<pattern>", or "fallback".
    rule: str


# --------------------------------------------------------------------------- stories


@dataclass(frozen=True, slots=True)
class StoryInput:
    """One stored article as story clustering sees it."""

    #: articles.id
    article_id: int
    #: The outlet of the feed that first carried it (None when the feed has no outlet).
    outlet: str | None
    #: Publication time, UTC.
    published: datetime
    title: str
    #: Title and summary (see `tagging_text`).
    text: str


@dataclass(frozen=True, slots=True)
class StoryAssignment:
    """Which story an article belongs to, how sure we are, and how we decided."""

    article_id: int
    #: stories.id: an existing story's id, or a new one allocated by the clusterer.
    story_id: int
    #: Similarity to the story (0..1) that decided membership; 1.0 for a story's first article.
    score: float
    #: "first" (opened the story), or the rule that joined it, e.g. "minhash", "title".
    method: str
    #: True when the text is a near-verbatim copy of an earlier member (wire copy).
    syndicated: bool = False


# --------------------------------------------------------------------------- feed management


@dataclass(frozen=True, slots=True)
class FeedCandidate:
    """A feed offered to `aggregator add`: the URL itself, a page's link, or a common path."""

    #: Absolute http(s) URL of the feed.
    url: str
    #: The link's title attribute or, once fetched, the feed's own title; None when neither.
    title: str | None
    #: "RSS", "Atom", "RDF", "JSON Feed", or "feed" when only rel="feed" says so.
    kind: str
    #: "given" (the URL was a feed), "link" (<link rel=alternate|feed>), "guess" (common path).
    source: str


@dataclass(frozen=True, slots=True)
class ImportPlan:
    """What an OPML file adds to feeds.yaml, and what it cannot add (see opml.plan_import)."""

    #: Feeds to append, in document order, with titles, outlets and topics from the file.
    feeds: tuple[FeedConfig, ...]
    #: Topics to declare first (name, description): folders and categories not yet in the file.
    new_topics: tuple[tuple[str, str], ...] = ()
    #: Outlets to declare first (`--outlet` naming one that does not exist yet).
    new_outlets: tuple[str, ...] = ()
    #: URLs already in feeds.yaml (or twice in the file), skipped.
    duplicates: tuple[str, ...] = ()
    #: One line per outline that cannot become a feed, saying where it is and why.
    problems: tuple[str, ...] = ()
