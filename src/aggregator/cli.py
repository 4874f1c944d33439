"""Command line in, calls to update/store/web out: parses arguments, prints results, nothing more.

Exit codes: 0 success; 1 an error stopped the command (bad feeds.yaml, unusable database);
2 bad command-line usage; 3 the fetch ran but one or more feeds failed (the others were stored).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from . import __version__
from .config import load_config
from .errors import AggregatorError
from .models import Config, FeedConfig, Settings
from .store import Store
from .update import FeedOutcome, UpdateSummary, update

EXIT_FEEDS_FAILED = 3


class _Group(click.Group):
    """Turns every AggregatorError into one clear line and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except AggregatorError as e:
            raise click.ClickException(str(e)) from e


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aggregator")
@click.option(
    "-c",
    "--config",
    "config_path",
    default="feeds.yaml",
    show_default=True,
    envvar="AGGREGATOR_CONFIG",
    type=click.Path(dir_okay=False),
    help="The feeds.yaml to use.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log each feed's problems to stderr.")
@click.pass_context
def cli(ctx: click.Context, config_path: str, verbose: bool) -> None:
    """Follow one story across many outlets: feeds → SQLite → Datasette."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = config_path


def _config(ctx: click.Context) -> Config:
    return load_config(ctx.find_root().obj)


@cli.command()
@click.argument("path", default="feeds.yaml", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: str, force: bool) -> None:
    """Write a starter feeds.yaml (Russia–Ukraine war coverage) to PATH."""
    from .demo import starter_text

    if os.path.exists(path) and not force:
        raise click.ClickException(f"{path} exists; use --force to overwrite it")
    Path(path).write_text(starter_text(), encoding="utf-8")
    click.echo(f"Wrote {path}. Edit it, then run: aggregator -c {path} fetch")


@cli.command()
@click.argument("names", nargs=-1)
@click.option("--due", is_flag=True, help="Only feeds whose next poll time has come (for cron).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary.")
@click.pass_context
def fetch(ctx: click.Context, names: tuple[str, ...], due: bool, quiet: bool) -> None:
    """Fetch all enabled feeds, or those named by URL, title or outlet."""
    if due and names:
        raise click.UsageError("--due picks feeds by schedule; do not name feeds with it")
    config = _config(ctx)
    with Store(config.database_path) as store:
        summary = _run_update(config, store, names, due=due, quiet=quiet)
        next_poll = store.next_poll_time()
    if due and not summary.outcomes:
        if not quiet:
            when = f"{next_poll:%Y-%m-%d %H:%M:%S} UTC" if next_poll else "never (none enabled)"
            click.echo(f"No feed is due; the next one is at {when}.")
        return
    if not quiet:
        _print_summary(summary, config.database_path)
    if summary.failed:
        ctx.exit(EXIT_FEEDS_FAILED)


def _run_update(
    config: Config, store: Store, names: Sequence[str], *, quiet: bool, due: bool = False
) -> UpdateSummary:
    """Run one update with a rich progress bar when stderr is a terminal."""
    if quiet or not sys.stderr.isatty():
        return update(config, store, names=names, due=due)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    total = sum(1 for f in config.feeds if f.enabled) if not names and not due else None
    with Progress(
        TextColumn("fetching"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"),
        transient=True,
    ) as progress:
        task = progress.add_task("fetch", total=total, last="")

        def advance(outcome: FeedOutcome) -> None:
            progress.update(task, advance=1, last=f"{outcome.outcome}: {outcome.url}"[:60])

        return update(config, store, names=names, due=due, on_outcome=advance)


def _print_summary(summary: UpdateSummary, database: str) -> None:
    click.echo(
        f"{len(summary.outcomes)} feeds: {summary.count('ok')} ok, "
        f"{summary.count('not_modified')} not modified, {summary.count('unchanged')} unchanged, "
        f"{len(summary.failed)} failed; {summary.new} new articles, {summary.updated} updated, "
        f"{summary.new_stories} new stories → {database}"
    )
    for outcome in summary.outcomes:
        if outcome.moved_to:
            click.echo(f"  MOVED {outcome.url} → {outcome.moved_to} (permanent redirect, stored)")
    for outcome in summary.failed:
        plan = outcome.plan
        then = ""
        if plan is not None and plan.disabled_reason:
            then = f"; disabled: {plan.disabled_reason}"
        elif plan is not None and plan.next_poll is not None:
            then = f"; next attempt {plan.next_poll:%Y-%m-%d %H:%M} UTC ({plan.reason})"
        click.echo(f"  FAILED {outcome.url}: {outcome.error}{then}", err=True)


@cli.command()
@click.argument("database", required=False, type=click.Path(dir_okay=False))
@click.option("--host", default=None, help="Interface to bind [default: settings.host]")
@click.option("-p", "--port", type=int, default=None, help="Port [default: settings.port]")
@click.pass_context
def serve(ctx: click.Context, database: str | None, host: str | None, port: int | None) -> None:
    """Browse the database in Datasette (defaults from feeds.yaml)."""
    from .web import serve as serve_datasette

    if database is None or os.path.exists(ctx.find_root().obj):
        config = _config(ctx)
        database = database or config.database_path
        settings = config.settings
    else:
        settings = Settings()  # a database named without a feeds.yaml: built-in defaults
    host = host or settings.host
    port = port or settings.port
    if not os.path.exists(database):
        raise click.ClickException(f"{database} does not exist; run `aggregator fetch` first")
    Store(database).close()  # bring an older database's schema up to date first
    click.echo(f"Datasette on http://{host}:{port}/ (Ctrl-C to stop)")
    serve_datasette(database, host=host, port=port)


@cli.command()
@click.pass_context
def retag(ctx: click.Context) -> None:
    """Recompute every article's topics from the rules in feeds.yaml, without refetching."""
    from .topics import Tagger

    config = _config(ctx)
    tagger = Tagger(config.topics, config.topic_scope)
    with Store(config.database_path) as store:
        store.sync_config(config)
        count = store.retag(tagger.tag)
    click.echo(f"Retagged {count} articles.")


