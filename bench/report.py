"""bench/results/*.json in, the tables of docs/performance.md out (between its bench markers).

    python bench/report.py          # rewrite docs/performance.md from the newest results
    python bench/report.py --print  # print the tables only

For each kind of result (poll-<N>, queries-<N>, cluster) the newest file is used. Every
ratio is "ours ÷ theirs" on times from the same run: below 1 we are faster.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from benchlib import REPO, RESULTS

DOC = REPO / "docs" / "performance.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def newest() -> dict[str, dict[str, Any]]:
    """Kind ("poll-200", "queries-1000000", "cluster") -> newest result of that kind."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for path in sorted(RESULTS.glob("*.json")):
        kind = re.sub(r"^\d{4}-\d{2}-\d{2}-", "", path.stem)
        if not re.fullmatch(r"(poll|queries)-\d+|cluster", kind):
            continue  # partial or profiled runs
        data = json.loads(path.read_text(encoding="utf-8"))
        if kind not in found or data["date"] >= found[kind][0]:
            found[kind] = (data["date"], data)
    return {k: v for k, (_, v) in sorted(found.items(), key=_order)}


def _order(item: tuple[str, tuple[str, dict]]) -> tuple[int, int]:
    kind = item[0]
    rank = 0 if kind.startswith("poll") else 1 if kind.startswith("queries") else 2
    size = re.findall(r"\d+", kind)
    return rank, int(size[0]) if size else 0


def _s(r: dict[str, Any] | None) -> str:
    if not r:
        return "–"
    if "error" in r:
        return "error"
    return f"{r['seconds']:.2f}"


def _x(a: dict[str, Any] | None, b: dict[str, Any] | None, key: str = "seconds") -> str:
    if not a or not b or "error" in a or "error" in b or not b["seconds"]:
        return "–"
    return f"{a[key] / b['seconds']:.2f}"


def _cpu(r: dict[str, Any] | None) -> str:
    return f"{r['cpu_seconds']:.1f}" if r and "cpu_seconds" in r else "–"


def _mb(r: dict[str, Any] | None) -> str:
    return f"{r['peak_rss_mb']:.0f}" if r and "peak_rss_mb" in r else "–"


def _stamp(data: dict[str, Any]) -> str:
    m = data["machine"]
    return (
        f"{data['date'][:16].replace('T', ' ')} UTC, commit `{data['commit']}`, Python "
        f"{data['python']}, {m['cores']} cores, load average {m['loadavg_at_start']:.1f} → "
        f"{m.get('loadavg_at_end', 0):.1f}"
    )


def poll_table(data: dict[str, Any]) -> str:
    p = data["params"]
    lines = [
        f"**Polls of {p['feeds']:,} generated feeds** ({p['generated_entries']:,} entries, "
        f"{p['bytes'] / 1e6:.0f} MB) + {p['corpus_feeds']} real news feeds; concurrency "
        f"{p['concurrency']}, per host {p['per_host']}; clustering "
        f"{'on' if p.get('clustering', True) else 'off'}. {_stamp(data)}.",
        "",
        "| poll | ours s (fetch+store + clustering) | reader 3.27 s | feed-to-sqlite s "
        "| aiohttp GET s | feedparser s (default / our options / both off) | ours÷reader "
        "| ours÷f2s | ours÷parse floor (our options) | ours÷aiohttp "
        "| CPU s ours / reader / f2s | peak RSS MB ours / reader / f2s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario, tools in data["results"].items():
        ours = tools.get("aggregator")
        reader, f2s = tools.get("reader"), tools.get("feed-to-sqlite")
        net = tools.get("aiohttp GET")
        fp, fast = tools.get("feedparser default"), tools.get("feedparser both off")
        mine = tools.get("feedparser our options")
        if ours and "error" not in ours:
            ours_cell = (
                f"{ours['seconds']:.2f} ({ours['fetch_store_seconds']:.2f} + "
                f"{ours['cluster_seconds']:.2f})"
            )
        else:
            ours_cell = _s(ours)
        parse_cell = f"{_s(fp)} / {_s(mine)} / {_s(fast)}" if fp else "–"
        lines.append(
            f"| {scenario} | {ours_cell} | {_s(reader)} | {_s(f2s)} | {_s(net)} | {parse_cell} "
            f"| {_x(ours, reader)} | {_x(ours, f2s)} | {_x(ours, mine)} | {_x(ours, net)} "
            f"| {_cpu(ours)} / {_cpu(reader)} / {_cpu(f2s)} "
            f"| {_mb(ours)} / {_mb(reader)} / {_mb(f2s)} |"
        )
    return "\n".join(lines)


def queries_table(data: dict[str, Any]) -> str:
    p = data["params"]
    lines = [
        f"**Datasette on {p['articles']:,} articles** ({p['db_bytes'] / 1e9:.1f} GB), p50 of "
        f"{p['runs']} runs after a cold one; target ≤ 50 ms. {_stamp(data)}.",
        "",
        "| query | cold ms | p50 ms | ≤ 50 ms | note |",
        "|---|---|---|---|---|",
    ]
    for r in data["results"]:
        ok = "yes" if r["p50_ms"] <= 50 and not r["problem"] else "**no**"
        lines.append(
            f"| {r['query']} | {r['first_ms']:.0f} | {r['p50_ms']:.1f} | {ok} "
            f"| {r['problem'] or ''} |"
        )
    return "\n".join(lines)


def cluster_table(data: dict[str, Any]) -> str:
    p = data["params"]
    lines = [
        f"**Story clustering of a {p['batch']:,} batch** ({p['per_day']} articles/day, window "
        f"{p['window_hours']:g} h); target ≤ 1.2× at 1M. {_stamp(data)}.",
        "",
        "| stored | in window | seed s | batch s | ms/article | ratio to 10k |",
        "|---|---|---|---|---|---|",
    ]
    for r in data["results"]:
        lines.append(
            f"| {r['stored']:,} | {r['window']:,} | {r['seed']:.2f} | {r['batch']:.2f} "
            f"| {r['batch'] / p['batch'] * 1e3:.2f} | {r['ratio_to_10k']:.2f} |"
        )
    return "\n".join(lines)


def render() -> str:
    parts = []
    for kind, data in newest().items():
        if kind.startswith("poll"):
            parts.append(poll_table(data))
        elif kind.startswith("queries"):
            parts.append(queries_table(data))
        elif kind == "cluster":
            parts.append(cluster_table(data))
    return "\n\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--print", action="store_true", help="print, do not write the doc")
    args = parser.parse_args()
    tables = render()
    if args.print:
        print(tables)
        return
    text = DOC.read_text(encoding="utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOC.write_text(text[:start] + "\n" + tables + "\n" + text[end:], encoding="utf-8")
    print(f"wrote {DOC.relative_to(REPO)}")


if __name__ == "__main__":
    main()
