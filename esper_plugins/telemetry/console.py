"""``esper.telemetry.console``: events as short human-readable lines on stderr."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import attrs

from esper.plugin import Event, SinkSpec, event_to_dict, hookimpl

_LEVELS = ("debug", "info", "warning", "error", "critical")


@attrs.frozen(kw_only=True)
class ConsoleSinkConfig:
    level: str = attrs.field(default="warning", validator=attrs.validators.in_(_LEVELS))
    types: tuple[str, ...] = ()  # only these event types (all when empty)


class ConsoleSink:
    def __init__(
        self,
        config: ConsoleSinkConfig,
        *,
        run_dir: Path | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self.min_level = _LEVELS.index(config.level)
        self.types = frozenset(config.types)
        self.stream = stream

    def write(self, event: Event) -> None:
        if _LEVELS.index(event.severity) < self.min_level:
            return
        if self.types and event.type not in self.types:
            return
        data = event_to_dict(event)
        for key in ("type", "schema", "ts", "run_id"):
            data.pop(key, None)
        fields = " ".join(f"{k}={v}" for k, v in data.items() if v is not None)
        print(f"[{event.severity}] {event.type} {fields}", file=self.stream or sys.stderr)

    def close(self) -> None:
        pass


@hookimpl
def esper_telemetry_sinks() -> Iterator[SinkSpec]:
    yield SinkSpec(
        name="console",
        factory=ConsoleSink,
        config_cls=ConsoleSinkConfig,
        summary="Events at or above a severity as one line each on stderr.",
        tags=("human",),
    )
