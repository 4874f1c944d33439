"""Hostile feeds and broken servers, through the real pipeline, one feed per case.

One `update()` run fetches every case below from tests/hostile_server.py (plus the ill-formed
and encoding corpus files, plus two good feeds) into one SQLite file; each test then reads
that feed's fetch_log and feeds rows. Every case must end as a recorded, readable error for
its own feed, or a clean parse where that is right, while the good feeds of the same run land.
"""

from __future__ import annotations

import asyncio
import gzip
import html.parser
import random
import re
import socket
import sqlite3
import subprocess
import sys
import textwrap
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from aggregator.store import Store
from aggregator.update import update
from aggregator.web import database_name, make_datasette
from conftest import CORPUS, make_config, rss
from hostile_server import (
    Handler,
    HostileServer,
    drip,
    lying_length,
    never_answers,
    redirect,
    respond,
    stream,
)

#: Small limits keep the run short: the slowest case (the drip) ends at TOTAL_TIMEOUT.
MAX_BODY = 1024 * 1024
READ_TIMEOUT = 2.0
TOTAL_TIMEOUT = 3.5
SETTINGS = dict(
    connect_timeout=1,
    read_timeout=READ_TIMEOUT,
    total_timeout=TOTAL_TIMEOUT,
    max_body_bytes=MAX_BODY,
    concurrency=64,
    per_host=64,
)
XSS = "XSS-MARKER"


def feed(title: str, n: int = 2, **item: str) -> bytes:
    slug = title.lower().replace(" ", "-")
    items = [
        {"title": f"{title} {i}", "link": f"https://news.example/{slug}/{i}", **item}
        for i in range(n)
    ]
    return rss(items, title=title).encode()


GOOD = feed("Good one", 3)
RSS = "application/rss+xml"


def xml_feed(title: str, body_items: str, doctype: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>{doctype}<rss version="2.0"><channel>'
        f"<title>{title}</title><link>https://news.example/</link>{body_items}"
        "</channel></rss>"
    ).encode()


def item(title: str, link: str, description: str = "") -> str:
    return (
        f"<item><title>{title}</title><link>{link}</link>"
        f"<description>{description}</description></item>"
    )


def billion_laughs() -> bytes:
    decls = '<!ENTITY a "lollollollol">' + "".join(
        f'<!ENTITY {n} "{("&" + p + ";") * 10}">'
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    )
    return xml_feed(
        "Laughs",
        item("&i;", "https://news.example/laughs/1", "&i;&i;"),
        f"<!DOCTYPE rss [{decls}]>",
    )


def quadratic_blowup() -> bytes:
    # One 20 kB entity referenced 5000 times: 100 MB if expanded, 35 kB on the wire.
    doctype = f'<!DOCTYPE rss [<!ENTITY big "{"B" * 20_000}">]>'
    return xml_feed(
        "Quadratic", item("q", "https://news.example/quadratic/1", "&big;" * 5000), doctype
    )


def xxe_file() -> bytes:
    doctype = '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    return xml_feed("XXE", item("leak &xxe; here", "https://news.example/xxe/1", "&xxe;"), doctype)


def xxe_dtd(dtd_url: str) -> bytes:
    doctype = f'<!DOCTYPE rss SYSTEM "{dtd_url}">'
    return xml_feed("DTD", item("t &ext; t", "https://news.example/dtd/1", "&ext;"), doctype)


def xxe_parameter(dtd_url: str) -> bytes:
    doctype = f'<!DOCTYPE rss [<!ENTITY % remote SYSTEM "{dtd_url}"> %remote;]>'
    return xml_feed("Param", item("p &ext; p", "https://news.example/param/1", "&ext;"), doctype)


EVIL_DTD = b'<!ENTITY ext "DTD-WAS-FETCHED">'

