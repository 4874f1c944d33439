"""Docs stay true: every command has help, and the README names every command."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from aggregator.cli import cli

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_command_has_help_and_is_documented(name: str) -> None:
    command = cli.commands[name]
    assert command.help and command.help.strip()
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0
    assert " ".join(command.help.split()) in " ".join(result.output.split())
    assert f"aggregator {name}" in README or f"aggregator/{name}" in README, name


def test_readme_states_both_commands() -> None:
    assert "make demo" in README and "make test" in README
    makefile = (Path(__file__).parent.parent / "Makefile").read_text()
    assert "aggregator demo" in makefile and "pytest" in makefile
