"""Typed, versioned telemetry event records and their JSON form.

Every event is a frozen attrs class registered under a dotted ``type`` string
(``"run.started"``). On disk an event is one JSON object per line::

    {"type": "run.started", "schema": 1, "ts": 1764171234.5, "run_id": "...", ...fields}

`read_events` turns such a file back into typed records, checking the schema version and
naming the line of anything malformed. Plugins may define their own events with
`register_event`; their type strings should start with the plugin's name.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import attrs
import cattrs

from esper.errors import TelemetryError

#: Bumped whenever a field is removed or changes meaning; readers refuse other versions.
SCHEMA_VERSION = 1

SEVERITIES = ("debug", "info", "warning", "error", "critical")

_EVENT_TYPES: dict[str, type[Event]] = {}
_converter = cattrs.Converter(forbid_extra_keys=True)

E = TypeVar("E", bound="type[Event]")


@attrs.frozen(kw_only=True)
class Event:
    """Fields every event carries. Subclasses add their payload as more attrs fields."""

    type: ClassVar[str] = "event"
    severity: ClassVar[str] = "info"

    ts: float = attrs.field(factory=time.time)
    run_id: str = ""
    env_id: int | None = None
    epoch: int | None = None


def register_event(event_type: str) -> Callable[[E], E]:
    """Class decorator: register an `Event` subclass under ``event_type``."""

    def decorate(cls: E) -> E:
        if event_type in _EVENT_TYPES and _EVENT_TYPES[event_type] is not cls:
            raise ValueError(
                f"event type {event_type!r} is already registered by {_EVENT_TYPES[event_type]!r}"
            )
        if cls.severity not in SEVERITIES:
            raise ValueError(f"{cls.__name__}.severity must be one of {SEVERITIES}")
        cls.type = event_type
        _EVENT_TYPES[event_type] = cls
        return cls

    return decorate


def event_types() -> dict[str, type[Event]]:
    """Every registered event type (core and plugin-defined)."""
    return dict(_EVENT_TYPES)


def event_to_dict(event: Event) -> dict[str, Any]:
    data: dict[str, Any] = {"type": event.type, "schema": SCHEMA_VERSION}
    data.update(_converter.unstructure(event))
    return data


def event_from_dict(data: dict[str, Any]) -> Event:
    """Structure one decoded JSON object into its typed event record."""
    if not isinstance(data, dict):
        raise TelemetryError(f"event must be a JSON object, got {type(data).__name__}")
    payload = dict(data)
    event_type = payload.pop("type", None)
    schema = payload.pop("schema", None)
    if schema != SCHEMA_VERSION:
        raise TelemetryError(
            f"event schema version {schema!r} is not supported (expected {SCHEMA_VERSION})"
        )
    cls = _EVENT_TYPES.get(event_type) if isinstance(event_type, str) else None
    if cls is None:
        raise TelemetryError(f"unknown event type {event_type!r}")
    try:
        return _converter.structure(payload, cls)
    except Exception as exc:
        details = (
            "; ".join(cattrs.transform_error(exc))
            if isinstance(exc, cattrs.BaseValidationError)
            else str(exc)
        )
        raise TelemetryError(f"invalid {event_type} event: {details}") from exc


#: What JSON counts as whitespace (str.strip would also drop other control characters).
_JSON_SPACE = " \t\r\n"


def read_event_objects(
    path: str | Path, *, strict: bool = True, skipped: list[str] | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """The decoded JSON objects of an ``events.jsonl`` file with their line numbers.

    Each is checked to be an object of the current schema version with a string ``type``; its
    type need not be registered (a file may hold events of plugins not installed here). A bad
    line raises `TelemetryError` naming the file and line; with ``strict=False`` it is skipped,
    and ``skipped`` (if given) collects one ``"<path>:<line>: <why>"`` per skipped line.
    """
    path = Path(path)
    # Bytes, decoded line by line: a line that is not UTF-8 is named like any other bad line.
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
                if not line.strip(_JSON_SPACE):
                    continue
                data = parse_event_object(line)
            except (TelemetryError, UnicodeDecodeError) as exc:
                why = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)
                if strict:
                    raise TelemetryError(f"{path}:{lineno}: {why}") from None
                if skipped is not None:
                    skipped.append(f"{path}:{lineno}: {why}")
                continue
            yield lineno, data


def parse_event_object(line: str) -> dict[str, Any]:
    """One line of an event log as a checked JSON object (see `read_event_objects`).

    Raises `TelemetryError` (without the file and line, which the caller knows) for a line
    that is not an object of the current schema version with a string ``type``. Readers that
    keep their own place in a growing file (``esper watch``) parse line by line with it.
    """
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise TelemetryError(f"not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise TelemetryError("not valid JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise TelemetryError(f"event must be a JSON object, got {type(data).__name__}")
    if data.get("schema") != SCHEMA_VERSION:
        raise TelemetryError(
            f"event schema version {data.get('schema')!r} is not supported "
            f"(expected {SCHEMA_VERSION})"
        )
    if not isinstance(data.get("type"), str):
        raise TelemetryError("event has no string 'type'")
    return data


def read_events(path: str | Path, *, strict: bool = True) -> Iterator[Event]:
    """Read an ``events.jsonl`` file back into typed records.

    A malformed line raises `TelemetryError` naming the file and line number; with
    ``strict=False`` it is skipped instead (a torn last line after a crash is normal).
    """
    for lineno, data in read_event_objects(path, strict=strict):
        try:
            yield event_from_dict(data)
        except TelemetryError as exc:
            if strict:
                raise TelemetryError(f"{Path(path)}:{lineno}: {exc}") from exc


# -- core events -----------------------------------------------------------------------------


@register_event("run.started")
@attrs.frozen(kw_only=True)
class RunStarted(Event):
    """A run began. ``command`` is the CLI command (``run``, ``train``, ...)."""

    command: str
    config: dict[str, Any] = attrs.field(factory=dict)


@register_event("run.ended")
@attrs.frozen(kw_only=True)
class RunEnded(Event):
    """A run ended with ``status`` finished, interrupted or crashed."""

    status: str
    wall_time_s: float


@register_event("run.resumed")
@attrs.frozen(kw_only=True)
class RunResumed(Event):
    """A run continued from a checkpoint."""

    checkpoint: str
    #: Where it continues: the epoch (esper run) or the update (esper train) it stopped after.
    position: int


@register_event("telemetry.sink_failed")
@attrs.frozen(kw_only=True)
class SinkFailed(Event):
    """A sink raised while receiving an event; the run goes on without that event in that sink."""

    severity: ClassVar[str] = "warning"

    sink: str
    error: str
    failures: int