XSS_ITEMS = "".join(
    item(title, f"https://news.example/xss/{i}", description)
    for i, (title, description) in enumerate(
        [
            (f"&lt;script&gt;alert('{XSS}1')&lt;/script&gt;Script title",
             f"&lt;p&gt;Hi&lt;script&gt;alert('{XSS}2')&lt;/script&gt;there&lt;/p&gt;"),
            ("Image", f"&lt;img src=x onerror=\"alert('{XSS}3')\"&gt;caption"),
            ("Link", f"&lt;a href=\"javascript:alert('{XSS}4')\"&gt;click&lt;/a&gt;"),
            ("Css", f"&lt;div style=\"width: expression(alert('{XSS}5'))\"&gt;css&lt;/div&gt;"
                    f"&lt;style&gt;body {{ background: url(javascript:alert('{XSS}6')) }}"
                    "&lt;/style&gt;after"),
            ("Svg", f"&lt;svg onload=alert('{XSS}7')&gt;&lt;/svg&gt;&lt;iframe src="
                    f"\"javascript:alert('{XSS}8')\"&gt;&lt;/iframe&gt;"
                    f"&lt;a href=\"JaVaScRiPt&amp;#58;alert('{XSS}9')\"&gt;x&lt;/a&gt;"),
        ]
    )
)  # fmt: skip
XSS_FEED = xml_feed("Scripts", XSS_ITEMS + item("Bad link", f"javascript:alert('{XSS}10')"))


@dataclass(frozen=True)
class Case:
    """One hostile feed and what must become of it."""

    name: str
    handler: Handler | None
    outcome: str
    error_class: str | None = None
    #: Substring of fetch_log.error_message (readable: it says what went wrong).
    message: str | None = None
    status: int | None = None
    #: Titles of the articles that must land from this feed (a clean parse).
    titles: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)


def _bomb() -> bytes:
    # 200 MB of zeros in about 200 kB: the size limit must stop the inflating, not the RAM.
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    return b"".join([*(z.compress(block) for _ in range(200)), z.flush()])


def _status(code: int, reason: str, retry_after: str | None = None) -> Case:
    headers = {"Retry_After": retry_after} if retry_after else {}
    name = f"status-{code}" + ("-retry-after" if retry_after else "")
    return Case(
        name,
        respond(b"<html>oops</html>", code, "text/html", **headers),
        "error",
        "HTTPStatus",
        f"HTTP {code} {reason}",
        code,
    )


