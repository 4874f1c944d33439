"""Design rules as tests: only fetch does network, only store touches SQLite."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "src" / "aggregator"

#: module (top-level import name) -> the only aggregator modules allowed to import it.
ALLOWED = {
    "httpx": {"fetch.py"},
    "aiohttp": {"fetch.py"},
    "yarl": {"fetch.py"},
    "sqlite_utils": {"store.py", "schema.py"},
    "sqlite3": {"store.py"},
    "feedparser": {"parse.py"},
    "lxml": {"fastparse.py"},
    "datasette": {"web.py", "webfacets.py"},
    "uvicorn": {"web.py"},
    "listparser": {"opml.py"},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", sorted(ALLOWED))
def test_only_allowed_modules_import(module: str) -> None:
    importers = {
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*.py")
        if module in imported_modules(p)
    }
    assert importers <= ALLOWED[module], f"{module} imported by {importers - ALLOWED[module]}"
    assert importers, f"nothing imports {module}: update this rule"


def test_only_the_store_layer_runs_sql() -> None:
    """SQL lives in store.py, schema.py and store_stories.py (which works through a Store).

    webfacets.py hands Datasette (read-only) the facet SQL of the bundled metadata, as
    Datasette does with canned queries; it holds no SQL of its own.
    """
    store_layer = {"store.py", "schema.py", "store_stories.py"}
    for path in PACKAGE.rglob("*.py"):
        if path.name in store_layer or path.name == "webfacets.py":
            continue
        source = path.read_text(encoding="utf-8")
        assert ".execute(" not in source and ".db." not in source, path.name


def test_pure_steps_do_no_io() -> None:
    """normalize and topics get everything passed in: no clock, network, files or database."""
    for name in ("normalize.py", "topics.py", "models.py", "cluster.py"):
        imports = imported_modules(PACKAGE / name)
        assert not imports & {"httpx", "sqlite3", "sqlite_utils", "socket", "os", "time"}, name
