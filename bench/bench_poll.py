"""Cold, warm and half-changed polls of N loopback feeds: aggregator beside its peers and floors.

    python bench/bench_poll.py --feeds 200            # about a minute with peers and floors
    python bench/bench_poll.py --feeds 2000           # the target size of issue #7
    python bench/bench_poll.py --feeds 200 --profile  # + py-spy profiles of our cold/warm poll

N generated feeds (bench/feedgen.py: 30 entries each, seeded) plus the 17 real news feeds of
tests/data/corpus/news, served by bench/feed_server.py in separate processes on
127.0.0.2 ... 127.0.0.101. Three scenarios, each tool keeping its own database from one to
the next:

- cold: empty databases, every feed answers 200;
- warm: the same feeds again, every one answers 304 to a conditional GET;
- half: the server restarts with every even-numbered feed 3 entries newer (new ETag).

Tools, each in its own process, one after the other, on the same server: aggregator
(`update()` through bench/run_ours.py, from a generated feeds.yaml), reader 3.27
(`update_feeds(workers=N)`, in its own Python 3.12 venv), feed-to-sqlite 0.6.2 (own venv),
and the floors: plain aiohttp GETs of the same URLs with the same limits (conditional for
warm and half), feedparser parse-only over the bodies that must be parsed (default options;
the options our parse.py passes; sanitize_html=False + resolve_relative_uris=False). Prints
each figure with our time divided by it, writes bench/results/<date>-poll-<N>.json. Our time
is split into fetch+store (until the last feed is stored) and story clustering of the new
articles, which the peers do not do; --no-cluster leaves clustering out (it dominates a
large cold poll).

Peer venvs: bench/.cache/venv-reader312 and bench/.cache/venv-f2s (`make bench-peers`), or
the same names under /tmp; a missing peer is reported and skipped.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

import feedgen
from benchlib import CACHE, HERE, REPO, log, peer_python, ratio, run_json, stamp, write_result

SIDES = ("ua", "ru-state", "western", "gulf")


class Servers:
    """bench/feed_server.py processes for one phase (several share the port by SO_REUSEPORT)."""

    def __init__(self, feeds: int, phase: str, procs: int, port: int = 0) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        self.port = port
        for _ in range(procs):
            cmd = [sys.executable, str(HERE / "feed_server.py"), "--feeds", str(feeds)]
            cmd += ["--phase", phase, "--port", str(self.port)]
            if procs > 1:
                cmd.append("--reuse-port")
            proc = subprocess.Popen(cmd, cwd=HERE, stdout=subprocess.PIPE, text=True)
            self.procs.append(proc)
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:
                self.stop()
                raise SystemExit(f"feed server did not start (exit {proc.wait()})")
            self.port = json.loads(line)["port"]

    def stop(self) -> list[dict[str, int]]:
        stats = []
        for proc in self.procs:
            proc.terminate()
            out, _ = proc.communicate(timeout=30)
            stats += [json.loads(s)["stats"] for s in out.splitlines() if '"stats"' in s]
        return stats


def feeds_yaml(path: Path, urls_outlets: list[tuple[str, str]], args: argparse.Namespace) -> None:
    """A feeds.yaml for the loopback feeds, with the committed file's topics and scope."""
    committed = YAML(typ="safe", pure=True).load((REPO / "feeds.yaml").read_text("utf-8"))
    outlets = sorted({o for _, o in urls_outlets})
    data = {
        "settings": {
            "database": "ours.db",
            "concurrency": args.concurrency,
            "per_host": args.per_host,
        },
        "outlets": [
            {"name": o, "country": "XX", "language": "en", "labels": {"side": SIDES[i % 4]}}
            for i, o in enumerate(outlets)
        ],
        "feeds": [{"url": u, "outlet": o} for u, o in urls_outlets],
        "topic_scope": committed["topic_scope"],
        "topics": committed["topics"],
    }
    with path.open("w", encoding="utf-8") as f:
        YAML(typ="safe", pure=True).dump(data, f)


