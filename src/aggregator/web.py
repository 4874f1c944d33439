"""Database path in, configured Datasette out: metadata, dashboard, templates and links ship here.

Datasette opens the file read-only in practice: it has no write plugins and canned queries are
plain SELECTs. `aggregator serve` is `uvicorn.run(make_datasette(path).app())`.

The bundled YAML (package data under `aggregator/datasette/`) names the database
`__DATABASE__` and its URL path `__DATABASE_URL__`; `metadata_for` fills both in, since
Datasette names a database after its file. This module is also a small Datasette plugin
(registered by `make_datasette`) for what configuration cannot say: `/` opens the dashboard,
story and topic cells link to the story page and the topic's articles and Atom feed, and the
articles table page shows the columns a reader scans unless its URL picks them.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from datasette import hookimpl
from datasette.app import Datasette
from datasette.plugins import pm
from datasette.utils import tilde_encode
from datasette.utils.asgi import Response
from markupsafe import Markup
from ruamel.yaml import YAML

from aggregator import webfacets

#: Datasette settings: a SQL time limit so one heavy query cannot stall the server. Facet
#: suggestions are off: on a large table each suggestion is another full scan per page (#7).
SETTINGS = {
    "sql_time_limit_ms": 3000,
    "facet_time_limit_ms": 1000,
    "default_page_size": 50,
    "suggest_facets": False,
}

#: The columns of the articles table page (HTML) when its URL picks none (?_col=, ?_nocol=):
#: what a reader scans, beside the id. The row page, .json and .csv give every column; rendering
#: and sorting all 22 columns (raw content and hashes) cost a 1M-article search page ~30 ms (#7).
ARTICLE_COLUMNS = ("published", "outlet", "title", "url", "summary_text", "topics")

#: Placeholders in the bundled YAML, filled in per database.
DATABASE, DATABASE_URL = "__DATABASE__", "__DATABASE_URL__"

#: The landing dashboard's slug (datasette-dashboards serves it at /-/dashboards/<slug>).
DASHBOARD = "coverage"

#: This module's name as a Datasette plugin, and its plugin-config key in the metadata.
PLUGIN = webfacets.PLUGIN


@cache
def _bundled(name: str) -> dict[str, Any]:
    text = files("aggregator").joinpath(f"datasette/{name}").read_text(encoding="utf-8")
    return YAML(typ="safe", pure=True).load(text)


def _fill(value: Any, name: str) -> Any:
    """`value` with the database placeholders replaced, in every nested string."""
    if isinstance(value, str):
        # The URL form first: tilde-encoding keeps only [A-Za-z0-9_-], so it is also safe
        # inside the SQL string literals and HTML attributes of the dashboard.
        value = value.replace(DATABASE_URL, "/" + tilde_encode(name))
        return value.replace(DATABASE, name)
    if isinstance(value, dict):
        return {k: _fill(v, name) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, name) for v in value]
    return value


def database_name(path: str | os.PathLike[str]) -> str:
    """Datasette names a database after its file's stem."""
    return Path(path).stem


