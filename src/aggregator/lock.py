"""A database path in, an exclusive writer lock out: one update at a time per database.

`hold(path)` takes an advisory `fcntl.flock` on "<database>.lock" for as long as the block
runs, and writes the holder's pid into that file. A second fetch (or demo, or daemon) on the
same database raises DatabaseBusy at once, naming the database and the holder's pid, instead
of interleaving its writes with the first one's. The kernel drops the lock when the holder
exits, however it exits (kill -9 included), so a stale lock file never blocks anyone; the
file itself is left in place on purpose (deleting it would race with the next holder).

store.Store also takes it, waiting, while it creates or migrates a database: two processes
opening one new file at once would otherwise both create its tables.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import DatabaseBusy, StoreError


def lock_path(database: str | os.PathLike[str]) -> str:
    return os.fspath(database) + ".lock"


@contextmanager
def hold(database: str | os.PathLike[str], *, wait: bool = False) -> Iterator[None]:
    """Hold the writer lock of `database` for the block; DatabaseBusy when someone else does
    (or, with `wait`, wait until they are done)."""
    if os.fspath(database) in ("", ":memory:"):
        yield  # nobody else can open it
        return
    path = lock_path(database)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise StoreError(f"cannot create the lock file {path}: {e.strerror}", path=path) from e
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            who = f"process {holder}" if holder.isdigit() else "another process"
            raise DatabaseBusy(
                f"{who} is already updating this database; try again when it has finished",
                path=os.fspath(database),
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _holder(fd: int) -> str:
    """The pid in the lock file; the holder writes it just after locking, so wait a moment."""
    for _ in range(50):
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if holder:
            return holder
        time.sleep(0.01)
    return ""
