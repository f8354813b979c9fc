"""Checked, typed access to the fields of one decoded JSON object of a run directory.

The report reads the event log (and ``summary.json``'s history) as plain JSON objects, not as
typed event records, so that events of plugins not installed here can be skipped; `EventFields`
checks each field the report reads and names the file, the line and the field when one is
missing or of the wrong type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from esper.errors import TelemetryError


def is_number(value: object) -> bool:
    """A JSON number: an int or a float, not a boolean (which Python counts as an int)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_int(value: object) -> bool:
    """A JSON integer, not a boolean."""
    return isinstance(value, int) and not isinstance(value, bool)


class EventFields:
    """Typed access to one decoded event, with errors that name the file and line."""

    def __init__(self, data: dict[str, Any], where: str) -> None:
        self.data = data
        self.where = where
        self.type = str(data.get("type"))

    def _fail(self, key: str, what: str) -> TelemetryError:
        return TelemetryError(
            f"{self.where}: {self.type} event: field {key!r} must be {what}, "
            f"got {self.data.get(key)!r}"
        )

    def _get(self, key: str, check: Callable[[object], bool], what: str, optional: bool) -> Any:
        if key not in self.data or (optional and self.data[key] is None):
            if optional:
                return None
            raise TelemetryError(f"{self.where}: {self.type} event: field {key!r} is missing")
        value = self.data[key]
        if not check(value):
            raise self._fail(key, what)
        return value

    def num(self, key: str) -> float:
        return float(self._get(key, is_number, "a number", False))

    def opt_num(self, key: str) -> float | None:
        value = self._get(key, is_number, "a number or null", True)
        return None if value is None else float(value)

    def integer(self, key: str) -> int:
        return int(self._get(key, is_int, "an integer", False))

    def opt_integer(self, key: str) -> int | None:
        value = self._get(key, is_int, "an integer or null", True)
        return None if value is None else int(value)

    def text(self, key: str, default: str | None = None) -> str:
        if default is not None and key not in self.data:
            return default
        return str(self._get(key, lambda v: isinstance(v, str), "a string", False))

    def opt_text(self, key: str) -> str | None:
        value = self._get(key, lambda v: isinstance(v, str), "a string or null", True)
        return None if value is None else str(value)

    def flag(self, key: str, default: bool) -> bool:
        if key not in self.data:
            return default
        return bool(self._get(key, lambda v: isinstance(v, bool), "true or false", False))

    def mapping(self, key: str, check: Callable[[object], bool], what: str) -> dict[str, Any]:
        if key not in self.data:
            return {}
        value = self._get(key, lambda v: isinstance(v, dict), f"an object of {what}", False)
        if not all(isinstance(k, str) and check(v) for k, v in value.items()):
            raise self._fail(key, f"an object of {what}")
        return dict(value)

    def str_list(self, key: str) -> list[str]:
        if key not in self.data:
            return []
        value = self._get(key, lambda v: isinstance(v, list), "a list of strings", False)
        if not all(isinstance(v, str) for v in value):
            raise self._fail(key, "a list of strings")
        return list(value)