@cli.command()
@click.pass_context
def recluster(ctx: click.Context) -> None:
    """Rebuild every story from the stored articles (after a clustering change)."""
    from .update import cluster_settings
    from .update import recluster as rebuild

    config = _config(ctx)
    with Store(config.database_path) as store:
        articles, stories = rebuild(store, cluster_settings(config))
    click.echo(f"Grouped {articles} articles into {stories} stories.")


@cli.command()
@click.pass_context
def feeds(ctx: click.Context) -> None:
    """List feeds with their health (last outcome, errors in a row, entries)."""
    from rich.console import Console
    from rich.table import Table

    from .schedule import format_span

    config = _config(ctx)
    with Store(config.database_path) as store:
        store.sync_config(config)
        rows = store.feeds_overview()
    table = Table(box=None, pad_edge=False)
    for heading in (
        "outlet",
        "feed",
        "state",
        "status",
        "last success",
        "errors",
        "entries",
        "interval",
        "next poll (UTC)",
        "last error",
    ):
        table.add_column(heading)
    for r in rows:
        state = str(r["last_outcome"] or "never fetched")
        if r["error_count"]:
            state = f"failing ({r['error_kind'] or 'error'})"
        if r["disabled_reason"]:
            state = "disabled by server"
        if not r["enabled"]:
            state = "disabled in feeds.yaml"
        if not r["in_config"]:
            state = "removed from feeds.yaml"
        interval = r["interval"] or r["poll_interval"]
        table.add_row(
            str(r["outlet"] or ""),
            str(r["title"] or r["url"]),
            state,
            str(r["last_status"] or ""),
            str(r["last_success"] or ""),
            str(r["error_count"]),
            str(r["entries"]),
            format_span(int(interval)) + (" pinned" if r["interval"] else "") if interval else "",
            str(r["next_poll"] or ("due" if r["enabled"] and r["in_config"] else "")),
            str(r["disabled_reason"] or r["last_error"] or ""),
        )
    Console(width=200).print(table)


