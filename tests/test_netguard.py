"""SSRF refusal (#6): private, loopback, link-local ... addresses, literal or resolved, in fetch."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from click.testing import CliRunner

from aggregator.cli import cli
from aggregator.config import load_config
from aggregator.errors import BlockedURL
from aggregator.fetch import fetch_sync
from aggregator.models import FeedRequest, Settings
from aggregator.netguard import Guard, blocked_reason, check_url, check_urls
from conftest import rss

BLOCKED = {
    "127.0.0.1": "loopback",
    "127.8.9.10": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "169.254.169.254": "link-local",  # cloud metadata services
    "0.0.0.0": "unspecified",
    "224.0.0.251": "multicast",
    "100.64.0.1": "not a public",  # carrier-grade NAT
    "240.0.0.1": "",  # reserved (Python calls 240/4 private too)
    "::1": "loopback",
    "::": "unspecified",
    "fe80::1": "link-local",
    "fc00::1": "private",
    "fd12:3456::1": "private",
    "ff02::1": "multicast",
    "::ffff:127.0.0.1": "loopback address (127.0.0.1 inside IPv6)",
    "::ffff:169.254.169.254": "link-local",
    "64:ff9b::a9fe:a9fe": "link-local address (169.254.169.254 inside IPv6)",  # NAT64
    "2002:c0a8:101::1": "private address (192.168.1.1 inside IPv6)",  # 6to4
}
PUBLIC = ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", sorted(BLOCKED))
def test_blocked_addresses(address: str) -> None:
    reason = blocked_reason(ipaddress.ip_address(address))
    assert reason is not None and BLOCKED[address] in reason
    host = f"[{address}]" if ":" in address else address
    url = f"http://{host}:8080/feed.xml"
    with pytest.raises(BlockedURL) as caught:
        check_url(url, resolve=_no_lookup)
    assert url in str(caught.value) and "allow_private_addresses" in str(caught.value)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None
    host = f"[{address}]" if ":" in address else address
    check_url(f"https://{host}/rss", resolve=_no_lookup)


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1", "0x7f000001"])
def test_other_spellings_of_loopback(host: str) -> None:
    # The system resolver turns each of these into 127.0.0.1; so must we, without asking it.
    with pytest.raises(BlockedURL, match="loopback"):
        check_url(f"http://{host}/feed", resolve=_no_lookup)


def _no_lookup(host: str) -> list[str]:
    raise AssertionError(f"an IP literal must not be looked up: {host}")


def fake_dns(table: dict[str, list[str]]):
    def resolve(host: str) -> list[str]:
        if host not in table:
            raise OSError(-2, "Name or service not known")
        return table[host]

    return resolve


def test_names_are_resolved_and_any_private_address_refuses() -> None:
    dns = fake_dns({
        "news.example": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
        "split.example": ["93.184.215.14", "10.0.0.7"],
        "inside.example": ["::ffff:192.168.0.10"],
    })  # fmt: skip
    check_url("https://news.example/rss", resolve=dns)
    with pytest.raises(BlockedURL, match=r"split\.example resolves to 10\.0\.0\.7, a private"):
        check_url("https://split.example/rss", resolve=dns)
    with pytest.raises(BlockedURL, match="private"):
        check_url("https://inside.example/rss", resolve=dns)
    with pytest.raises(BlockedURL, match="cannot resolve nowhere.example"):
        check_url("https://nowhere.example/rss", resolve=dns)


def test_localhost_through_the_system_resolver() -> None:
    with pytest.raises(BlockedURL, match="localhost resolves to .*loopback"):
        check_url("http://localhost:8001/feed")


@pytest.mark.parametrize("url", ["ftp://93.184.215.14/feed", "file:///etc/passwd", "http:///x"])
def test_non_http_urls_are_refused(url: str) -> None:
    with pytest.raises(BlockedURL, match="not an http"):
        check_url(url, resolve=_no_lookup)


def test_check_urls_many_at_once() -> None:
    dns = fake_dns({"a.example": ["93.184.215.14"], "b.example": ["127.0.0.1"]})
    verdicts = check_urls(["http://a.example/", "http://b.example/", "http://10.0.0.1/"], dns)
    assert verdicts["http://a.example/"] is None
    assert isinstance(verdicts["http://b.example/"], BlockedURL)
    assert isinstance(verdicts["http://10.0.0.1/"], BlockedURL)


# --------------------------------------------------------------------------- in fetch.py


def test_connected_address_is_checked_after_a_lying_lookup(feed_dir: Path, feed_server) -> None:
    """DNS rebinding: our lookup says public, the connection goes to 127.0.0.1: refused."""
    (feed_dir / "a.xml").write_text(rss([{"title": "secret", "link": "https://e.org/1"}]))
    port = feed_server.server_address[1]
    guard = Guard(resolve=fake_dns({"localhost": ["93.184.215.14"]}))
    [result] = fetch_sync([FeedRequest(f"http://localhost:{port}/a.xml")], Settings(), guard=guard)
    assert result.error_class == "BlockedURL" and result.content is None
    assert "127.0.0.1" in (result.error_message or "") or "::1" in (result.error_message or "")


def test_redirect_to_a_private_address_is_refused(httpserver) -> None:
    target = httpserver.url_for("/feed.xml").replace("localhost", "127.0.0.1")
    httpserver.expect_request("/start").respond_with_data(
        "", status=302, headers={"Location": target}
    )
    httpserver.expect_request("/feed.xml").respond_with_data(rss([]), content_type="text/xml")
    public = fake_dns({"localhost": ["93.184.215.14"]})
    seen: list[str] = []

    def lookup_only(url: str, peer: str | None) -> None:  # the pre-request check alone
        seen.append(url)
        if peer is None:
            check_url(url, resolve=public)

    start = httpserver.url_for("/start")
    [result] = fetch_sync([FeedRequest(start)], Settings(), guard=lookup_only)
    assert result.error_class == "BlockedURL"
    assert target in (result.error_message or "")
    assert [r.path for r, _ in httpserver.log] == ["/start"]  # the private URL never asked
    assert target in seen


def test_without_a_guard_loopback_is_fetched(feed_dir: Path, feed_server) -> None:
    (feed_dir / "a.xml").write_text(rss([]))
    [result] = fetch_sync([FeedRequest(feed_server.base_url + "a.xml")], Settings())
    assert result.ok and result.content


# --------------------------------------------------------------------------- commands


def test_add_refuses_loopback_unless_allowed(tmp_path: Path, feed_dir: Path, feed_server) -> None:
    (feed_dir / "a.xml").write_text(rss([{"title": "t", "link": "https://e.org/1"}]))
    url = feed_server.base_url + "a.xml"
    config = tmp_path / "feeds.yaml"
    config.write_text("settings:\n  database: x.db\n")
    refused = CliRunner().invoke(cli, ["-c", str(config), "add", url, "-y"])
    assert refused.exit_code == 1
    assert f"refused {url}" in refused.output and "loopback" in refused.output
    assert feed_server.hits == {}  # refused before any request
    assert config.read_text() == "settings:\n  database: x.db\n"

    config.write_text("settings:\n  database: x.db\n  allow_private_addresses: true\n")
    allowed = CliRunner().invoke(cli, ["-c", str(config), "add", url, "-y"])
    assert allowed.exit_code == 0, allowed.output
    assert [f.url for f in load_config(config).feeds] == [url]


def test_add_refuses_a_page_whose_feed_link_is_private(
    tmp_path: Path, feed_dir: Path, feed_server
) -> None:
    """The page is "public" (a lying lookup), its advertised feed is on 127.0.0.1: refused."""
    from aggregator.subscribe import discover

    port = feed_server.server_address[1]
    (feed_dir / "a.xml").write_text(rss([]))
    (feed_dir / "p.html").write_text(f'<link rel="feed" href="http://127.0.0.1:{port}/a.xml">')
    with pytest.raises(BlockedURL):
        # The page itself is refused once connected (peer 127.0.0.1), before its body is read.
        discover(f"http://localhost:{port}/p.html", Settings(), resolve=fake_dns(
            {"localhost": ["93.184.215.14"]}
        ))  # fmt: skip
    assert "a.xml" not in feed_server.hits


def test_import_opml_refuses_private_feeds_and_keeps_the_rest(tmp_path: Path) -> None:
    opml = tmp_path / "subs.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><head/><body>\n'
        '<outline text="Public" type="rss" xmlUrl="http://93.184.215.14/rss"/>\n'
        '<outline text="Router" type="rss" xmlUrl="http://192.168.1.1/rss"/>\n'
        '<outline text="Metadata" type="rss" xmlUrl="http://169.254.169.254/latest/meta-data/"/>\n'
        '<outline text="Me" type="rss" xmlUrl="http://[::1]:8001/feed"/>\n'
        "</body></opml>\n"
    )
    config = tmp_path / "feeds.yaml"
    result = CliRunner().invoke(cli, ["-c", str(config), "import-opml", str(opml)])
    assert result.exit_code == 3
    assert [f.url for f in load_config(config).feeds] == ["http://93.184.215.14/rss"]
    for url in ("http://192.168.1.1/rss", "http://169.254.169.254/latest/meta-data/"):
        assert f"refused {url}" in result.output
    assert "http://[::1]:8001/feed" in result.output

    allowed = CliRunner().invoke(
        cli, ["-c", str(config), "import-opml", str(opml), "--allow-private"]
    )
    assert allowed.exit_code == 0, allowed.output
    assert len(load_config(config).feeds) == 4