def metadata_for(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The bundled metadata and dashboard, with the database named after `path`."""
    name = database_name(path)
    metadata = _fill(_bundled("metadata.yml"), name)
    metadata["databases"] = {name: metadata["databases"].pop(DATABASE)}
    plugins = metadata.setdefault("plugins", {})
    plugins["datasette-dashboards"] = _fill(_bundled("dashboards.yml"), name)
    plugins[PLUGIN] = {**plugins.get(PLUGIN, {}), "database": name}
    return metadata


def make_datasette(path: str | os.PathLike[str]) -> Datasette:
    """A Datasette instance serving `path` with aggregator's metadata, dashboard and pages."""
    if not pm.is_registered(sys.modules[__name__]):
        pm.register(sys.modules[__name__], name=PLUGIN)
    if not pm.is_registered(webfacets):
        pm.register(webfacets, name=f"{PLUGIN}.webfacets")
    with as_file(files("aggregator").joinpath("datasette/templates")) as templates:
        datasette = Datasette(
            [os.fspath(path)],
            metadata=metadata_for(path),
            settings=SETTINGS,
            template_dir=str(templates),
        )
    # The same database, counting some table pages from the summaries (webfacets).
    name = database_name(path)
    is_mutable = datasette.databases[name].is_mutable
    datasette.remove_database(name)
    datasette.add_database(
        webfacets.SummaryDatabase(datasette, os.fspath(path), is_mutable=is_mutable), name=name
    )
    webfacets.DATABASES[datasette] = name
    return datasette


def serve(path: str | os.PathLike[str], *, host: str, port: int) -> None:
    """Run Datasette on `path` until interrupted."""
    import uvicorn

    ds = make_datasette(path)
    uvicorn.run(ds.app(), host=host, port=port, log_level="warning")


# --- Datasette plugin hooks (active only on instances made by make_datasette) ---------------


def _our_database(datasette: Datasette, database: str | None) -> bool:
    return webfacets.ours(datasette, database)


def _link(href: str, text: object) -> Markup:
    return Markup('<a href="{}">{}</a>').format(href, text)


def story_url(datasette: Datasette, database: str, story_id: int) -> str:
    """The story page: the `story` canned query for one story."""
    return f"{datasette.urls.database(database)}/story?{urlencode({'story_id': story_id})}"


def topic_urls(datasette: Datasette, database: str, topic: str) -> tuple[str, str]:
    """The topic's latest articles (page) and its Atom feed."""
    base = datasette.urls.database(database)
    page = f"{base}/latest_by_topic?{urlencode({'topic': topic})}"
    feed_title = f"{datasette.metadata('title') or PLUGIN}: {topic}"
    feed = f"{base}/topic_feed.atom?{urlencode({'topic': topic, '_feed_title': feed_title})}"
    return page, feed


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    """Story ids and titles link to the story page; topics to their articles and Atom feed."""
    if not _our_database(datasette, database):
        return None
    if table == "topics" and column == "description":
        # `name` is the primary key, whose cell Datasette draws itself; the links go here.
        page, feed = topic_urls(datasette, database, row["name"])
        return Markup(
            '{}<br><small><a href="{}">newest articles</a> · '
            '<a class="atom-feed" href="{}">Atom feed</a></small>'
        ).format(value or "", page, feed)
    if value is None:
        return None
    if column == "story_id" and table is None and isinstance(value, int):
        # Canned queries (biggest stories, search, ...); tables keep Datasette's foreign-key link.
        return _link(story_url(datasette, database, value), value)
    if table is None and column in ("url", "title"):
        # Canned-query rows with a headline and its link: the headline links to the article
        # and the long URL shows as its host, so the headlines stay readable.
        url = row["url"] if "url" in row.keys() else None
        if isinstance(url, str) and url.startswith(("https://", "http://")):
            return _link(url, value if column == "title" else (urlsplit(url).hostname or url))
        return None
    if table == "stories" and column == "title":
        return _link(story_url(datasette, database, row["id"]), value)
    return None


@hookimpl
def extra_template_vars(datasette):
    """Lets the bundled templates build topic feed and story links."""
    return {"aggregator_topic_urls": lambda database, topic: topic_urls(datasette, database, topic)}


@hookimpl
def asgi_wrapper(datasette):
    """The articles table page (HTML) without ?_col= or ?_nocol= shows ARTICLE_COLUMNS."""

    def wrap(app):
        async def with_default_columns(scope, receive, send):
            name = webfacets.DATABASES.get(datasette)
            if (
                name is not None
                and scope["type"] == "http"
                and scope.get("path") == datasette.urls.table(name, "articles")
            ):
                query = scope.get("query_string", b"")
                if not any(
                    k in ("_col", "_nocol")
                    for k, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True)
                ):
                    columns = urlencode([("_col", c) for c in ARTICLE_COLUMNS]).encode()
                    scope = {**scope, "query_string": query + b"&" + columns if query else columns}
            await app(scope, receive, send)

        return with_default_columns

    return wrap


@hookimpl
def register_routes():
    """`/` opens the coverage dashboard; the database page (/<name>) lists the tables."""

    async def landing(datasette: Datasette) -> Response:
        if not datasette.plugin_config(PLUGIN):
            return Response.redirect(datasette.urls.path("/-/databases"))
        return Response.redirect(datasette.urls.path(f"/-/dashboards/{DASHBOARD}"))

    return [(r"^/$", landing)]