class Poll:
    """The tools and their databases in one working folder."""

    def __init__(self, args: argparse.Namespace, work: Path, docs: list[feedgen.Doc]) -> None:
        self.args, self.work = args, work
        self.docs = docs
        self.reader_python = args.reader_python or peer_python("reader312")
        self.f2s_python = args.f2s_python or peer_python("f2s")

    def urls(self, port: int) -> list[str]:
        return [feedgen.url(d, port) for d in self.docs]

    def job(self, name: str, data: dict[str, Any]) -> str:
        path = self.work / f"{name}.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        return str(path)

    def ours(self, scenario: str) -> dict[str, Any]:
        cmd = [sys.executable, str(HERE / "run_ours.py"), str(self.work / "feeds.yaml")]
        cmd += ["--no-cluster"] * self.args.no_cluster
        if self.args.profile and scenario in ("cold", "warm"):
            out = CACHE / f"profile-{self.args.feeds}-{scenario}.txt"
            spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
            cmd = [spy, "record", "--format", "raw", "--threads", "-o", str(out), "--", *cmd]
        return run_json(cmd)

    def reader(self, port: int) -> dict[str, Any]:
        if self.reader_python is None:
            return {"error": "no reader venv (make bench-peers)"}
        job = {"db": str(self.work / "reader.db"), "urls": self.urls(port)}
        job["workers"] = self.args.concurrency
        return run_json([self.reader_python, str(HERE / "peer_reader.py"), self.job("r", job)])

    def f2s(self, port: int) -> dict[str, Any]:
        if self.f2s_python is None:
            return {"error": "no feed-to-sqlite venv (make bench-peers)"}
        job = {"db": str(self.work / "f2s.db"), "urls": self.urls(port)}
        script = str(HERE / "peer_feed_to_sqlite.py")
        return run_json([self.f2s_python, script, self.job("f", job)])

    def aiohttp(self, port: int, scenario: str) -> dict[str, Any]:
        validators = str(self.work / "validators.json")
        job = {
            "urls": self.urls(port),
            "concurrency": self.args.concurrency,
            "per_host": self.args.per_host,
            "validators_in": validators if scenario != "cold" else None,
            "validators_out": validators if scenario == "cold" else None,
        }
        script = str(HERE / "floor_aiohttp.py")
        return run_json([sys.executable, script, self.job("a", job)])

    def parse(self, phase: str, mode: str, only_changed: bool) -> dict[str, Any]:
        cmd = [sys.executable, str(HERE / "floor_parse.py"), "--feeds", str(self.args.feeds)]
        cmd += ["--phase", phase, "--mode", mode] + ["--only-changed"] * only_changed
        return run_json(cmd)


def run_scenario(poll: Poll, scenario: str, port: int) -> dict[str, Any]:
    skip = set(poll.args.skip)
    phase = "half" if scenario == "half" else "base"
    tools: dict[str, Any] = {}
    steps = [
        ("aggregator", lambda: poll.ours(scenario)),
        ("reader", lambda: poll.reader(port)),
        ("feed-to-sqlite", lambda: poll.f2s(port)),
        ("aiohttp GET", lambda: poll.aiohttp(port, scenario)),
    ]
    if scenario != "warm":
        changed = scenario == "half"
        steps += [
            ("feedparser default", lambda: poll.parse(phase, "default", changed)),
            ("feedparser our options", lambda: poll.parse(phase, "ours", changed)),
            ("feedparser both off", lambda: poll.parse(phase, "fast", changed)),
        ]
    for name, step in steps:
        if name in skip or name.split()[0] in skip:
            continue
        log(f"  {scenario}: {name} ...")
        tools[name] = step()
        if "error" in tools[name]:
            log(f"    error: {tools[name]['error']}")
        else:
            log(f"    {tools[name]['seconds']:.2f} s")
    return tools


