"""Database path in, configured Datasette out: metadata, canned queries and facets ship here.

Datasette opens the file read-only in practice: it has no write plugins and canned queries are
plain SELECTs. `aggregator serve` is `uvicorn.run(make_datasette(path).app())`.
"""

from __future__ import annotations

import copy
import os
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from datasette.app import Datasette
from ruamel.yaml import YAML

#: Datasette settings: a SQL time limit so one heavy query cannot stall the server.
SETTINGS = {"sql_time_limit_ms": 3000, "facet_time_limit_ms": 1000, "default_page_size": 50}


@cache
def _metadata_template() -> dict[str, Any]:
    text = files("aggregator").joinpath("datasette/metadata.yml").read_text(encoding="utf-8")
    return YAML(typ="safe", pure=True).load(text)


def database_name(path: str | os.PathLike[str]) -> str:
    """Datasette names a database after its file's stem."""
    return Path(path).stem


def metadata_for(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The bundled metadata with its database block named after `path`."""
    metadata = copy.deepcopy(_metadata_template())
    metadata["databases"] = {database_name(path): metadata["databases"]["__DATABASE__"]}
    return metadata


def make_datasette(path: str | os.PathLike[str]) -> Datasette:
    """A Datasette instance serving `path` with aggregator's metadata."""
    return Datasette([os.fspath(path)], metadata=metadata_for(path), settings=SETTINGS)


def serve(path: str | os.PathLike[str], *, host: str, port: int) -> None:
    """Run Datasette on `path` until interrupted."""
    import uvicorn

    ds = make_datasette(path)
    uvicorn.run(ds.app(), host=host, port=port, log_level="warning")