CASES = [
    Case("refused", None, "error", "ConnectError", "127.0.0.1"),
    Case("read-timeout", never_answers(), "error", "ReadTimeout", "127.0.0.1"),
    Case("drip", drip(), "error", "TotalTimeout", f"within {TOTAL_TIMEOUT:g} s"),
    _status(500, "Internal Server Error"),
    _status(500, "Internal Server Error", "120"),
    _status(502, "Bad Gateway"),
    _status(503, "Service Unavailable"),
    _status(503, "Service Unavailable", "Wed, 21 Oct 2037 07:28:00 GMT"),
    _status(404, "Not Found"),
    _status(410, "Gone"),
    _status(429, "Too Many Requests", "3600"),
    Case("redirect-chain", redirect("/chain/2", 301), "ok", status=200, titles=("Chained 0",)),
    Case("redirect-loop", redirect("/loop/2", 302), "error", "TooManyRedirects", "more than 10",
         302),
    Case("redirect-file", redirect("file:///etc/passwd", 301), "error", "UnsupportedRedirect",
         "file:///etc/passwd", 301),
    Case("redirect-ftp", redirect("ftp://127.0.0.1/feed.xml", 308), "error",
         "UnsupportedRedirect", "ftp://", 308),
    Case("redirect-javascript", redirect("javascript:alert(1)", 302), "error",
         "UnsupportedRedirect", "refused redirect to 'javascript:alert(1)'", 302),
    Case("too-big-declared", stream(100_000_000, declare=True), "error", "BodyTooLarge",
         "Content-Length 100000000", 200),
    Case("too-big-streamed", stream(100_000_000, declare=False), "error", "BodyTooLarge",
         f"over {MAX_BODY} bytes", 200),
    Case("lying-content-length", lying_length(GOOD[:300], 5000), "error",
         "RemoteProtocolError", "incomplete body: Not enough data", 200),
    Case("gzip-bomb", respond(_bomb(), 200, RSS, Content_Encoding="gzip"), "error",
         "BodyTooLarge", f"over {MAX_BODY} bytes", 200),
    Case("gzip-truncated", respond(gzip.compress(feed("Cut", 40))[:-200], 200, RSS,
         Content_Encoding="gzip"), "error", "DecodingError", "end-of-stream", 200),
    Case("content-type-image", respond(feed("Image typed"), 200, "image/png"), "ok",
         status=200, titles=("Image typed 0", "Image typed 1")),
    Case("content-type-missing", respond(feed("Untyped")), "ok", status=200,
         titles=("Untyped 0", "Untyped 1")),
    Case("content-type-html", respond(feed("Html typed"), 200, "text/html; charset=utf-8"), "ok",
         status=200, titles=("Html typed 0", "Html typed 1")),
    Case("html-page", respond(b"<!doctype html><html><head><title>Home</title></head><body>"
         b"<p>Welcome</p></body></html>", 200, "text/html"), "parse_error", "ParseError",
         "HTML page", 200),
    Case("empty-body", respond(b"", 200, RSS), "parse_error", "ParseError", "empty", 200),
    Case("binary-garbage", respond(random.Random(6).randbytes(5000), 200, RSS), "parse_error",
         "ParseError", "not a feed", 200),
    Case("charset-lies", respond(feed("Café Zürich").decode().encode("cp1252"), 200,
         "application/rss+xml; charset=utf-8"), "ok", status=200,
         titles=("Café Zürich 0", "Café Zürich 1")),
    Case("utf16-no-bom", respond(feed("Київ сьогодні").decode().replace(
         'encoding="utf-8"', 'encoding="utf-16"').encode("utf-16-le"), 200, "application/xml"),
         "ok", status=200, titles=("Київ сьогодні 0", "Київ сьогодні 1")),
    Case("billion-laughs", respond(billion_laughs(), 200, RSS), "ok", status=200),
    Case("quadratic-blowup", respond(quadratic_blowup(), 200, RSS), "ok", status=200),
    Case("xxe-file", respond(xxe_file(), 200, RSS), "ok", status=200),
    Case("xxe-dtd", None, "ok", status=200),
    Case("xxe-parameter-entity", None, "ok", status=200),
    Case("scripts", respond(XSS_FEED, 200, RSS), "ok", status=200),
]  # fmt: skip
CASE = {c.name: c for c in CASES}
CORPUS_FILES = sorted([*(CORPUS / "illformed").iterdir(), *(CORPUS / "encoding").iterdir()])


