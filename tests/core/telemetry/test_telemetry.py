"""Telemetry: typed events, the bus, sink failures, the JSONL sink and the reader."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

from esper.errors import TelemetryError
from esper.registry import Registries
from esper.telemetry import (
    Event,
    TelemetryBus,
    event_from_dict,
    event_to_dict,
    read_events,
    register_event,
)
from esper.telemetry.events import SCHEMA_VERSION, RunEnded, RunStarted, SinkFailed


@register_event("test.ping")
@attrs.frozen(kw_only=True)
class Ping(Event):
    value: float
    label: str = ""


class ListSink:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.closed = 0

    def write(self, event: Event) -> None:
        self.events.append(event)

    def close(self) -> None:
        self.closed += 1


class ExplodingSink(ListSink):
    def write(self, event: Event) -> None:
        raise OSError("disk on fire")


def test_event_round_trips_through_json() -> None:
    event = Ping(value=1.5, label="a", epoch=3, env_id=1, run_id="r1")
    data = json.loads(json.dumps(event_to_dict(event)))
    assert data["type"] == "test.ping"
    assert data["schema"] == SCHEMA_VERSION
    assert event_from_dict(data) == event


def test_reader_rejects_other_schema_versions_and_unknown_types() -> None:
    data = event_to_dict(Ping(value=1.0))
    with pytest.raises(TelemetryError, match="schema version 99"):
        event_from_dict({**data, "schema": 99})
    with pytest.raises(TelemetryError, match="unknown event type 'nope'"):
        event_from_dict({**data, "type": "nope"})
    with pytest.raises(TelemetryError, match=r"invalid test\.ping event"):
        event_from_dict({**data, "surprise": 1})


def test_bus_fans_out_and_stamps_run_id() -> None:
    a, b = ListSink(), ListSink()
    seen: list[Event] = []
    bus = TelemetryBus([("a", a), ("b", b)], run_id="run-7", hook=seen.append)
    bus.emit(Ping(value=2.0))
    assert [e.run_id for e in a.events] == ["run-7"]
    assert b.events == a.events == seen
    assert bus.emitted["test.ping"] == 1
    bus.close()
    bus.close()
    assert a.closed == b.closed == 1


def test_failing_sink_is_counted_reported_and_never_fatal(captured_logs) -> None:
    good = ListSink()
    bus = TelemetryBus([("bad", ExplodingSink()), ("good", good)])
    for i in range(3):
        bus.emit(Ping(value=float(i)))
    assert bus.failures["bad"] == 3
    pings = [e for e in good.events if isinstance(e, Ping)]
    notices = [e for e in good.events if isinstance(e, SinkFailed)]
    assert [p.value for p in pings] == [0.0, 1.0, 2.0]
    assert [n.failures for n in notices] == [1, 2, 3]
    assert "disk on fire" in notices[0].error
    warnings = [log for log in captured_logs if log["log_level"] == "warning"]
    assert len(warnings) == 1  # reported once, counted always


def test_failing_hook_is_counted_like_a_sink() -> None:
    def hook(event: Event) -> None:
        raise RuntimeError("observer bug")

    sink = ListSink()
    bus = TelemetryBus([("s", sink)], hook=hook)
    bus.emit(Ping(value=1.0))
    assert bus.failures["esper_telemetry_event hook"] == 1
    assert isinstance(sink.events[-1], SinkFailed)
    assert sink.events[-1].type == "telemetry.sink_failed"


def _jsonl_sink(esper_manager, run_dir: Path, **options):
    entry = Registries(esper_manager)["telemetry_sinks"].get("jsonl")
    config = entry.spec.load_config_cls()(**options)
    return entry.build(config, run_dir=run_dir)


def test_jsonl_sink_flushes_each_event(esper_manager, tmp_path: Path) -> None:
    sink = _jsonl_sink(esper_manager, tmp_path)
    sink.write(RunStarted(command="run", config={"run": {"seed": 1}}))
    # Readable before close: a crash right now loses nothing already emitted.
    assert [e.type for e in read_events(tmp_path / "events.jsonl")] == ["run.started"]
    sink.write(RunEnded(status="finished", wall_time_s=1.25))
    sink.close()
    events = list(read_events(tmp_path / "events.jsonl"))
    assert isinstance(events[1], RunEnded)
    assert events[1].wall_time_s == 1.25


def test_jsonl_sink_path_cannot_escape_run_dir(esper_manager, tmp_path: Path) -> None:
    from esper.errors import ConfigError

    with pytest.raises(ConfigError, match="outside the run directory"):
        _jsonl_sink(esper_manager, tmp_path, path="../../escape.jsonl")
    absolute = tmp_path.parent / "elsewhere.jsonl"
    sink = _jsonl_sink(esper_manager, tmp_path, path=str(absolute))
    sink.close()
    assert absolute.exists()


def test_reader_names_the_line_of_a_malformed_event(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    good = json.dumps(event_to_dict(Ping(value=1.0)))
    path.write_text(good + "\n" + "{not json\n" + good + "\n", encoding="utf-8")
    with pytest.raises(TelemetryError, match=r"events.jsonl:2:"):
        list(read_events(path))
    assert len(list(read_events(path, strict=False))) == 2
