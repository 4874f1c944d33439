"""Warm polls (every feed answers 304) repeated: ours beside plain aiohttp, ratio per pair.

    python bench/bench_warm.py --feeds 2000 --repeat 5          # issue #7's warm target
    python bench/bench_warm.py --feeds 200 --repeat 9 --profile  # + py-spy of our last run

Before each of our polls the database's fetch_log is cut back to the cold poll's rows, so
that every repetition is the first warm poll after a cold one (what bench_poll.py's warm
scenario measures): each poll adds a row per feed, and a growing log makes every insert
dearer. --keep-log lets it grow instead (a database with a history of polls).

The cold poll a warm one needs first (ours without clustering, and aiohttp's to save the
validators) is done once and kept in bench/.cache/warm-<N>-<port>/, so the feed server
always listens on the same port (--port) and later invocations go straight to the warm
polls. Each repetition runs our `update()` (bench/run_ours.py --no-cluster) and the aiohttp
floor (bench/floor_aiohttp.py) back to back, alternating which goes first, and the ratio
ours÷aiohttp is taken per pair: the machine's load changes between pairs more than within
one. Prints every pair, the median and the best ratio, and writes
bench/results/<date>-warm-<N>.json. --baseline-src OTHER/src runs another checkout's
update() in every round as well (before/after under the same load). --profile records our
last warm run with py-spy into bench/.cache/profile-<N>-warm.txt and prints
bench/profile_summary.py's summary of it.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import feedgen
from bench_poll import Poll, Servers, feeds_yaml
from benchlib import CACHE, HERE, REPO, log, run_json, stamp, write_result


def trim_log(db: Path, rows: int) -> None:
    """Keep the first `rows` rows of fetch_log: the cold poll's, one per feed."""
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("DELETE FROM fetch_log WHERE id > ?", [rows])
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def baseline(work: Path, src: str) -> dict[str, Any]:
    """bench/run_ours.py with another checkout's aggregator first on the import path."""
    cmd = [sys.executable, str(HERE / "run_ours.py"), str(work / "feeds.yaml"), "--no-cluster"]
    return run_json(cmd, env={"PYTHONPATH": str(Path(src).resolve())})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200, help="generated feeds (default 200)")
    parser.add_argument("--repeat", type=int, default=5, help="warm pairs (default 5)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--per-host", type=int, default=4)
    parser.add_argument("--port", type=int, default=18741, help="fixed: the cached DB has it")
    parser.add_argument("--profile", action="store_true", help="py-spy our last warm run")
    parser.add_argument("--fresh", action="store_true", help="redo the cold poll")
    parser.add_argument("--keep-log", action="store_true", help="let fetch_log grow")
    parser.add_argument(
        "--baseline-src", help="another checkout's src/: its update() runs in every round too"
    )
    args = parser.parse_args()
    # What bench_poll.Poll reads from its arguments.
    args.no_cluster, args.reader_python, args.f2s_python = True, None, None

    info = stamp()
    docs = feedgen.load(args.feeds)["base"]
    work = CACHE / f"warm-{args.feeds}-{args.port}"
    if args.fresh:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    poll = Poll(args, work, docs)
    servers = Servers(args.feeds, "base", 1, args.port)
    pairs: list[dict[str, Any]] = []
    try:
        if not (work / "ours.db").exists() or not (work / "validators.json").exists():
            feeds_yaml(
                work / "feeds.yaml", [(feedgen.url(d, args.port), d.outlet) for d in docs], args
            )
            log(f"cold poll of {len(docs)} feeds (once; kept in {work.relative_to(REPO)}) ...")
            args.profile, profile = False, args.profile
            for name, result in (
                ("ours", poll.ours("cold")),
                ("aiohttp", poll.aiohttp(args.port, "cold")),
            ):
                if "error" in result:
                    (work / "ours.db").unlink(missing_ok=True)
                    raise SystemExit(f"cold {name}: {result['error']}")
                log(f"  {name} {result['seconds']:.2f} s")
            args.profile = profile
        for i in range(args.repeat):
            last = i == args.repeat - 1
            profile, args.profile = args.profile, args.profile and last
            if not args.keep_log:
                trim_log(work / "ours.db", len(docs))
            steps = [
                ("ours", lambda: poll.ours("warm")),
                ("aiohttp", lambda: poll.aiohttp(args.port, "warm")),
            ]
            if args.baseline_src:
                steps.append(("baseline", lambda: baseline(work, args.baseline_src)))
            pair: dict[str, Any] = {}
            for name, step in steps if i % 2 == 0 else steps[::-1]:
                if name == "baseline" and not args.keep_log:
                    trim_log(work / "ours.db", len(docs))
                pair[name] = step()
                if "error" in pair[name]:
                    raise SystemExit(f"warm {name}: {pair[name]['error']}")
            args.profile = profile
            for name in ("ours", "baseline"):
                if name in pair and pair[name]["outcomes"] != {"not_modified": len(docs)}:
                    raise SystemExit(f"not a warm poll ({name}): {pair[name]['outcomes']}")
            pair["ratio"] = pair["ours"]["seconds"] / pair["aiohttp"]["seconds"]
            if "baseline" in pair:
                pair["baseline_ratio"] = pair["baseline"]["seconds"] / pair["aiohttp"]["seconds"]
            pairs.append(pair)
            ours, floor = pair["ours"], pair["aiohttp"]
            log(
                f"  {i + 1}/{args.repeat}: ours {ours['seconds']:.3f} s "
                f"(CPU {ours['cpu_seconds']:.2f}), aiohttp {floor['seconds']:.3f} s "
                f"(CPU {floor['cpu_seconds']:.2f}), ratio {pair['ratio']:.2f}"
            )
            time.sleep(0.2)
    finally:
        server_stats = servers.stop()
    ratios = [p["ratio"] for p in pairs]
    summary = {
        "ours_median_s": statistics.median(p["ours"]["seconds"] for p in pairs),
        "aiohttp_median_s": statistics.median(p["aiohttp"]["seconds"] for p in pairs),
        "ratio_median": statistics.median(ratios),
        "ratio_best": min(ratios),
        "ours_cpu_median_s": statistics.median(p["ours"]["cpu_seconds"] for p in pairs),
        "aiohttp_cpu_median_s": statistics.median(p["aiohttp"]["cpu_seconds"] for p in pairs),
    }
    print(
        f"\nwarm poll of {len(docs)} feeds ({args.feeds} generated + {len(docs) - args.feeds} "
        f"corpus), concurrency {args.concurrency}, per host {args.per_host}, {len(pairs)} pairs:"
    )
    print(
        f"  ours median {summary['ours_median_s']:.3f} s (CPU {summary['ours_cpu_median_s']:.2f}),"
        f" aiohttp median {summary['aiohttp_median_s']:.3f} s"
        f" (CPU {summary['aiohttp_cpu_median_s']:.2f})"
    )
    print(f"  ours÷aiohttp per pair: median {summary['ratio_median']:.2f}, best {min(ratios):.2f}")
    if args.baseline_src:
        base = [p["baseline_ratio"] for p in pairs]
        summary["baseline_median_s"] = statistics.median(p["baseline"]["seconds"] for p in pairs)
        summary["baseline_cpu_median_s"] = statistics.median(
            p["baseline"]["cpu_seconds"] for p in pairs
        )
        summary["baseline_ratio_median"] = statistics.median(base)
        print(
            f"  baseline ({args.baseline_src}) median {summary['baseline_median_s']:.3f} s"
            f" (CPU {summary['baseline_cpu_median_s']:.2f}), ÷aiohttp per round: median"
            f" {statistics.median(base):.2f}, best {min(base):.2f}"
        )
    data = {
        **info,
        "scenario": "warm",
        "params": {
            "feeds": args.feeds,
            "corpus_feeds": len(docs) - args.feeds,
            "concurrency": args.concurrency,
            "per_host": args.per_host,
            "profiled_last": args.profile,
            "fetch_log_kept": args.keep_log,
            "baseline_src": args.baseline_src,
        },
        "server_requests": server_stats,
        "summary": summary,
        "pairs": pairs,
    }
    path = write_result(f"warm-{args.feeds}", data)
    print(f"wrote {path.relative_to(REPO)}")
    if args.profile:
        from profile_summary import summarize

        raw = CACHE / f"profile-{args.feeds}-warm.txt"
        print("\nprofile of our last warm poll (py-spy samples, all threads):")
        print(summarize(raw, top=25))


if __name__ == "__main__":
    sys.exit(main())