class Run:
    """The one update() over every case, and what it left in the database."""

    def __init__(self, db: Path, server: HostileServer, urls: dict[str, str], summary) -> None:
        self.db, self.server, self.urls, self.summary = db, server, urls, summary
        self.conn = sqlite3.connect(db)
        self.conn.row_factory = sqlite3.Row

    def log(self, name: str) -> sqlite3.Row:
        [row] = self.conn.execute(
            "SELECT * FROM fetch_log WHERE url = ?", [self.urls[name]]
        ).fetchall()
        return row

    def feed(self, name: str) -> sqlite3.Row:
        return self.conn.execute("SELECT * FROM feeds WHERE url = ?", [self.urls[name]]).fetchone()

    def articles(self, name: str) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT a.* FROM articles a JOIN sightings s ON s.article_id = a.id"
            " JOIN feeds f ON f.id = s.feed_id WHERE f.url = ? ORDER BY a.title",
            [self.urls[name]],
        ).fetchall()

    def everything(self) -> str:
        """Every value in the database, as text (the dump SQLite itself would write)."""
        return "\n".join(self.conn.iterdump())


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("hostile")
    with HostileServer() as server:
        urls: dict[str, str] = {}
        for case in CASES:
            if case.handler is not None:
                urls[case.name] = server.route(f"/case/{case.name}", case.handler)
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            urls["refused"] = f"http://127.0.0.1:{s.getsockname()[1]}/feed.xml"
        server.route("/chain/2", redirect("/chain/3", 302))
        server.route("/chain/3", redirect(server.url("/chain/4"), 307))
        server.route("/chain/4", redirect("/chain/5", 308))
        server.route("/chain/5", respond(feed("Chained"), 200, RSS))
        server.route("/loop/2", redirect("/case/redirect-loop", 302))
        dtd = server.url("/evil.dtd")
        server.route("/evil.dtd", respond(EVIL_DTD, 200, "application/xml-dtd"))
        urls["xxe-dtd"] = server.route("/case/xxe-dtd", respond(xxe_dtd(dtd), 200, RSS))
        urls["xxe-parameter-entity"] = server.route(
            "/case/xxe-parameter-entity", respond(xxe_parameter(dtd), 200, RSS)
        )
        urls["good-1"] = server.route("/good/1", respond(GOOD, 200, RSS))
        urls["good-2"] = server.route("/good/2", respond(feed("Good two"), 200, RSS))
        for path in CORPUS_FILES:
            urls[path.name] = server.route(f"/corpus/{path.name}", respond(path.read_bytes()))
        config = make_config(tmp, list(urls.values()), **SETTINGS)
        with Store(config.database_path) as store:
            summary = update(config, store)
        yield Run(Path(config.database_path), server, urls, summary)


# --------------------------------------------------------------------------- feed by feed


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_is_recorded_for_its_feed(run: Run, case: Case) -> None:
    log, feed_row = run.log(case.name), run.feed(case.name)
    assert log["outcome"] == case.outcome, dict(log)
    assert log["error_class"] == case.error_class, dict(log)
    assert log["status"] == case.status, dict(log)
    assert feed_row["last_outcome"] == case.outcome
    if case.outcome == "ok":
        assert log["error_message"] is None and feed_row["error_count"] == 0
        assert feed_row["last_success"] is not None
    else:
        # A readable one-line error, in the log and on the feed, naming what went wrong.
        assert case.message in log["error_message"], dict(log)
        assert "\n" not in log["error_message"] and "Traceback" not in log["error_message"]
        assert feed_row["last_error"] == f"{case.error_class}: {log['error_message']}"
        assert feed_row["error_count"] == 1 and feed_row["last_success"] is None
        assert not run.articles(case.name)
    titles = tuple(a["title"] for a in run.articles(case.name))
    assert set(case.titles) <= set(titles), titles


def test_good_feeds_of_the_same_run_land(run: Run) -> None:
    for name, count in (("good-1", 3), ("good-2", 2)):
        assert run.log(name)["outcome"] == "ok"
        assert len(run.articles(name)) == count
    # One fetch_log row per configured feed: no case was lost or logged twice.
    assert run.conn.execute("SELECT count(*) FROM fetch_log").fetchone()[0] == len(run.urls)
    assert len(run.summary.outcomes) == len(run.urls)


def test_redirect_chain_records_the_final_url(run: Run) -> None:
    log = run.log("redirect-chain")
    assert log["final_url"] == run.server.url("/chain/5")
    # The loop was cut after a bounded number of hops, not followed forever.
    assert run.server.requests.count("/loop/2") <= 6


@pytest.mark.parametrize("name", ["too-big-declared", "too-big-streamed"])
def test_oversized_body_is_not_read_to_the_end(run: Run, name: str) -> None:
    assert run.server.sent[f"/case/{name}"] < 30_000_000  # of 100 MB: we hung up early


