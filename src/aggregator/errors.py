"""The exception tree. Every error a user can see is an AggregatorError.

    AggregatorError
    ├── ConfigError      feeds.yaml is unreadable or invalid (carries file, key path, line)
    ├── FetchError       an HTTP attempt failed (carries url, status)
    │   └── BodyTooLarge the body passed settings.max_body_bytes
    ├── ParseError       a document yielded no entries (carries url)
    ├── BlockedURL       a feed URL points at a private/loopback/... address (carries url)
    └── StoreError       the database cannot be opened or written (carries path)
        └── DatabaseBusy another process is updating the same database (lock.py)

One feed's FetchError/ParseError is recorded in that feed's fetch log row and the run goes on;
the CLI turns any AggregatorError that reaches it into one line on stderr (cli.main).
"""

from __future__ import annotations


class AggregatorError(Exception):
    """Base class of every error aggregator raises on purpose."""


class ConfigError(AggregatorError):
    """feeds.yaml is unreadable or invalid."""

    def __init__(
        self, message: str, *, path: str, key: str | None = None, line: int | None = None
    ) -> None:
        self.path = path
        self.key = key
        self.line = line
        self.message = message
        where = path if line is None else f"{path}:{line}"
        if key:
            where = f"{where}: {key}"
        super().__init__(f"{where}: {message}")


class FetchError(AggregatorError):
    """An HTTP attempt failed: network error, error status, or a refused body."""

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        self.url = url
        self.status = status
        super().__init__(message)


class BodyTooLarge(FetchError):
    """The response body passed settings.max_body_bytes."""


class ParseError(AggregatorError):
    """A document could not be read as a feed (no entries, not a feed at all)."""

    def __init__(self, message: str, *, url: str) -> None:
        self.url = url
        super().__init__(message)


class BlockedURL(AggregatorError):
    """A URL from `add` or `import-opml` leads to an address we refuse to fetch (SSRF, #6)."""

    def __init__(self, message: str, *, url: str) -> None:
        self.url = url
        super().__init__(message)


class StoreError(AggregatorError):
    """The database cannot be opened or written."""

    def __init__(self, message: str, *, path: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


class DatabaseBusy(StoreError):
    """Another process holds the database's writer lock (see lock.py)."""
