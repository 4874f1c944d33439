"""aggregator: follow one story across many outlets (RSS/Atom/JSON Feed → SQLite → Datasette)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("aggregator")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"

USER_AGENT = f"aggregator/{__version__} (RSS/Atom news aggregator; python-httpx)"