def test_drip_and_timeouts_end_within_their_limits(run: Run) -> None:
    # Generous sanity bounds (a loaded machine is slow), far below a hung fetch.
    assert run.log("drip")["duration_ms"] < (TOTAL_TIMEOUT + 10) * 1000
    assert run.log("read-timeout")["duration_ms"] < (READ_TIMEOUT + 10) * 1000


# --------------------------------------------------------------------------- XML attacks


def test_no_entity_is_expanded(run: Run) -> None:
    laughs = run.articles("billion-laughs")
    assert len(laughs) == 1
    assert "lollollol" not in run.everything()
    quadratic = run.articles("quadratic-blowup")
    assert len(quadratic) == 1
    assert "B" * 1000 not in (quadratic[0]["summary_text"] or "")
    assert "BBBBBBBBBB" not in run.everything()


def test_external_entities_are_neither_fetched_nor_read(run: Run) -> None:
    assert not any(p.startswith("/evil.dtd") for p in run.server.requests)
    dump = run.everything()
    assert "DTD-WAS-FETCHED" not in dump
    passwd = [line for line in Path("/etc/passwd").read_text().splitlines() if line]
    assert passwd and not any(line in dump for line in passwd)
    assert "root:x:0:0" not in dump
    # The entries themselves still land, with the reference left as literal text.
    for name in ("xxe-file", "xxe-dtd", "xxe-parameter-entity"):
        assert len(run.articles(name)) == 1, name


# --------------------------------------------------------------------------- scripts


def test_scripts_are_stored_sanitised(run: Run) -> None:
    rows = run.articles("scripts")
    assert len(rows) == 6
    for row in rows:
        html_value = row["summary_html"] or ""
        assert executable_parts(html_value) == [], html_value
        assert "expression(" not in html_value and "<style" not in html_value, html_value
        assert "<" not in row["title"] and XSS not in row["title"], row["title"]
        for column in ("url", "canonical_url"):
            assert row[column] is None or row[column].startswith("https://"), row[column]
    texts = {r["title"]: r for r in rows}
    # Sanitising keeps the harmless rest of each entry.
    assert texts["Image"]["summary_html"] == f'<img src="{run.server.url("/case/x")}">caption'
    assert texts["Script title"]["summary_text"] == "Hithere"
    assert "click" in texts["Link"]["summary_html"] and "after" in texts["Css"]["summary_html"]
    # An item whose only link is javascript: is kept, without a link.
    assert texts["Bad link"]["url"] is None and texts["Bad link"]["canonical_url"] is None