def print_scenario(scenario: str, tools: dict[str, Any], header: str) -> None:
    print(f"\n{scenario} poll — {header}")
    ours = tools.get("aggregator", {})
    total, stored = ours.get("seconds"), ours.get("fetch_store_seconds")
    print(f"  {'tool':<26} {'seconds':>8} {'CPU s':>7} {'peak RSS MB':>11} {'ours÷tool':>10} "
          f"{'ours fetch+store÷tool':>22}")  # fmt: skip
    for name, r in tools.items():
        if "error" in r:
            print(f"  {name:<26} error: {r['error'][:200]}")
            continue
        cpu = f"{r['cpu_seconds']:.2f}" if "cpu_seconds" in r else "–"
        print(f"  {name:<26} {r['seconds']:>8.2f} {cpu:>7} {r['peak_rss_mb']:>11.0f} "
              f"{ratio(total, r['seconds']):>10} {ratio(stored, r['seconds']):>22}")  # fmt: skip
        if name == "aggregator":
            print(f"  {'  of which fetch+store':<26} {r['fetch_store_seconds']:>8.2f}")
            print(f"  {'  of which clustering':<26} {r['cluster_seconds']:>8.2f}"
                  f"   ({r['clustered']} articles; outcomes {r['outcomes']})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200, help="generated feeds (default 200)")
    parser.add_argument("--concurrency", type=int, default=32, help="ours, aiohttp, reader")
    parser.add_argument("--per-host", type=int, default=4)
    parser.add_argument("--server-procs", type=int, default=1)
    parser.add_argument("--reader-python", help="python of a venv with reader==3.27")
    parser.add_argument("--f2s-python", help="python of a venv with feed-to-sqlite==0.6.2")
    parser.add_argument(
        "--skip", nargs="*", default=[], help="tools to leave out: reader feed-to-sqlite ..."
    )
    parser.add_argument(
        "--scenarios", nargs="*", default=["cold", "warm", "half"], choices=["cold", "warm", "half"]
    )
    parser.add_argument("--profile", action="store_true", help="py-spy our cold and warm polls")
    parser.add_argument(
        "--no-cluster", action="store_true", help="our update() without story clustering"
    )
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    args = parser.parse_args()

    info = stamp()
    log(f"generating {args.feeds} feeds (cached in bench/.cache/) ...")
    t0 = time.perf_counter()
    phases = feedgen.load(args.feeds)
    log(f"  {time.perf_counter() - t0:.1f} s")
    docs = phases["base"]
    generated = sum(d.entries for d in docs)
    header = (
        f"{args.feeds} generated feeds ({generated:,} entries, "
        f"{sum(len(d.body) for d in docs) / 1e6:.1f} MB) + {len(docs) - args.feeds} corpus "
        f"news feeds; concurrency {args.concurrency}, per host {args.per_host}"
    )
    CACHE.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="poll-", dir=CACHE))
    results: dict[str, Any] = {}
    server_stats: dict[str, Any] = {}
    try:
        poll = Poll(args, work, docs)
        servers = Servers(args.feeds, "base", args.server_procs)
        port = servers.port
        feeds_yaml(work / "feeds.yaml", [(feedgen.url(d, port), d.outlet) for d in docs], args)
        try:
            for scenario in ("cold", "warm"):
                if scenario in args.scenarios:
                    results[scenario] = run_scenario(poll, scenario, port)
        finally:
            server_stats["base"] = servers.stop()
        if "half" in args.scenarios:
            servers = Servers(args.feeds, "half", args.server_procs, port)
            try:
                results["half"] = run_scenario(poll, "half", port)
            finally:
                server_stats["half"] = servers.stop()
    finally:
        if args.keep:
            log(f"working folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    for scenario, tools in results.items():
        print_scenario(scenario, tools, header)
    data = {
        **info,
        "scenario": "poll",
        "params": {
            "feeds": args.feeds,
            "corpus_feeds": len(docs) - args.feeds,
            "generated_entries": generated,
            "changed_in_half": sum(d.changed for d in phases["half"]),
            "bytes": sum(len(d.body) for d in docs),
            "concurrency": args.concurrency,
            "per_host": args.per_host,
            "server_procs": args.server_procs,
            "clustering": not args.no_cluster,
            # py-spy pauses the process at each sample: our cold/warm times are then a little
            # higher than unprofiled ones.
            "profiled": args.profile,
        },
        "server_requests": server_stats,
        "results": results,
    }
    # Only a full, unprofiled run is "poll-N" (what docs/performance.md shows).
    name = f"poll-{args.feeds}"
    if args.skip or set(args.scenarios) != {"cold", "warm", "half"}:
        name += "-partial"
    if args.profile:
        name += "-profiled"
    path = write_result(name, data)
    print(f"\nwrote {path.relative_to(REPO)}")
    if args.profile:
        from profile_summary import summarize

        for scenario in ("cold", "warm"):
            raw = CACHE / f"profile-{args.feeds}-{scenario}.txt"
            if raw.exists():
                print(f"\nprofile of our {scenario} poll (py-spy samples, all threads):")
                print(summarize(raw, top=15))


if __name__ == "__main__":
    main()
