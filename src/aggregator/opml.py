"""OPML bytes + the current Config in, an ImportPlan out; a Config in, OPML 2.0 bytes out. Pure.

Reading is listparser's (feeds, their folder paths and `category` attributes, links to
other subscription lists); a second pass with expat only notes the line of every outline,
so that each problem says where it is, and finds feed outlines whose xmlUrl is empty, which
listparser passes over in silence.

How OPML maps onto feeds.yaml (README "Importing and exporting OPML"):

- `text`/`title` -> the feed's `title` (unless it is just the URL);
- every folder on the outline's path and every `category` path element -> a topic of the
  feed (`World News` -> `world-news`); topics not yet in feeds.yaml are declared as topics
  given by feeds only (no keywords), described by the folder's own name;
- except a folder named exactly like a declared outlet, which makes that the feed's
  outlet (the shape `export-opml` writes: one folder per outlet); `--outlet` sets one for all.

Export writes one folder per outlet (feeds without an outlet at the top level), with
`xmlUrl`, `htmlUrl` when the database knows the site, `title`/`text`, and the feed's
topics as a `category` attribute ("/sanctions,/diplomacy").
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from xml.parsers import expat

import listparser

from .config import url_identity
from .errors import ParseError
from .models import Config, FeedConfig, ImportPlan
from .units import parse_url

_SLUG_DROP = re.compile(r"[^a-z0-9]+")


@dataclass(slots=True)
class _Outline:
    line: int
    folders: tuple[str, ...]
    attrs: dict[str, str] = field(default_factory=dict)

    def where(self) -> str:
        label = self.attrs.get("text", "").strip() or self.attrs.get("title", "").strip()
        out = f"line {self.line}"
        if self.folders:
            out += f", folder {'/'.join(self.folders)}"
        return f"{out} ({label!r})" if label else out


def _outlines(document: bytes) -> list[_Outline]:
    """Every <outline> with its line, the folders above it and its attributes (names lower-case)."""
    found: list[_Outline] = []
    stack: list[str | None] = []
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def start(name: str, attrs: dict[str, str]) -> None:
        if name.lower() != "outline":
            return
        lowered = {k.lower(): v for k, v in attrs.items()}
        folders = tuple(s for s in stack if s)
        found.append(_Outline(parser.CurrentLineNumber, folders, lowered))
        is_folder = "xmlurl" not in lowered and lowered.get("type", "").lower() not in (
            "link",
            "include",
        )
        label = (lowered.get("text", "") or lowered.get("title", "")).strip()
        stack.append(label if is_folder else None)

    def end(name: str) -> None:
        if name.lower() == "outline" and stack:
            stack.pop()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(document, True)
    except expat.ExpatError:
        pass  # listparser decides whether the file is usable; lines are a courtesy
    return found


def slug(name: str) -> str:
    """A folder name as a topic name: "World News" -> "world-news" ([a-z0-9-], never empty)."""
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    text = _SLUG_DROP.sub("-", ascii_text.lower()).strip("-")[:60].strip("-")
    if text:
        return text
    return "folder-" + hashlib.sha256(name.encode()).hexdigest()[:8]  # e.g. "Новости"


def plan_import(
    document: bytes, config: Config, *, outlet: str | None = None, source: str = "OPML"
) -> ImportPlan:
    """What importing `document` into `config` adds, skips and cannot use; raises ParseError."""
    result = listparser.parse(document)
    if not result.version or (result.bozo and not (result.feeds or result.lists)):
        why = f": {result.bozo_exception}" if result.bozo else " (no <opml> root element)"
        raise ParseError(f"not an OPML file{why}", url=source)
    outlines = _outlines(document)
    by_url: dict[str, _Outline] = {}
    for o in outlines:
        for key in ("xmlurl", "url", "htmlurl"):
            if o.attrs.get(key, "").strip():
                by_url.setdefault(o.attrs[key].strip(), o)

    def where(url: str, title: str) -> str:
        o = by_url.get(url)
        return o.where() if o else repr(title or url)

    def line(url: str) -> int:
        o = by_url.get(url)
        return o.line if o else 0

    outlets = {o.name for o in config.outlets}
    topics = {t.name for t in config.topics}
    seen = {url_identity(f.url): f.url for f in config.feeds}
    new_topics: dict[str, str] = {}
    feeds: list[FeedConfig] = []
    duplicates: list[str] = []
    problems: list[tuple[int, str]] = []  # (line, message), reported in file order
    for entry in result.feeds:
        url, title = entry.url.strip(), " ".join((entry.title or "").split())
        try:
            parse_url(url)
        except ValueError:
            problems.append(
                (line(url), f"{where(url, title)}: xmlUrl {url!r} is not an http(s) URL")
            )
            continue
        if url_identity(url) in seen:
            duplicates.append(url)
            continue
        seen[url_identity(url)] = url
        feed_outlet, feed_topics = outlet, []
        for path in entry.categories:
            for name in path:
                if feed_outlet is None and name in outlets:
                    feed_outlet = name
                    continue
                topic = slug(name)
                if topic not in topics and topic not in new_topics:
                    new_topics[topic] = name
                feed_topics.append(topic)
        feeds.append(
            FeedConfig(
                url=url,
                title=title if title and title != url else None,
                outlet=feed_outlet,
                topics=tuple(dict.fromkeys(feed_topics)),
            )
        )
    for entry in result.lists:
        message = f"a link to {entry.url}, not a feed (a subscription list is imported on its own)"
        problems.append((line(entry.url), f"{where(entry.url, entry.title)}: {message}"))
    # What listparser passes over in silence: feed outlines without a usable xmlUrl (it
    # takes a titled one for a folder), and the second outline of a URL.
    xml_urls: set[str] = set()
    for o in outlines:
        xml_url = o.attrs.get("xmlurl", "").strip()
        site = o.attrs.get("htmlurl", "").strip()
        if xml_url:
            if xml_url in xml_urls:
                duplicates.append(xml_url)
            xml_urls.add(xml_url)
        elif "xmlurl" in o.attrs:
            problems.append((o.line, f"{o.where()}: empty xmlUrl"))
        elif site or o.attrs.get("type", "").strip().lower() in ("rss", "atom"):
            hint = f"only the site {site} (try `aggregator add {site}`)" if site else "no URL"
            problems.append((o.line, f"{o.where()}: no xmlUrl, {hint}"))
    return ImportPlan(
        feeds=tuple(feeds),
        new_topics=tuple(new_topics.items()),
        new_outlets=(outlet,) if outlet is not None and outlet not in outlets else (),
        duplicates=tuple(duplicates),
        problems=tuple(message for _, message in sorted(problems, key=lambda p: p[0])),
    )


def to_opml(
    config: Config,
    *,
    now: datetime,
    site_urls: Mapping[str, str] | None = None,
    title: str = "aggregator feeds",
) -> bytes:
    """OPML 2.0 for every feed of `config` (see the module docstring); `now` is dateCreated."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateCreated").text = format_datetime(now, usegmt=True)
    ET.SubElement(head, "docs").text = "http://opml.org/spec2.opml"
    body = ET.SubElement(root, "body")
    folders: dict[str, ET.Element] = {}
    for outlet in config.outlets:  # in the order of feeds.yaml, created when first used
        folders[outlet.name] = ET.Element("outline", text=outlet.name, title=outlet.name)
    used: list[str] = []
    for feed in config.feeds:
        parent = body
        if feed.outlet is not None:
            parent = folders[feed.outlet]
            if feed.outlet not in used:
                used.append(feed.outlet)
                body.append(parent)
        label = feed.title or feed.outlet or feed.url
        attrs = {"type": "rss", "text": label, "title": label, "xmlUrl": feed.url}
        if site_urls and site_urls.get(feed.url):
            attrs["htmlUrl"] = site_urls[feed.url]
        if feed.topics:
            attrs["category"] = ",".join(f"/{t}" for t in feed.topics)
        ET.SubElement(parent, "outline", attrs)
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
