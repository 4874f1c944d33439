"""Datasette pages of the big tables kept fast: facets from the summary tables, bounded filters.

On a million articles Datasette's facets are a GROUP BY over every matching row (seconds, or cut
off by facet_time_limit_ms), although migration m005's facet_counts, kept by triggers, holds the
same counts (issue #7). This Datasette plugin swaps Datasette's column, array and date facet
classes for subclasses that, on aggregator's database, answer a facet from the summary when the
page's filter is one summaries.yml knows (no filter, `?outlet=X`, `?first_outlet=X`, a table
search), and leave every other facet, filter and database to Datasette.

The SQL ships in the bundled `datasette/summaries.yml` (`facets`), keyed by table, by the exact
WHERE clause Datasette built for the page, and by "type:column"; it returns the rows Datasette's
own facet query returns (value, count). The answer is formatted by Datasette's own
facet code: only the one query it runs per facet is swapped, so links, labels, "selected" and
truncation are Datasette's. A later page (`?_next=`) shows the facets of the first page, as its
row count does (Datasette's own would count only the rows after the cursor).

Two filters are added where Datasette's own cannot use an index (`filters_from_request`): a
table search looks at the newest N matches only, and says so (Datasette's own clause for every
match is then dropped: it adds nothing but the cost of reading every match); a
`<column>__date=` filter gets the same day as a range on the column, which its index answers.

One count has no index to walk: `?topics__arraycontains=X` counts the rows whose JSON `topics`
holds X, reading every row (5 s at 1M articles), and no hook replaces the count. So aggregator's
database is served by `SummaryDatabase`, which runs the summary query summaries.yml gives
(`counts`, keyed like `facets`) in place of the page's exact `select count(*)` statement.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any
from weakref import WeakKeyDictionary

from datasette import hookimpl
from datasette.database import Database
from datasette.facets import ArrayFacet, ColumnFacet, DateFacet, Facet
from datasette.filters import FilterArguments
from datasette.utils import await_me_maybe, escape_sqlite
from ruamel.yaml import YAML

#: aggregator's name as a Datasette plugin and its plugin-config key (see web.PLUGIN).
PLUGIN = "aggregator"


#: Datasette instance -> the name of aggregator's database in it (filled by web.make_datasette).
#: Looked up once per cell by web.render_cell: Datasette's plugin_config() copies the config.
DATABASES: WeakKeyDictionary[Any, str] = WeakKeyDictionary()


def ours(datasette: Any, database: str | None) -> bool:
    """Whether `database` is aggregator's database on this Datasette instance."""
    return database is not None and DATABASES.get(datasette) == database


@cache
def summaries() -> dict[str, Any]:
    """The bundled datasette/summaries.yml: `facets`, `counts`, `search_newest`, `date_ranges`."""
    text = files("aggregator").joinpath("datasette/summaries.yml").read_text(encoding="utf-8")
    return YAML(typ="safe", pure=True).load(text)


#: SQLite's page cache of each Datasette connection to aggregator's database, KiB (SQLite's
#: default is 2 MiB; Datasette keeps three reading connections). A table page runs five to
#: seven statements over the same rows (rows, count, one per facet): with the default they
#: read the same pages again from the OS. 1M articles, a search page: its statements ~20 ms ->
#: 8-12 ms once warm, the HTML page ~37 -> ~31 ms (32 MiB did no better).
CACHE_KIB = 16 * 1024


@hookimpl
def prepare_connection(conn, database, datasette):  # type: ignore[no-untyped-def]
    """A bigger page cache for aggregator's database (CACHE_KIB)."""
    if ours(datasette, database):
        conn.execute(f"PRAGMA cache_size = -{int(CACHE_KIB)}")


#: How Datasette's table page counts its rows: "select count(*) from <table> <where> ".
_COUNT = "select count(*) from "


