"""Lifecycle telemetry: the events the state machine emits, their fields and JSON form."""

from __future__ import annotations

import json
from typing import Any

from esper.lifecycle import (
    QualityGates,
    SeedFossilized,
    SeedGateEvaluated,
    SeedGerminated,
    SeedPruned,
    SeedStageChanged,
    SeedState,
    Stage,
)
from esper.telemetry import Event, TelemetryBus, event_from_dict, event_to_dict, event_types


class ListSink:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def write(self, event: Event) -> None:
        self.events.append(event)

    def close(self) -> None:
        pass


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, str | bool | int | float):
        return True
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def test_types_are_registered() -> None:
    registered = event_types()
    for name, cls in [
        ("seed.stage_changed", SeedStageChanged),
        ("seed.gate_evaluated", SeedGateEvaluated),
        ("seed.germinated", SeedGerminated),
        ("seed.fossilized", SeedFossilized),
        ("seed.pruned", SeedPruned),
    ]:
        assert registered[name] is cls


def test_germinate_emits_gate_stage_change_and_germinated() -> None:
    events: list[Event] = []
    SeedState.germinate(
        seed_id="s7", slot_id="r0c1", blueprint_id="attention", emit=events.append, epoch=3,
        seed_params=1234,
    )  # fmt: skip
    assert [e.type for e in events] == [
        "seed.gate_evaluated",
        "seed.stage_changed",
        "seed.germinated",
    ]
    gate, change, germ = events
    assert isinstance(gate, SeedGateEvaluated)
    assert (gate.gate, gate.stage, gate.target_stage, gate.passed, gate.score, gate.strict) == (
        "G0",
        "DORMANT",
        "GERMINATED",
        True,
        1.0,
        False,
    )
    assert gate.checks_passed == ["seed_id", "blueprint_id"]
    assert isinstance(change, SeedStageChanged)
    assert (change.from_stage, change.to_stage, change.epoch, change.seed_id) == (
        "DORMANT",
        "GERMINATED",
        3,
        "s7",
    )
    assert isinstance(germ, SeedGerminated)
    assert (germ.slot_id, germ.blueprint_id, germ.seed_params) == ("r0c1", "attention", 1234)


def test_failed_gate_is_emitted_without_a_stage_change() -> None:
    events: list[Event] = []
    state = SeedState(
        seed_id="s", slot_id="r0c0", blueprint_id="norm", stage=Stage.TRAINING, emit=events.append
    )
    state.advance(QualityGates(), epoch=9)
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, SeedGateEvaluated)
    assert (event.gate, event.passed, event.epoch) == ("G2", False, 9)
    assert event.checks_failed == [
        "min_epochs",
        "gradient_measured",
        "not_exploding",
        "gradient_health",
    ]
    assert "epochs_in_stage=0 < 10" in event.message


def test_fossilize_prune_and_cooldown_events() -> None:
    sink = ListSink()
    bus = TelemetryBus([("list", sink)], run_id="run-1")
    state = SeedState(
        seed_id="s", slot_id="r1c0", blueprint_id="mlp", stage=Stage.HOLDING, emit=bus.emit
    )
    state.record_contribution(4.0)
    state.record_gradient_health(0.95, has_vanishing=False, has_exploding=False)
    state.record_accuracy(70.0)
    state.advance(QualityGates())
    fossil = sink.events[-1]
    assert isinstance(fossil, SeedFossilized)
    assert (fossil.contribution, fossil.epochs_total, fossil.run_id) == (4.0, 1, "run-1")
    change = sink.events[-2]
    assert isinstance(change, SeedStageChanged)
    assert (change.from_stage, change.to_stage, change.epochs_in_stage) == (
        "HOLDING",
        "FOSSILIZED",
        1,
    )

    sink.events.clear()
    other = SeedState(
        seed_id="p", slot_id="r1c1", blueprint_id="mlp", stage=Stage.BLENDING, emit=bus.emit
    )
    other.record_contribution(-1.5)
    other.prune("governor_divergence", initiator="governor", epoch=12)
    change, pruned = sink.events
    assert isinstance(change, SeedStageChanged)
    assert (change.from_stage, change.to_stage) == ("BLENDING", "PRUNED")
    assert isinstance(pruned, SeedPruned)
    assert (pruned.from_stage, pruned.reason, pruned.initiator, pruned.auto) == (
        "BLENDING",
        "governor_divergence",
        "governor",
        True,
    )
    assert (pruned.contribution, pruned.epoch) == (-1.5, 12)

    sink.events.clear()
    for _ in range(7):
        other.tick()
    moves = [
        (e.from_stage, e.to_stage, e.epochs_in_stage)
        for e in sink.events
        if isinstance(e, SeedStageChanged)
    ]
    assert moves == [
        ("PRUNED", "EMBARGOED", 0),
        ("EMBARGOED", "RESETTING", 5),
        ("RESETTING", "DORMANT", 1),
    ]
    assert len(sink.events) == 3


def test_events_are_plain_json_and_round_trip() -> None:
    events: list[Event] = []
    state = SeedState.germinate(
        seed_id="s", slot_id="r0c0", blueprint_id="norm", emit=events.append
    )
    state.advance(QualityGates())
    state.record_contribution(0.5)
    state.prune("low_contribution")
    state.tick()
    assert {e.type for e in events} >= {
        "seed.gate_evaluated",
        "seed.stage_changed",
        "seed.germinated",
        "seed.pruned",
    }
    for event in events:
        data = event_to_dict(event)
        assert _plain(data), data
        back = event_from_dict(json.loads(json.dumps(data)))
        assert back == event
