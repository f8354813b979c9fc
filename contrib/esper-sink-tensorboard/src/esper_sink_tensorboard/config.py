"""The options of the ``tensorboard`` sink (the ``[telemetry.sinks.tensorboard]`` table)."""

from __future__ import annotations

import attrs
from attrs import validators as v


def _not_blank(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value.strip():
        raise ValueError(f"'{attribute.name}' must name a directory, got {value!r}")


#: Longest flush interval: a day. The writer's thread waits this long on a queue, and a wait
#: beyond threading.TIMEOUT_MAX (~292 years) raises OverflowError in that thread.
MAX_FLUSH_SECS = 86_400


def _positive_int(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    # bool is an int subclass; `flush_secs = true` is a mistake, not one second.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"'{attribute.name}' must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"'{attribute.name}' must be >= 1, got {value!r}")


@attrs.frozen(kw_only=True)
class TensorBoardSinkConfig:
    """Options of the TensorBoard sink.

    ``logdir`` is relative to the run directory unless absolute (a relative path may not climb
    out of it). ``flush_secs`` bounds how long a written scalar may wait in memory before it
    reaches the event file; the sink also flushes at the end of the run.
    """

    logdir: str = attrs.field(default="tensorboard", validator=[v.instance_of(str), _not_blank])
    flush_secs: int = attrs.field(default=30, validator=[_positive_int, v.le(MAX_FLUSH_SECS)])
