"""This process's peak memory and CPU time, for every benchmark runner.

Standard library only: the peer runners import it from their own virtualenvs (reader on
Python 3.12, feed-to-sqlite), where nothing of ours is installed.
"""

from __future__ import annotations

import resource


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Not getrusage's ru_maxrss: on Linux that
    keeps the parent's size across fork+exec, so every runner reported the harness's RSS."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """User + system CPU time of this process, all threads: steadier than wall time on a
    machine shared with other work."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
