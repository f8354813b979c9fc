"""The options of the ``template:csv`` sink (the ``[telemetry.sinks."template:csv"]`` table).

esper structures the config table into this frozen attrs class with cattrs: unknown keys and
values of the wrong type are rejected before the run starts, and the validators below reject
values of the right type that make no sense. Each problem is reported with its key path.
"""

from __future__ import annotations

import attrs
from attrs import validators as v

#: What an event type looks like: dotted lower-case words, e.g. "run.started".
EVENT_TYPE_PATTERN = r"^[a-z0-9_]+(\.[a-z0-9_]+)*$"


def _not_blank(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value.strip():
        raise ValueError(f"'{attribute.name}' must name a file, got {value!r}")


@attrs.frozen(kw_only=True)
class CsvSinkConfig:
    """Options of the CSV sink.

    ``path`` is relative to the run directory unless absolute (it may not climb out of the run
    directory). ``types`` keeps only the listed event types; empty keeps every event.
    """

    path: str = attrs.field(default="metrics.csv", validator=[v.instance_of(str), _not_blank])
    types: tuple[str, ...] = attrs.field(
        default=(),
        validator=v.deep_iterable(
            member_validator=[v.instance_of(str), v.matches_re(EVENT_TYPE_PATTERN)],
            iterable_validator=v.instance_of(tuple),
        ),
    )
