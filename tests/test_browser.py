"""`aggregator serve` as a real process, driven through headless Chromium like a person would.

Needs Debian's `chromium` (/usr/bin/chromium; `.ci/run` installs it) and Playwright for Python,
which drives that browser (no browser download). Screenshots go to $AGGREGATOR_SCREENSHOTS
(e.g. `AGGREGATOR_SCREENSHOTS=docs pytest -m browser` refreshes the README's pictures), else to a
temporary folder.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import feedparser
import pytest

from aggregator.web import DASHBOARD, database_name, metadata_for

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium) "
        "to run the browser tests; .ci/run does",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed (dev dependency)"
)

#: Flags for a closed network and a root user (see the python machine notes).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-quic",
    "--disable-component-update",
    "--disable-sync",
]

#: How long one page may take to render its charts before the test gives up (not measured).
RENDER_WAIT_MS = 30_000

#: What a rendered Vega chart drew: its data marks (bars, heat-map cells, line points) and how
#: many of them have a visible area. A blank or failed chart has none.
CHART_MARKS = """(el) => {
  const selector = 'svg .mark-rect.role-mark path, svg .mark-symbol.role-mark path';
  const marks = [...el.querySelectorAll(selector)];
  const visible = marks.filter((m) => {
    const box = m.getBBox();
    return box.width > 0 && box.height > 0;
  });
  return {marks: marks.length, visible: visible.length};
}"""


def stored(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`aggregator serve DB` in its own process on a loopback port; its base URL."""
    port = free_port()
    cwd = tmp_path_factory.mktemp("serve")  # no feeds.yaml here: the named database is enough
    log = (cwd / "serve.log").open("w")
    command = [str(Path(sys.executable).parent / "aggregator"), "serve", str(demo_db)]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/-/versions.json", timeout=2):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                log.close()
                pytest.fail(f"aggregator serve did not start: {(cwd / 'serve.log').read_text()}")
            time.sleep(0.2)
    yield base
    process.terminate()
    process.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(RENDER_WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("AGGREGATOR_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return Path(folder)
    return tmp_path_factory.mktemp("screenshots")


def chart_rows(server: str, demo_db: Path, chart: dict) -> list[dict]:
    """The rows the dashboard's JavaScript fetches for a chart (no filters)."""
    query = urlencode({"sql": chart["query"], "_shape": "array"})
    with urllib.request.urlopen(f"{server}/{database_name(demo_db)}.json?{query}") as response:
        return json.load(response)


def charts(demo_db: Path) -> dict[str, dict]:
    return metadata_for(demo_db)["plugins"]["datasette-dashboards"][DASHBOARD]["charts"]


def test_dashboard_opens_and_every_chart_renders(
    page, server: str, demo_db: Path, screenshots: Path
) -> None:
    page.goto(server + "/")
    assert page.url == f"{server}/-/dashboards/{DASHBOARD}"
    assert page.locator("h1").inner_text() == "Coverage"
    for slug, chart in charts(demo_db).items():
        card = page.locator(f"#chart-{slug}")
        library = chart["library"]
        if library == "vega-lite":
            # One mark per row of the chart's query, once Vega has drawn them.
            rows = len(chart_rows(server, demo_db, chart))
            page.wait_for_function(
                f"([el, rows]) => ({CHART_MARKS})(el).marks === rows",
                arg=[card.element_handle(), rows],
                polling=200,
            )
            drawn = card.evaluate(CHART_MARKS)
            assert drawn["visible"] >= 1, (slug, drawn)
            assert card.locator("svg .role-axis-title").count() >= 2, f"{slug} has no axis titles"
        elif library == "table":
            rows = card.locator("table tbody tr")
            rows.first.wait_for()
            assert rows.count() > 0, slug
        elif library == "metric":
            card.locator("p").first.wait_for()
            assert card.inner_text().strip(), slug
        else:
            assert card.locator("a").count() > 3, slug
        # datasette-dashboards shows a warning sign when a chart's rows were cut off.
        assert not page.locator(f"#chart-tooltip-{slug}").is_visible(), f"{slug} truncated"
    articles = stored(demo_db, "select count(*) from articles")[0][0]
    shown = int(page.locator("#chart-articles").inner_text().split()[0])
    assert 0 < shown <= articles  # the default period: the last ten days
    page.screenshot(path=str(screenshots / "dashboard.png"), full_page=True)


def test_dashboard_filters_narrow_every_card(page, server: str, demo_db: Path) -> None:
    page.goto(f"{server}/-/dashboards/{DASHBOARD}")
    page.select_option("select#topic", "mediation")
    page.fill("input#date_from", "2026-11-18")
    page.fill("input#date_to", "2026-11-22")
    page.click("input[type=submit][value=Apply]")
    page.wait_for_url("**topic=mediation**")
    page.locator("#chart-topics table tbody tr").first.wait_for()
    topics = page.locator("#chart-topics table tbody tr")
    assert topics.count() == 1 and topics.first.inner_text().startswith("mediation")
    expected = stored(
        demo_db,
        "select count(*) from articles a join article_topics t on t.article_id = a.id "
        "where t.topic = 'mediation' and a.published >= '2026-11-18' "
        "and a.published < '2026-11-23'",
    )[0][0]
    page.locator("#chart-articles p").wait_for()
    assert page.locator("#chart-articles").inner_text().strip() == f"{expected} articles"
    assert page.locator("#chart-period").inner_text().strip() == "2026-11-18 – 2026-11-22"


def test_search_finds_a_story_and_clicking_it_shows_every_article(
    page, server: str, demo_db: Path, screenshots: Path
) -> None:
    headline = "EU adopts 22nd sanctions package targeting Russia's shadow fleet"
    (story_id, articles, outlets) = stored(
        demo_db, "select id, articles, outlets from stories where title = ?", (headline,)
    )[0]
    page.goto(f"{server}/-/dashboards/{DASHBOARD}")
    page.click("#chart-browse a:text('Full-text search')")
    page.fill("input[name=q]", "shadow fleet")
    page.click("input[type=submit][value='Run SQL']")
    row = page.locator("table.rows-and-columns tbody tr", has_text=headline).first
    row.wait_for()
    row.locator("td.col-story_id a").click()
    page.wait_for_url(f"**/story?story_id={story_id}")
    assert page.locator("h2.story-title").inner_text() == headline
    members = page.locator("table.rows-and-columns tbody tr")
    assert members.count() == articles
    shown_outlets = set(members.locator("td.col-outlet").all_inner_texts())
    assert len(shown_outlets) == outlets
    assert f"{articles} articles from {outlets} outlets" in " ".join(
        page.locator(".story-header").inner_text().split()
    )
    page.screenshot(path=str(screenshots / "story.png"), full_page=True)


def test_stories_table_and_dashboard_link_to_the_story_page(
    page, server: str, demo_db: Path
) -> None:
    db = database_name(demo_db)
    page.goto(f"{server}/{db}/stories")
    link = page.locator("table.rows-and-columns td.col-title a").first
    title = link.inner_text()
    link.click()
    page.wait_for_url("**/story?story_id=*")
    assert page.locator("h2.story-title").inner_text() == title

    page.goto(f"{server}/-/dashboards/{DASHBOARD}")
    link = page.locator("#chart-stories a.story-link").first
    title = link.inner_text()
    link.click()
    page.wait_for_url("**/story?story_id=*")
    assert page.locator("h2.story-title").inner_text() == title
    assert page.locator("table.rows-and-columns tbody tr").count() >= 2


def test_a_topics_atom_link_returns_valid_atom(page, server: str, demo_db: Path) -> None:
    page.goto(f"{server}/-/dashboards/{DASHBOARD}")
    link = page.locator("#chart-topics tr", has_text="sanctions").locator("a.atom-feed")
    href = link.get_attribute("href")
    response = page.request.get(server + href)
    assert response.ok and response.headers["content-type"].startswith("application/xml")
    feed = feedparser.parse(response.body())
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.feed.title == "aggregator: sanctions" and feed.entries
    tagged = {
        url
        for (url,) in stored(
            demo_db,
            "select a.url from article_topics t join articles a on a.id = t.article_id "
            "where t.topic = 'sanctions'",
        )
    }
    assert {e.link for e in feed.entries} <= tagged