@cli.command()
@click.option("--serve", is_flag=True, help="Run Datasette beside the poller.")
@click.option("--host", default=None, help="Datasette interface [default: settings.host]")
@click.option(
    "-p", "--port", type=int, default=None, help="Datasette port [default: settings.port]"
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="One line per poll cycle, as text or as one JSON object.",
)
@click.pass_context
def run(
    ctx: click.Context, serve: bool, host: str | None, port: int | None, log_format: str
) -> None:
    """Poll every feed on its own schedule until stopped (Ctrl-C or SIGTERM)."""
    import asyncio
    import signal
    import subprocess

    from .daemon import Daemon
    from .logs import configure

    verbose = ctx.find_root().params.get("verbose")
    configure(log_format, logging.DEBUG if verbose else logging.INFO)
    daemon = Daemon(ctx.find_root().obj)
    config = daemon.config
    web: subprocess.Popen[bytes] | None = None
    if serve:
        Store(config.database_path).close()  # create the database before Datasette opens it
        host = host or config.settings.host
        port = port or config.settings.port
        # Its own process: parsing a large feed never stalls a page, and a crash of one
        # does not take the other down. It is read-only (see web.py).
        web = subprocess.Popen(
            [sys.executable, "-m", "aggregator", "serve", config.database_path]
            + ["--host", host, "--port", str(port)]
        )
        logging.getLogger("aggregator.run").info("Datasette on http://%s:%d/", host, port)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await daemon.run(stop)

    try:
        asyncio.run(main())
    finally:
        if web is not None:
            web.terminate()
            try:
                web.wait(timeout=10)
            except subprocess.TimeoutExpired:
                web.kill()
    logging.getLogger("aggregator.run").info("stopped cleanly")


