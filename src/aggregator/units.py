"""One YAML scalar in, a typed value (seconds, bytes, text, URL, ...) or ValueError out.

The generic value parsers behind feeds.yaml. They know nothing of pydantic or of where a
value sits in the file: config.py wraps them as validators and adds the key path and line.
Each ValueError message says what was expected and shows the value as the user wrote it.
"""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "parse_bool",
    "parse_duration",
    "parse_keyword",
    "parse_port",
    "parse_positive_int",
    "parse_regex",
    "parse_seconds",
    "parse_size",
    "parse_text",
    "parse_url",
    "show_value",
]

_DURATION_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}  # fmt: skip
_SIZE_UNITS = {
    "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9,
    "kib": 2**10, "mib": 2**20, "gib": 2**30,
}  # fmt: skip
_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)")
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*")


def show_value(value: Any) -> str:
    """A value as the user wrote it, for messages."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    return str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def parse_duration(value: Any) -> int:
    """Seconds from 3600, "90s", "30m", "2h", "1d", "1h30m"; ValueError otherwise."""
    expected = (
        f"expected a duration like 30m, 2h, 1d or a number of seconds, got {show_value(value)}"
    )
    seconds: float | None = _number(value)
    if isinstance(value, str):
        text = value.strip().lower()
        parts = _DURATION_PART.findall(text)
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        elif parts and "".join(_DURATION_PART.sub("", text).split()) == "":
            if any(unit not in _DURATION_UNITS for _, unit in parts):
                raise ValueError(expected)
            seconds = sum(float(n) * _DURATION_UNITS[unit] for n, unit in parts)
    if seconds is None or seconds <= 0:
        raise ValueError(expected)
    return round(seconds)


def parse_size(value: Any) -> int:
    """Bytes from 1048576, "500KB" (1000s), "15MiB" (1024s), "2 GB"; ValueError otherwise."""
    expected = f"expected a size like 500KB, 15MiB or a number of bytes, got {show_value(value)}"
    size: float | None = _number(value)
    if isinstance(value, str):
        match = _SIZE.fullmatch(value.lower())
        if match and (match[2] or "b") in _SIZE_UNITS:
            size = float(match[1]) * _SIZE_UNITS[match[2] or "b"]
    if size is None or size < 1:
        raise ValueError(expected)
    return round(size)


def parse_text(value: Any) -> str:
    """Stripped non-empty text; numbers become text (`name: 1440` is a fine outlet name)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected non-empty text, got {show_value(value)}")
    return value.strip()


def parse_keyword(value: Any) -> str:
    """Text with at least one letter or digit, inner whitespace collapsed to one space."""
    text = parse_text(value)
    if not any(ch.isalnum() for ch in text):
        raise ValueError(
            f"expected a keyword with at least one letter or digit, got {show_value(text)}"
        )
    return " ".join(text.split())


def parse_regex(value: Any) -> str:
    """A pattern that compiles with re.IGNORECASE, returned as written."""
    pattern = parse_text(value)
    try:
        re.compile(pattern, re.IGNORECASE)
    except (re.error, OverflowError, RecursionError, ValueError) as e:
        raise ValueError(f"invalid regular expression {pattern!r}: {e}") from None
    return pattern


def parse_url(value: Any) -> str:
    """An http:// or https:// URL with a host, returned as written (stripped)."""
    url = parse_text(value)
    try:
        parts = urlsplit(url)
        ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. "http://[::1" (unbalanced IPv6 bracket)
        ok = False
    if not ok:
        raise ValueError(f"expected an http:// or https:// URL with a host, got {show_value(url)}")
    return url


def parse_bool(value: Any) -> bool:
    """true/false, and the YAML 1.1 spellings yes/no/on/off."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("yes", "no", "on", "off"):
        return value.strip().lower() in ("yes", "on")  # YAML 1.1 spellings, read as meant
    raise ValueError(f"expected true or false, got {show_value(value)}")


def parse_positive_int(value: Any) -> int:
    """A whole number >= 1, from a number or a string of digits."""
    number = _number(value)
    if isinstance(value, str) and value.strip().isdigit():
        number = float(value)
    if number is None or number < 1 or not number.is_integer():
        raise ValueError(f"expected a positive whole number, got {show_value(value)}")
    return int(number)


def parse_seconds(value: Any) -> float:
    """Positive seconds as a float, from a number or a duration string ("1m")."""
    number = _number(value)
    if isinstance(value, str):
        number = float(parse_duration(value)) if value.strip() else None
    if number is None or number <= 0:
        raise ValueError(
            f"expected a positive number of seconds (10, 2.5, 1m), got {show_value(value)}"
        )
    return number


def parse_port(value: Any) -> int:
    """A TCP port number, 1 to 65535."""
    if not 1 <= (port := parse_positive_int(value)) <= 65535:
        raise ValueError(f"expected a port number from 1 to 65535, got {show_value(value)}")
    return port