def summary_count(sql: str) -> str | None:
    """The summary query that counts what the table-page count `sql` counts, if there is one."""
    if not sql.startswith(_COUNT):
        return None
    for table, by_where in summaries()["counts"].items():
        prefix = f"{_COUNT}{escape_sqlite(table)} "
        if sql.startswith(prefix):
            return by_where.get(" ".join(sql[len(prefix) :].split()))
    return None


class SummaryDatabase(Database):
    """Datasette's Database, counting a table page's rows from a summary where one fits.

    `web.make_datasette` serves aggregator's file through this class. Only an exact
    statement listed in summaries.yml (`counts`) is swapped, for one that counts the same rows.
    """

    async def execute(self, sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        return await super().execute(summary_count(sql) or sql, params, *args, **kwargs)


class _SummaryQuery:
    """Stands in for Datasette inside its facet code: the facet's one query becomes `sql`."""

    def __init__(self, datasette: Any, sql: str, params: Any) -> None:
        self._datasette, self._sql, self._params = datasette, sql, params

    def __getattr__(self, name: str) -> Any:
        return getattr(self._datasette, name)

    async def execute(self, database: str, sql: str, params: Any = None, **kwargs: Any) -> Any:
        return await self._datasette.execute(database, self._sql, self._params, **kwargs)


def summary_sql(facet: Facet, column: str) -> str | None:
    """The summary query answering `facet` on `column` for this page, if the config has one."""
    if not facet.table or not ours(facet.ds, facet.database):
        return None
    by_where = summaries()["facets"].get(facet.table)
    marker = f" from {escape_sqlite(facet.table)} "
    if not by_where or marker not in facet.sql:
        return None
    # Datasette's facet SQL is "select <columns> from <table> [where <every filter>] ": the
    # WHERE clause is the whole row set (filters, search, _where, _next), so an exact match
    # means the summary counts the same rows.
    where = " ".join(facet.sql.split(marker, 1)[1].split())
    return (by_where.get(_first_page(facet.request, where, by_where)) or {}).get(
        f"{facet.type}:{column}"
    )


#: Query-string arguments that put a clause of their own in Datasette's WHERE.
_OWN_CLAUSES = ("_where", "_through", "_search_", "_fts_table", "_filter_")


def _first_page(request: Any, where: str, known: dict[str, Any]) -> str:
    """`where` of a later page (?_next=) without the cursor clause Datasette adds last."""
    args = request.args
    if "_next" not in args or any(k.startswith(_OWN_CLAUSES) for k in args):
        return where
    filters = sum(len(args.getlist(k)) for k in args if not k.startswith("_") or "__" in k)
    for base in known:
        prefix = f"{base} and (" if base else "where ("
        if (
            where.startswith(prefix)
            and base.count(":p") == filters
            and (":search" in base) == ("_search" in args)
        ):
            return base
    return where


class _Summarised(Facet):
    _only: dict[str, Any] | None = None

    def get_configs(self) -> list[dict[str, Any]]:
        configs = super().get_configs()
        return configs if self._only is None else [self._only]

    async def facet_results(self) -> tuple[list[dict[str, Any]], list[str]]:
        results: list[dict[str, Any]] = []
        timed_out: list[str] = []
        datasette = self.ds
        for config in super().get_configs():
            column = config["config"].get("column") or config["config"]["simple"]
            sql = summary_sql(self, column)
            self._only = config
            if sql:
                # Datasette's ordering and limit (facet_size + 1 tells it the list is truncated).
                limit = self.get_facet_size() + 1
                ordered = f"select * from ({sql}) order by count desc, value limit {limit}"
                self.ds = _SummaryQuery(datasette, ordered, self.params)
            try:
                found, late = await super().facet_results()  # type: ignore[safe-super]
            finally:
                self.ds, self._only = datasette, None
            results += found
            timed_out += late
        return results, timed_out


class SummaryColumnFacet(_Summarised, ColumnFacet):
    """Datasette's column facet, from a summary table where one fits."""


class SummaryArrayFacet(_Summarised, ArrayFacet):
    """Datasette's array facet, from a summary table where one fits."""


class SummaryDateFacet(_Summarised, DateFacet):
    """Datasette's date facet, from a summary table where one fits."""


_SWAP = {
    ColumnFacet: SummaryColumnFacet,
    ArrayFacet: SummaryArrayFacet,
    DateFacet: SummaryDateFacet,
}


@hookimpl(hookwrapper=True)
def register_facet_classes():  # type: ignore[no-untyped-def]
    """Datasette's own facet classes, each swapped for its summary-aware subclass."""
    outcome = yield
    outcome.force_result([[_SWAP.get(k, k) for k in classes] for classes in outcome.get_result()])


@hookimpl
def filters_from_request(request, database, table, datasette):  # type: ignore[no-untyped-def]
    """The bounded table search and the indexable day filters of aggregator's tables."""
    if not ours(datasette, database):
        return None
    clauses, params, said = [], {}, []
    search = _bounded_search(request, database, table, datasette)
    if search:
        clauses.append(search[0])
        params["search"] = request.args["_search"]
        said.append(
            f"the article is among the {summaries()['search_newest'][table]:,} newest matches"
        )
    for column in summaries()["date_ranges"].get(table, []):
        # date(column) = :day, which Datasette's `__date` filter asks, cannot use the
        # column's index: the same day as a range can (1M articles: 3 s -> a few ms).
        for i, day in enumerate(request.args.getlist(f"{column}__date")):
            name = f"aggregator_{column}_day_{i}"
            col = escape_sqlite(column)
            clauses.append(f"{col} >= :{name} and {col} < date(:{name}, '+1 day')")
            params[name] = day
    return FilterArguments(clauses, params=params, human_descriptions=said) if clauses else None


@hookimpl(specname="filters_from_request", hookwrapper=True)
def _without_every_match(request, database, table, datasette):  # type: ignore[no-untyped-def]
    """Drop Datasette's own search clause where the bounded one is there.

    `id in (newest N matches) and id in (every match)` is `id in (newest N matches)`, but
    SQLite reads every match for the second clause, for the rows and again for the count.
    """
    outcome = yield
    search = ours(datasette, database) and _bounded_search(request, database, table, datasette)
    if search:
        every = search[1]
        outcome.force_result([_dropping(every, r) for r in outcome.get_result()])


def _dropping(clause: str, result: Any) -> Any:
    """A filters_from_request result (an awaitable, maybe) without `clause`."""

    async def inner() -> Any:
        found = await await_me_maybe(result)
        if found is not None and clause in found.where_clauses:
            found.where_clauses = [c for c in found.where_clauses if c != clause]
        return found

    return inner


def _bounded_search(
    request: Any, database: str, table: str, datasette: Any
) -> tuple[str, str] | None:
    """A table search (?_search=) on a big table looks at its newest matches only.

    Datasette sorts, counts and facets every match: 41,000 rows for a common word in a million
    articles, 1-2 s (issue #7). The newest N matches (FTS rowids are article ids, so newest
    stored) come straight off the full-text index, and the page says it shows them; the
    `search` canned query ranks by relevance. Returns (the bounded clause, Datasette's own
    clause for the same search), or None where the search is not bounded.
    """
    newest = summaries()["search_newest"].get(table)
    metadata = datasette.table_metadata(database, table)
    fts_table = metadata.get("fts_table")
    if not request.args.get("_search") or not newest or not fts_table:
        return None
    if "_fts_table" in request.args or "_fts_pk" in request.args:
        return None
    # Datasette's own choice of raw or escaped FTS syntax (datasette.filters.search_filters).
    raw = metadata.get("searchmode") == "raw"
    raw = {"escaped": False, "raw": True}.get(request.args.get("_searchmode") or "", raw)
    fts = escape_sqlite(fts_table)
    every = (
        f"{escape_sqlite(metadata.get('fts_pk', 'rowid'))} in (select rowid from {fts}"
        f" where {fts} match {':search' if raw else 'escape_fts(:search)'})"
    )
    return f"{every[:-1]} order by rowid desc limit {int(newest)})", every
