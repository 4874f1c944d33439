"""Time story clustering of one 1k batch against databases of 10k, 100k (and 1M) articles.

    python bench/bench_cluster.py          # 10k and 100k stored articles
    python bench/bench_cluster.py --full   # ... and 1M
    python bench/bench_cluster.py --full --json   # and write bench/results/<date>-cluster.json

A database grows by time, not by density: the stored articles arrive at a steady rate
(`--per-day`), so a larger database covers a longer period and most of it lies outside the
clustering window. As the store does with its index on `articles.published`, the script selects
the stored articles inside the window with a bisect on their sorted dates (timed), builds
their synthetic text (a store would read those rows), seeds a `Clusterer` with them (timed) and
clusters a batch of 1,000 new articles (timed). The cost should not grow with the database:
the ratios to the 10k case stay near 1.
"""

from __future__ import annotations

import argparse
import bisect
import random
import time
from datetime import UTC, datetime, timedelta

from aggregator.cluster import Clusterer, ClusterSettings
from aggregator.models import StoryInput
from benchlib import REPO, stamp, write_result

START = datetime(2020, 1, 1, tzinfo=UTC)
SYLLABLES = "ka lo mi ne ru sa to vi de ba ko ri zu pe an or el ix um ta".split()


def vocabulary(size: int, rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


class Corpus:
    """Synthetic articles: story i has members sharing a few rare event words."""

    def __init__(self, n: int, per_day: int, seed: int = 1) -> None:
        rng = random.Random(seed)
        self.words = vocabulary(20_000, rng)
        self.common = self.words[:400]  # frequent words everywhere (Zipf-like head)
        step = 86_400 / per_day
        self.dates = [START + timedelta(seconds=i * step + rng.random() * step) for i in range(n)]
        self.seed = seed

    def story_of(self, i: int) -> int:
        return i // 4 + (i % 7 == 0) * 1_000_000_000  # mostly 4 reports per story

    def article(self, i: int) -> StoryInput:
        story = self.story_of(i)
        srng = random.Random(story * 7919 + self.seed)
        event = srng.sample(self.words[400:], 8)
        rng = random.Random(i * 104_729 + self.seed)
        title = " ".join(rng.sample(event, 4) + rng.choices(self.common, k=4))
        summary = " ".join(rng.sample(event, 6) + rng.choices(self.common, k=24))
        return StoryInput(i + 1, "Outlet", self.dates[i], title, f"{title}\n{summary}")


def run(stored: int, batch: int, per_day: int, settings: ClusterSettings) -> dict[str, float]:
    corpus = Corpus(stored + batch, per_day)
    new = range(stored, stored + batch)
    t0 = time.perf_counter()
    since = corpus.dates[stored] - timedelta(hours=settings.window_hours)
    lo = bisect.bisect_left(corpus.dates, since, 0, stored)
    select = time.perf_counter() - t0
    recent = [(corpus.article(i), corpus.story_of(i)) for i in range(lo, stored)]
    articles = [corpus.article(i) for i in new]
    t0 = time.perf_counter()
    clusterer = Clusterer(settings, recent=recent)
    seed = time.perf_counter() - t0
    t0 = time.perf_counter()
    clusterer.assign(articles)
    elapsed = time.perf_counter() - t0
    return {"window": len(recent), "select": select, "seed": seed, "batch": elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also 1,000,000 stored articles")
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--per-day", type=int, default=300, help="articles stored per day")
    parser.add_argument(
        "--json", action="store_true", help="write bench/results/<date>-cluster.json"
    )
    args = parser.parse_args()
    info = stamp()
    rows = []
    settings = ClusterSettings()
    sizes = [10_000, 100_000] + ([1_000_000] if args.full else [])
    print(f"window {settings.window_hours:g} h, {args.per_day} articles/day, batch {args.batch}")
    print(f"{'stored':>10} {'in window':>9} {'select ms':>9} {'seed s':>7} {'batch s':>8} "
          f"{'ms/article':>10} {'ratio':>6}")  # fmt: skip
    base = None
    for n in sizes:
        r = run(n, args.batch, args.per_day, settings)
        base = base or r["batch"]
        rows.append({"stored": n, **r, "ratio_to_10k": r["batch"] / base})
        print(f"{n:>10,} {r['window']:>9,} {r['select'] * 1e3:>9.3f} {r['seed']:>7.2f} "
              f"{r['batch']:>8.2f} {r['batch'] / args.batch * 1e3:>10.2f} "
              f"{r['batch'] / base:>6.2f}")  # fmt: skip
    if args.json:
        params = {
            "batch": args.batch,
            "per_day": args.per_day,
            "window_hours": settings.window_hours,
        }
        data = {**info, "scenario": "cluster", "params": params, "results": rows}
        print(f"wrote {write_result('cluster', data).relative_to(REPO)}")


if __name__ == "__main__":
    main()
