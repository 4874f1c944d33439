"""Shared helpers of the bench/ scripts: run a runner process, stamp and write results.

Every measurement runs in a process of its own that prints one JSON line (seconds, peak RSS,
counts); `run_json` starts it and reads that line back, so a crash of one tool is an error
entry in the results, not the end of the benchmark.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
CACHE = HERE / ".cache"


def run_json(cmd: list[str], *, timeout: float = 3600, env: dict | None = None) -> dict[str, Any]:
    """Run a runner process; its last stdout line as a dict, or {"error": ...}."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=HERE,
            env={**os.environ, **(env or {})},
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:g} s"}
    except OSError as e:
        return {"error": f"cannot start {cmd[0]}: {e}"}
    wall = time.perf_counter() - t0
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
    result = json.loads(lines[-1])
    result["process_seconds"] = wall
    return result


def commit() -> str:
    """Short commit of the worktree, with '+dirty' when src/ has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def stamp() -> dict[str, Any]:
    """Where and when: date, commit, Python, cores and the load average (noise indicator)."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": commit(),
        "python": platform.python_version(),
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "loadavg_at_start": os.getloadavg()[0],
        },
    }


def write_result(name: str, data: dict[str, Any]) -> Path:
    """bench/results/<date>-<name>.json (today's file for that name is replaced)."""
    RESULTS.mkdir(exist_ok=True)
    data.setdefault("machine", {})["loadavg_at_end"] = os.getloadavg()[0]
    path = RESULTS / f"{data['date'][:10]}-{name}.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def peer_python(name: str) -> str | None:
    """The interpreter of a peer's venv: bench/.cache/venv-<name>, else /tmp/venv-<name>."""
    for base in (CACHE, Path("/tmp")):
        candidate = base / f"venv-{name}" / "bin" / "python"
        if candidate.exists():
            return str(candidate)
    return None


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "–"
    return f"{a / b:.2f}"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
