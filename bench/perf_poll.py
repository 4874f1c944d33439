"""Time aggregator's poll of N generated feeds against its floors, in one run (issue #7).

    python bench/perf_poll.py --feeds 2000 --runs 3

Starts bench/perf_server.py (its own process), then for each run, each step in a fresh child
process whose peak RSS (with its own children, e.g. a parse pool) is sampled from /proc:

  cold    update() into an empty database
  warm    update() again: every feed answers 304
  half    half the feeds gained 3 items, update() again
  aiohttp plain aiohttp GET of every feed, bodies read (cold), then with If-None-Match (warm)
  parse   parse.parse_feed over every body, one process (the single-core parse-only floor)

and prints the median of each with its ratio to the floors. `--json FILE` writes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


# --------------------------------------------------------------------------- child steps


def child(step: str, db: str, urls: list[str], concurrency: int, per_host: int) -> dict:
    import asyncio
    import dataclasses

    if step in ("cold", "warm", "half"):
        from aggregator import update as update_module
        from aggregator.config import load_config
        from aggregator.models import FeedConfig, OutletConfig
        from aggregator.store import Store
        from aggregator.update import update

        cluster_seconds = 0.0
        cluster_new = update_module.cluster_new

        def timed_cluster_new(*a, **kw):  # the story step, timed on its own
            nonlocal cluster_seconds
            if os.environ.get("PERF_SKIP_CLUSTER"):
                return 0, 0
            t = time.perf_counter()
            try:
                return cluster_new(*a, **kw)
            finally:
                cluster_seconds += time.perf_counter() - t

        update_module.cluster_new = timed_cluster_new
        base = load_config(REPO / "feeds.yaml")
        outlets = tuple(OutletConfig(name=f"Outlet {i}") for i in range(50))
        feeds = tuple(FeedConfig(url=u, outlet=f"Outlet {i % 50}") for i, u in enumerate(urls))
        config = dataclasses.replace(
            base,
            path=str(Path(db).parent / "feeds.yaml"),
            outlets=outlets,
            feeds=feeds,
            settings=dataclasses.replace(
                base.settings, database=db, concurrency=concurrency, per_host=per_host
            ),
        )
        workers = os.environ.get("PERF_PARSE_WORKERS")
        t0 = time.perf_counter()
        with Store(db) as store:
            kw = {"parse_workers": int(workers)} if workers else {}
            summary = update(config, store, **kw)
        seconds = time.perf_counter() - t0
        outcomes: dict[str, int] = {}
        for o in summary.outcomes:
            outcomes[o.outcome] = outcomes.get(o.outcome, 0) + 1
        return {
            "seconds": seconds,
            "cluster_seconds": cluster_seconds,
            "new": summary.new,
            "outcomes": outcomes,
        }

    import aiohttp

    async def get_all(etags: dict[str, str] | None) -> tuple[float, dict[str, bytes], dict]:
        bodies: dict[str, bytes] = {}
        tags: dict[str, str] = {}
        connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=per_host)
        t0 = time.perf_counter()
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(url: str) -> None:
                headers = {"If-None-Match": etags[url]} if etags else {}
                async with session.get(url, headers=headers) as r:
                    bodies[url] = await r.read()
                    tags[url] = r.headers.get("ETag", "")

            await asyncio.gather(*(one(u) for u in urls))
        return time.perf_counter() - t0, bodies, tags

    if step == "aiohttp":
        cold, _, tags = asyncio.run(get_all(None))
        warm, bodies, _ = asyncio.run(get_all(tags))
        assert not any(bodies.values()), "expected 304s"
        return {"cold": cold, "warm": warm}
    if step == "parse":
        from aggregator.parse import parse_feed

        _, bodies, _ = asyncio.run(get_all(None))
        headers = {"content-type": "application/rss+xml"}
        t0 = time.perf_counter()
        entries = sum(len(parse_feed(b, url=u, headers=headers).entries) for u, b in bodies.items())
        return {"seconds": time.perf_counter() - t0, "entries": entries}
    raise SystemExit(f"unknown step {step}")


# --------------------------------------------------------------------------- parent


def tree_rss_kb(pid: int, field: str = "Rss:") -> int:
    """Rss (or Pss: shared pages split between their users, so a forked worker's pages are
    not counted twice) of pid and all its descendants, in KiB (0 once gone)."""
    total = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith(field):
                    total += int(line.split()[1])
            for task in os.listdir(f"/proc/{p}/task"):
                kids = Path(f"/proc/{p}/task/{task}/children").read_text().split()
                stack.extend(int(k) for k in kids)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def run_child(
    step: str, db: str, args: argparse.Namespace, urls_file: str, src: str | None = None
) -> dict:
    cmd = [sys.executable, __file__, "--child", step, "--db", db, "--urls-file", urls_file]
    cmd += ["--concurrency", str(args.concurrency), "--per-host", str(args.per_host)]
    env = dict(os.environ, PYTHONPATH=src) if src else None
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    peak = peak_pss = 0

    def sample() -> None:
        nonlocal peak, peak_pss
        while proc.poll() is None:
            peak = max(peak, tree_rss_kb(proc.pid))
            peak_pss = max(peak_pss, tree_rss_kb(proc.pid, "Pss:"))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"{step} failed ({proc.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mb"] = round(peak / 1024, 1)
    result["peak_pss_mb"] = round(peak_pss / 1024, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--per-host", type=int, default=2)
    parser.add_argument("--steps", default="cold,warm,half,aiohttp,parse")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--skip-cluster", action="store_true", help="leave story clustering out of the polls"
    )
    parser.add_argument("--parse-workers", help="update(parse_workers=...); default: auto")
    parser.add_argument(
        "--baseline-src",
        help="src/ folder of another checkout: its polls run interleaved with ours, as 'base'",
    )
    parser.add_argument("--child")
    parser.add_argument("--db")
    parser.add_argument("--urls-file")
    args = parser.parse_args()
    if args.child:
        urls = json.loads(Path(args.urls_file).read_text())
        result = child(args.child, args.db, urls, args.concurrency, args.per_host)
        print(json.dumps(result))
        return

    server = subprocess.Popen(
        [sys.executable, str(HERE / "perf_server.py"), "--feeds", str(args.feeds)]
        + ["--hosts", str(args.hosts), "--port", str(args.port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    if args.skip_cluster:
        os.environ["PERF_SKIP_CLUSTER"] = "1"
    if args.parse_workers is not None:
        os.environ["PERF_PARSE_WORKERS"] = args.parse_workers
    steps = args.steps.split(",")
    variants = [("", None)]
    if args.baseline_src:
        variants.append(("base_", args.baseline_src))
        steps_all = steps + [f"base_{s}" for s in steps if s in ("cold", "warm", "half")]
    else:
        steps_all = steps
    results: dict[str, list[dict]] = {s: [] for s in steps_all}
    try:
        assert server.stdout is not None
        urls = json.loads(server.stdout.readline())["urls"]
        with tempfile.TemporaryDirectory() as tmp:
            urls_file = str(Path(tmp) / "urls.json")
            Path(urls_file).write_text(json.dumps(urls))
            for run in range(args.runs):
                for prefix, src in variants:
                    db = str(Path(tmp) / f"run{run}{prefix}.db")
                    for step in steps:
                        if prefix and step not in ("cold", "warm", "half"):
                            continue
                        if step == "half":
                            mutate = f"http://127.0.0.2:{args.port}/_mutate?every=2"
                            urllib.request.urlopen(urllib.request.Request(mutate, method="POST"))
                        r = run_child(step, db, args, urls_file, src)
                        results[prefix + step].append(r)
                        print(f"run {run} {prefix}{step}: {json.dumps(r)}", file=sys.stderr)
    finally:
        server.terminate()
        server.wait()

    def med(step: str, key: str = "seconds") -> float | None:
        values = [r[key] for r in results.get(step, ())]
        return statistics.median(values) if values else None

    figures = {
        "feeds": args.feeds,
        "runs": args.runs,
        "cold_s": med("cold"),
        "warm_s": med("warm"),
        "half_s": med("half"),
        "cold_cluster_s": med("cold", "cluster_seconds"),
        "half_cluster_s": med("half", "cluster_seconds"),
        "cold_peak_rss_mb": med("cold", "peak_rss_mb"),
        "cold_peak_pss_mb": med("cold", "peak_pss_mb"),
        "aiohttp_cold_s": med("aiohttp", "cold"),
        "aiohttp_warm_s": med("aiohttp", "warm"),
        "parse_floor_s": med("parse"),
    }
    print(f"\n{args.feeds} feeds, median of {args.runs} runs")
    for key, value in figures.items():
        if isinstance(value, float):
            print(f"  {key:<20} {value:8.2f}")
    if figures["cold_s"] and figures["parse_floor_s"]:
        print(f"  cold / parse floor   {figures['cold_s'] / figures['parse_floor_s']:8.2f}")
    if figures["warm_s"] and figures["aiohttp_warm_s"]:
        print(f"  warm / aiohttp warm  {figures['warm_s'] / figures['aiohttp_warm_s']:8.2f}")
    if figures["half_s"] and figures["cold_s"]:
        print(f"  half / cold          {figures['half_s'] / figures['cold_s']:8.2f}")
    if args.baseline_src:
        for step in ("cold", "warm", "half"):
            ours, base = med(step), med("base_" + step)
            if ours and base:
                print(
                    f"  {step}: base {base:.2f} s, ours {ours:.2f} s, speed-up {base / ours:.2f}x"
                )
        figures.update({f"base_{s}_s": med(f"base_{s}") for s in ("cold", "warm", "half")})
        figures["base_cold_peak_rss_mb"] = med("base_cold", "peak_rss_mb")
        figures["base_cold_peak_pss_mb"] = med("base_cold", "peak_pss_mb")
    if args.json:
        args.json.write_text(json.dumps({"figures": figures, "runs": results}, indent=1))


if __name__ == "__main__":
    main()
