"""units.py: one scalar in, seconds / bytes / text or ValueError out."""

from __future__ import annotations

import pytest

from aggregator import config
from aggregator.units import parse_duration, parse_size


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(3600, 3600), ("3600", 3600), ("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400),
     ("1h30m", 5400), (" 2 hours ", 7200), ("1.5h", 5400), ("1w", 604800)],
)  # fmt: skip
def test_durations_parse(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value", ["often", "", "5x", "m", "-1m", 0, -5, True, None, [], "1h often"]
)
def test_bad_durations_say_what_was_expected(value):
    with pytest.raises(ValueError, match="expected a duration like 30m, 2h, 1d"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("value", "size"),
    [(1000, 1000), ("500KB", 500_000), ("500kb", 500_000), ("15MiB", 15 * 2**20),
     ("2 GB", 2 * 10**9), ("1.5MiB", 1_572_864), ("4096", 4096), ("10b", 10)],
)  # fmt: skip
def test_sizes_parse(value, size):
    assert parse_size(value) == size


@pytest.mark.parametrize("value", ["15 furlongs", "MiB", "", 0, -1, True, "1.5.5MB"])
def test_bad_sizes_are_refused(value):
    with pytest.raises(ValueError, match="expected a size like 500KB, 15MiB"):
        parse_size(value)


def test_config_still_exports_the_parsers():
    # They lived in config.py before units.py; `from aggregator.config import ...` keeps working.
    assert config.parse_duration is parse_duration
    assert config.parse_size is parse_size
