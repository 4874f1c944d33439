"""Score story clustering and topic tagging on a labelled folder of feeds (issue #3).

    python bench/eval_stories.py tests/data/eval_dev

PATH holds feed files and truth.json (format: tests/data/eval_dev/README.md). The feeds travel
the real pipeline: a loopback feed server, `update()` with the committed feeds.yaml's topics and
settings, a temporary SQLite database, where update() also groups the new articles into
stories. The stored stories and topics are compared with truth.json by pairwise
precision/recall/F1 (stories) and per-topic precision/recall/F1 (topics). The first two lines
of output are the headline numbers; details follow.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import itertools
import json
import logging
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from aggregator.config import load_config
from aggregator.feedserver import serve_folder
from aggregator.models import FeedConfig, OutletConfig, StoryAssignment, StoryInput, tagging_text
from aggregator.store import Store
from aggregator.update import update

REPO = Path(__file__).resolve().parent.parent

Pair = frozenset[str]


def pairs(assign: dict[str, object]) -> set[Pair]:
    groups: dict[object, list[str]] = collections.defaultdict(list)
    for key, cluster in assign.items():
        groups[cluster].append(key)
    return {frozenset(p) for g in groups.values() for p in itertools.combinations(sorted(g), 2)}


def prf(tp: int, n_pred: int, n_true: int) -> tuple[float, float, float]:
    precision = tp / n_pred if n_pred else 1.0
    recall = tp / n_true if n_true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def fetch_and_store(folder: Path, database: Path) -> Store:
    """Serve `folder`, fetch every feed file in it through update(), return the open store."""
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))["entries"]
    outlet_of = {e["feed"]: e["outlet"] for e in truth.values()}
    base = load_config(REPO / "feeds.yaml")
    store = Store(database)
    with serve_folder(folder) as server:
        feeds = tuple(
            FeedConfig(url=server.base_url + name, outlet=outlet_of[name])
            for name in sorted(outlet_of)
        )
        outlets = tuple(OutletConfig(name=n) for n in sorted(set(outlet_of.values())))
        config = dataclasses.replace(
            base,
            path=str(database.parent / "feeds.yaml"),
            outlets=outlets,
            feeds=feeds,
            settings=dataclasses.replace(base.settings, database=str(database)),
        )
        summary = update(config, store)
    if summary.failed:
        sys.exit(f"feeds failed: {[(o.url, o.error) for o in summary.failed]}")
    return store


def load_stories(store: Store) -> list[StoryAssignment]:
    """The memberships update() stored in story_members."""
    return [
        StoryAssignment(
            r["article_id"], r["story_id"], r["score"], r["method"], bool(r["syndicated"])
        )
        for r in store.db.query(
            "select article_id, story_id, score, method, syndicated from story_members"
        )
    ]


def load_articles(store: Store) -> tuple[list[StoryInput], dict[int, list[str]], dict[str, int]]:
    """StoryInputs of every stored article, its topics, and entry key -> article id."""
    inputs = []
    topics: dict[int, list[str]] = {}
    rows = store.db.query(
        "select id, outlet, published, title, summary_text, content_text, topics from articles"
    )
    for row in rows:
        published = datetime.fromisoformat(row["published"].replace("Z", "+00:00"))
        text = tagging_text(row["title"], row["summary_text"] or "", row["content_text"] or "")
        inputs.append(StoryInput(row["id"], row["outlet"], published, row["title"], text))
        topics[row["id"]] = json.loads(row["topics"])
    keys = {}
    sightings = store.db.query(
        "select f.url, s.entry_id, s.article_id from sightings s join feeds f on f.id = s.feed_id"
    )
    for row in sightings:
        feed_file = row["url"].rsplit("/", 1)[1]
        keys[f"{feed_file}|{row['entry_id']}"] = row["article_id"]
    return inputs, topics, keys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="folder with feed files and truth.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    data = json.loads((args.path / "truth.json").read_text(encoding="utf-8"))
    truth = data["entries"]
    with tempfile.TemporaryDirectory() as tmp:
        store = fetch_and_store(args.path, Path(tmp) / "eval.db")
        inputs, topics_of, key_to_article = load_articles(store)
        assignments = load_stories(store)
        store.close()
    missing = sorted(set(truth) - set(key_to_article))
    inputs.sort(key=lambda s: (s.published, s.article_id))
    story_of = {a.article_id: a.story_id for a in assignments}
    detail = {a.article_id: a for a in assignments}

    pred = {k: story_of.get(key_to_article.get(k, -1), "singleton:" + k) for k in truth}
    true = {k: v["story_id"] for k, v in truth.items()}
    T, P = pairs(true), pairs(pred)  # noqa: N806 (the README's names)
    p, r, f = prf(len(P & T), len(P), len(T))
    print(f"stories: precision {p:.3f} recall {r:.3f} f1 {f:.3f}")

    topic_names = data["topics"]
    counts = {t: [0, 0, 0] for t in topic_names}  # tp, fp, fn
    for key, entry in truth.items():
        got = set(topics_of.get(key_to_article.get(key, -1), []))
        want = set(entry["topics"])
        for t in topic_names:
            counts[t][0] += t in got and t in want
            counts[t][1] += t in got and t not in want
            counts[t][2] += t in want and t not in got
    tp, fp, fn = (sum(c[i] for c in counts.values()) for i in range(3))
    tp_, tr_, tf_ = prf(tp, tp + fp, tp + fn)
    print(f"topics: micro precision {tp_:.3f} recall {tr_:.3f} f1 {tf_:.3f}")

    print()
    print(f"entries {len(truth)}, mapped to articles {len(truth) - len(missing)}, "
          f"articles {len(inputs)}, predicted stories {len(set(story_of.values()))}, "
          f"true stories {len(set(true.values()))}")  # fmt: skip
    for key in missing:
        print(f"  UNMAPPED {key}")
    print()
    print(f"{'topic':<16} {'P':>6} {'R':>6} {'F1':>6} {'tp':>4} {'fp':>4} {'fn':>4}")
    for t, (ctp, cfp, cfn) in counts.items():
        cp, cr, cf = prf(ctp, ctp + cfp, ctp + cfn)
        print(f"{t:<16} {cp:6.3f} {cr:6.3f} {cf:6.3f} {ctp:4} {cfp:4} {cfn:4}")

    # Exact-duplicate groups collapsed: one key per article.
    first_key: dict[object, str] = {}
    for key in sorted(truth):
        first_key.setdefault(truth[key]["canonical_url"], key)
    kept = set(first_key.values())
    Tc = pairs({k: v for k, v in true.items() if k in kept})  # noqa: N806
    Pc = pairs({k: v for k, v in pred.items() if k in kept})  # noqa: N806
    cp, cr, cf = prf(len(Pc & Tc), len(Pc), len(Tc))
    print()
    print(f"stories, exact duplicates collapsed ({len(kept)} entries): "
          f"precision {cp:.3f} recall {cr:.3f} f1 {cf:.3f}")  # fmt: skip

    hard = {frozenset((h["a"], h["b"])) for h in data["hard_negative_pairs"]}
    hard_pairs = [q for q in P if frozenset(true[k] for k in q) in hard]
    n_hard = sum(
        1 for q in itertools.combinations(truth, 2) if frozenset(true[k] for k in q) in hard
    )
    print(f"hard-negative entry pairs merged: {len(hard_pairs)} of {n_hard}")
    syndicated = sum(1 for a in assignments if a.syndicated)
    print(f"articles flagged syndicated: {syndicated}")

    # Worst merges: predicted clusters that mix truth stories, by wrong pairs.
    by_pred: dict[object, list[str]] = collections.defaultdict(list)
    for key, c in pred.items():
        by_pred[c].append(key)
    merges = []
    for c, keys in by_pred.items():
        wrong = sum(1 for a, b in itertools.combinations(keys, 2) if true[a] != true[b])
        if wrong:
            merges.append((wrong, c, keys))
    print(f"\nworst merges ({len(merges)} mixed clusters):")
    for wrong, c, keys in sorted(merges, key=lambda m: -m[0])[:8]:
        mix = dict(collections.Counter(true[k] for k in keys))
        print(f"  cluster {c}: {wrong} wrong pairs, truth {mix}")
        for k in sorted(keys, key=lambda k: true[k]):
            a = detail.get(key_to_article.get(k, -1))
            how = f"{a.method} {a.score:.2f}" if a else "-"
            when = truth[k]["published_utc"][5:16]
            print(f"    {true[k]} [{how}] {when} {truth[k]['title'][:80]}")

    by_true: dict[str, list[str]] = collections.defaultdict(list)
    for key, s in true.items():
        by_true[s].append(key)
    splits = []
    for s, keys in by_true.items():
        missed = sum(1 for a, b in itertools.combinations(keys, 2) if pred[a] != pred[b])
        if missed:
            splits.append((missed, s, keys))
    print(f"\nworst splits ({len(splits)} split stories):")
    for missed, s, keys in sorted(splits, key=lambda m: -m[0])[:10]:
        print(f"  {s}: {missed} missed pairs, {data['stories'][s]['label'][:70]}")
        for k in sorted(keys, key=lambda k: str(pred[k])):
            a = detail.get(key_to_article.get(k, -1))
            how = f"{a.method} {a.score:.2f}" if a else "-"
            when = truth[k]["published_utc"][5:16]
            print(f"    -> {pred[k]} [{how}] {when} {truth[k]['title'][:80]}")


if __name__ == "__main__":
    main()
