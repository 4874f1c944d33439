"""Bundled sample feeds in, a demo Config pointing at a loopback server out.

The sample folder (package data `aggregator/sample/`) holds nine hand-written outlet feeds about
the Russia–Ukraine war and four real world-news feeds. `sample.yaml` names them under the
placeholder host http://sample.invalid/; `demo_config` swaps in the loopback server's address
and takes topic rules and settings from the bundled starter feeds.yaml.
"""

from __future__ import annotations

import dataclasses
from importlib.resources import as_file, files
from pathlib import Path

from .config import parse_config
from .models import Config

SAMPLE_BASE = "http://sample.invalid/"


def sample_folder() -> Path:
    """The bundled sample folder on disk (package data is installed as plain files)."""
    with as_file(files("aggregator").joinpath("sample")) as path:
        return Path(path)


def starter_text() -> str:
    """The bundled starter feeds.yaml (a copy of the repository's feeds.yaml)."""
    return files("aggregator").joinpath("starter.yaml").read_text(encoding="utf-8")


def demo_config(base_url: str, database: str) -> Config:
    """The sample feeds served from `base_url`, with the starter's topics and settings."""
    sample_path = sample_folder() / "sample.yaml"
    text = sample_path.read_text(encoding="utf-8").replace(SAMPLE_BASE, base_url)
    sample = parse_config(text, str(sample_path))
    starter = parse_config(starter_text(), "starter.yaml")
    return dataclasses.replace(
        starter,
        path=str(sample_path),
        outlets=sample.outlets,
        feeds=sample.feeds,
        settings=dataclasses.replace(starter.settings, database=str(Path(database).resolve())),
    )