@cli.command()
@click.option(
    "--older-than",
    "age",
    required=True,
    help="Remove articles published longer ago than this, e.g. 180d, 26w.",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be removed.")
@click.pass_context
def prune(ctx: click.Context, age: str, dry_run: bool) -> None:
    """Remove old articles (a tombstone keeps each from coming back) and old fetch_log rows."""
    from datetime import timedelta

    from .units import parse_duration
    from .update import utcnow

    try:
        seconds = parse_duration(age)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--older-than") from None
    config = _config(ctx)
    now = utcnow()
    cutoff = now - timedelta(seconds=seconds)
    with Store(config.database_path) as store:
        counts = store.prune(cutoff, now, dry_run=dry_run)
    verb = "Would remove" if dry_run else "Removed"
    click.echo(
        f"{verb} {counts.articles} articles published before {cutoff:%Y-%m-%d %H:%M} UTC"
        f" ({counts.sightings} sightings), {counts.stories} emptied stories and"
        f" {counts.fetch_log} fetch_log rows."
    )


@cli.command()
@click.option(
    "--database",
    default="aggregator-demo.db",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Demo database (rebuilt on every run).",
)
@click.option("--no-serve", is_flag=True, help="Stop after fetching (for scripts and CI).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("-p", "--port", type=int, default=8001, show_default=True)
def demo(database: str, no_serve: bool, host: str, port: int) -> None:
    """Fetch the bundled sample feeds from a loopback server, then open Datasette."""
    from .demo import demo_config, sample_folder
    from .feedserver import serve_folder

    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(database + suffix):
            os.remove(database + suffix)
    with serve_folder(sample_folder()) as server:
        config = demo_config(server.base_url, database)
        click.echo(f"Serving {len(config.feeds)} sample feeds on {server.base_url}")
        with Store(config.database_path) as store:
            first = update(config, store)
            _print_summary(first, database)
            click.echo("Fetching again: validators are sent back, nothing changes.")
            second = update(config, store)
            _print_summary(second, database)
            counts = store.counts()
    click.echo(
        f"{counts['articles']} articles, {counts['sightings']} sightings, "
        f"{counts['article_topics']} topic tags, {counts['stories']} stories in {database}"
    )
    if first.failed:
        raise click.ClickException("some sample feeds failed; see above")
    if no_serve:
        return
    from .web import serve as serve_datasette

    click.echo(f"Datasette on http://{host}:{port}/ (Ctrl-C to stop)")
    serve_datasette(database, host=host, port=port)


# --------------------------------------------------------------------------- feed list (#5)

_allow_private = click.option(
    "--allow-private",
    is_flag=True,
    help="Allow feeds on private, loopback or link-local addresses "
    "(or set allow_private_addresses: true under settings).",
)


@cli.command()
@click.argument("url")
@click.option("--pick", type=click.IntRange(min=1), help="Add the Nth feed found, no prompt.")
@click.option("-y", "--yes", is_flag=True, help="Add the first (best) feed found, no prompt.")
@click.option("--outlet", help="The feed's outlet (declared in feeds.yaml when new).")
@click.option("--topic", "topics", multiple=True, help="A topic for all its entries (repeatable).")
@click.option("--title", help="Title to show instead of the feed's own.")
@click.option("--interval", help="Poll interval, e.g. 30m, 2h (default: settings).")
@_allow_private
@click.pass_context
def add(
    ctx: click.Context,
    url: str,
    pick: int | None,
    yes: bool,
    outlet: str | None,
    topics: tuple[str, ...],
    title: str | None,
    interval: str | None,
    allow_private: bool,
) -> None:
    """Add a feed to feeds.yaml: a feed URL, or a page whose feeds are found."""
    from . import subscribe
    from .config import MIN_INTERVAL
    from .units import parse_duration

    path = ctx.find_root().obj
    seconds = None
    if interval is not None:
        try:
            seconds = parse_duration(interval)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--interval") from None
        if seconds < MIN_INTERVAL:
            raise click.BadParameter("must be at least 1m", param_hint="--interval")
    config = subscribe.current_config(path)
    if (index := subscribe.find_feed(config, url)) is not None:
        raise click.ClickException(f"{url} is already in {path} (feeds[{index}])")
    allow = allow_private or config.settings.allow_private_addresses
    candidates, notes = subscribe.discover(url, config.settings, allow_private=allow)
    for note in notes:
        click.echo(f"  not a working feed: {note}", err=True)
    for i, c in enumerate(candidates, 1):
        click.echo(f"{i:>3}. {c.title or '(no title)'}  [{c.kind}]  {c.url}")
    if pick is not None:
        if pick > len(candidates):
            raise click.BadParameter(f"only {len(candidates)} found", param_hint="--pick")
        chosen = candidates[pick - 1]
    elif yes or candidates[0].source == "given":  # the URL is a feed: nothing to choose
        chosen = candidates[0]
    else:
        number = click.prompt(
            "Add which feed? (0 to add none)",
            type=click.IntRange(0, len(candidates)),
            default=1,
        )
        if number == 0:
            click.echo("Nothing added.")
            return
        chosen = candidates[number - 1]
    feed = FeedConfig(
        chosen.url, title=title, outlet=outlet, topics=tuple(dict.fromkeys(topics)),
        interval=seconds,
    )  # fmt: skip
    if (index := subscribe.find_feed(config, chosen.url)) is not None:
        raise click.ClickException(f"{chosen.url} is already in {path} (feeds[{index}])")
    _, new_outlets, new_topics = subscribe.add_feed(path, feed)
    for name in new_outlets:
        click.echo(f"Declared the new outlet {name!r}.")
    for name in new_topics:
        click.echo(f"Declared the new topic {name!r} (no keywords: given by feeds only).")
    click.echo(f"Added {chosen.url} to {path}.")


@cli.command("import-opml")
@click.argument("file", type=click.File("rb"))
@click.option("--outlet", help="Outlet for every imported feed (declared when new).")
@_allow_private
@click.pass_context
def import_opml(
    ctx: click.Context, file: click.utils.LazyFile, outlet: str | None, allow_private: bool
) -> None:
    """Add the feeds of an OPML file to feeds.yaml; folders become topics."""
    from . import subscribe

    path = ctx.find_root().obj
    plan = subscribe.import_opml(
        path, file.read(), source=file.name, outlet=outlet, allow_private=allow_private
    )
    click.echo(
        f"Imported {len(plan.feeds)} feeds into {path}; {len(plan.duplicates)} already there, "
        f"{len(plan.problems)} not imported; {len(plan.new_topics)} new topics."
    )
    for url in plan.duplicates:
        click.echo(f"  already configured: {url}")
    for problem in plan.problems:
        click.echo(f"  NOT IMPORTED {problem}", err=True)
    if plan.problems:
        ctx.exit(EXIT_FEEDS_FAILED)


@cli.command("export-opml")
@click.option(
    "-o",
    "--output",
    default="-",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="File to write [default: standard output].",
)
@click.pass_context
def export_opml(ctx: click.Context, output: str) -> None:
    """Write the feeds of feeds.yaml as OPML 2.0 (for other feed readers)."""
    from . import subscribe

    config = _config(ctx)
    sites: dict[str, str] = {}
    if os.path.exists(config.database_path):  # htmlUrl: the site each feed links to
        with Store(config.database_path) as store:
            sites = store.site_urls()
    data = subscribe.export_opml(config, site_urls=sites)
    if output == "-":
        click.echo(data, nl=False)  # bytes: written as they are
        return
    Path(output).write_bytes(data)
    click.echo(f"Wrote {len(config.feeds)} feeds to {output}.")


def main() -> None:  # pragma: no cover - `python -m aggregator`
    cli()
