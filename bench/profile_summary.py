"""A py-spy raw (collapsed stacks) file in, the top functions by own and total samples out.

    python bench/profile_summary.py bench/.cache/profile-200-cold.txt [--top 20]

Each line of the file is `frame;frame;...;frame COUNT`, outermost first (with --threads the
first frame names the thread). Own samples = the function was running; total = it was on the
stack. Functions are keyed by name and file (line numbers dropped). Only stacks that pass
through one of the `--within` frames (default: aggregator's update() on the event loop and
process_result() in the parse-and-store worker thread, so imports and config loading are
left out) are counted; `--within ''` counts everything.
"""

from __future__ import annotations

import argparse
import collections
import re
from pathlib import Path

_LINE = re.compile(r":\d+\)$")


def _key(frame: str) -> str:
    frame = _LINE.sub(")", frame.strip())
    # Shorten site-packages paths to the package: "parse (feedparser/api.py)".
    return re.sub(r"\(.*?(?:site-packages|src|lib/python3\.\d+)/", "(", frame)


WITHIN = ("update (aggregator/update.py)", "process_result (aggregator/update.py)")


def summarize(path: Path, top: int = 20, within: tuple[str, ...] = WITHIN) -> str:
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = [_key(f) for f in stack.split(";")[1:] if f]  # [0] is the thread
        if not frames or (within and not any(w in frames for w in within)):
            continue
        samples += n
        own[frames[-1]] += n
        for f in set(frames):
            total[f] += n
    if not samples:
        return f"  no samples within {within}"
    lines = [
        f"  {samples} samples within {' or '.join(within) or 'the process'}",
        f"  {'own %':>6} {'total %':>7}  function",
    ]
    for f, n in own.most_common(top):
        lines.append(f"  {100 * n / samples:>6.1f} {100 * total[f] / samples:>7.1f}  {f}")
    lines.append(f"  {'':>6} {'total %':>7}  (by total, our code)")
    ours = [(f, n) for f, n in total.most_common() if "aggregator/" in f][:top]
    for f, n in ours:
        lines.append(f"  {'':>6} {100 * n / samples:>7.1f}  {f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--within", nargs="*", default=WITHIN)
    args = parser.parse_args()
    print(summarize(args.path, args.top, tuple(w for w in args.within if w)))


if __name__ == "__main__":
    main()