class _Executable(html.parser.HTMLParser):
    """Collects what a browser would run: script bodies, on* handlers, javascript: URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_script = tag in ("script", "style")
        for name, value in attrs:
            value = (value or "").strip().lower()
            if name.startswith("on") or value.startswith(("javascript:", "vbscript:", "data:")):
                self.found.append(f"<{tag} {name}={value!r}>")
            if name == "style" and "expression" in value:
                self.found.append(f"<{tag} style={value!r}>")
        if tag in ("iframe", "object", "embed", "svg"):
            self.found.append(f"<{tag}>")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.found.append(data)


def executable_parts(page: str) -> list[str]:
    parser = _Executable()
    parser.feed(page)
    return parser.found


def test_nothing_executable_reaches_datasette_pages(run: Run) -> None:
    ds = make_datasette(run.db)
    name = database_name(run.db)
    ids = [r["id"] for r in run.articles("scripts")]

    async def pages() -> list[str]:
        paths = [f"/{name}/articles/{i}" for i in ids]
        paths += [f"/{name}/articles?_search=script", f"/{name}/articles?_search=Image"]
        paths += [f"/{name}/articles?title__contains=Link", f"/{name}/articles"]
        texts = []
        for path in paths:
            response = await ds.client.get(path)
            assert response.status_code == 200, path
            texts.append(response.text)
        return texts

    texts = asyncio.run(pages())
    assert any("caption" in t for t in texts)  # the entries are on the pages...
    for text in texts:
        # ...and Datasette's own scripts are there, but nothing of the feed's.
        assert XSS not in " ".join(executable_parts(text))
        assert XSS not in text.replace(f"&#39;{XSS}", "")  # marker only as escaped text


# --------------------------------------------------------------------------- corpus


@pytest.mark.parametrize("path", CORPUS_FILES, ids=[p.name for p in CORPUS_FILES])
def test_corpus_file_is_stored_or_a_readable_parse_error(run: Run, path: Path) -> None:
    log = run.log(path.name)
    if log["outcome"] == "ok":
        rows = run.articles(path.name)
        for row in rows:
            assert "\ufffd" not in (row["title"] or ""), row["title"]
    else:
        assert log["outcome"] == "parse_error" and log["error_class"] == "ParseError", dict(log)
        assert log["error_message"] and "Traceback" not in log["error_message"]


# --------------------------------------------------------------------------- memory


MEMORY_SCRIPT = textwrap.dedent(
    """
    import resource, sys
    from aggregator.models import Config, FeedConfig, Settings
    from aggregator.store import Store
    from aggregator.update import update
    db, urls = sys.argv[1], sys.argv[2:]
    config = Config(path=db + ".yaml", settings=Settings(database=db, max_body_bytes={max_body},
                    total_timeout=20, per_host=8), feeds=tuple(FeedConfig(url=u) for u in urls))
    with Store(db) as store:
        summary = update(config, store)
    print(",".join(o.outcome for o in summary.outcomes))
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
    """
)


def _peak_rss_mb(tmp_path: Path, name: str, urls: list[str]) -> tuple[list[str], int]:
    script = MEMORY_SCRIPT.format(max_body=1024 * 1024)
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / f"{name}.db"), *urls],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.split()
    return out[0].split(","), int(out[1])


def test_memory_stays_bounded_under_bombs(tmp_path: Path) -> None:
    """Peak RSS of a whole run over bombs stays near that of a run over one plain feed."""
    with HostileServer() as server:
        plain = server.route("/plain", respond(GOOD, 200, RSS))
        bombs = [
            server.route("/gzip-bomb", respond(_bomb(), 200, RSS, Content_Encoding="gzip")),
            server.route("/big", stream(200_000_000, declare=False)),
            server.route("/laughs", respond(billion_laughs(), 200, RSS)),
            server.route("/quadratic", respond(quadratic_blowup(), 200, RSS)),
        ]
        outcomes, baseline = _peak_rss_mb(tmp_path, "plain", [plain])
        assert outcomes == ["ok"]
        outcomes, hostile = _peak_rss_mb(tmp_path, "bombs", [plain, *bombs])
    assert sorted(outcomes) == ["error", "error", "ok", "ok", "ok"]
    # 200 MB would be inflated by the bomb, 200 MB read from /big, 100 MB expanded from the
    # quadratic entity: a few tens of MB over the baseline means none of them happened.
    print("peak RSS MB: plain", baseline, "hostile", hostile)
    assert hostile - baseline < 60, (baseline, hostile)


# --------------------------------------------------------------------------- the docs


def test_reliability_doc_names_real_tests_and_every_case() -> None:
    """docs/reliability.md's "tested by" column names tests that exist, and every case here."""
    root = Path(__file__).parent.parent
    doc = (root / "docs" / "reliability.md").read_text(encoding="utf-8")
    defined = {
        m.group(1)
        for path in (root / "tests").glob("test_*.py")
        for m in re.finditer(r"^def (test_\w+)", path.read_text(encoding="utf-8"), re.M)
    }
    named = set(re.findall(r"\b(test_\w+)(?:\[|`)", doc)) - {"test_crash", "test_concurrency"}
    assert named and named <= defined, named - defined
    cases = set(re.findall(r"`H\[([\w-]+)\]`", doc))
    assert cases == set(CASE), cases ^ set(CASE)
