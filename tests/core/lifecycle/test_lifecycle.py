"""Seed stages, the transition table, SeedState operations, cooldown timing and persistence."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from esper.errors import EsperError
from esper.lifecycle import (
    ACTIVE_STAGES,
    FAILURE_STAGES,
    ONE_HOT_ORDER,
    STATE_SCHEMA_VERSION,
    TERMINAL_STAGES,
    TRANSITIONS,
    IllegalTransition,
    LifecycleError,
    QualityGates,
    SeedState,
    Stage,
    check_transition,
    default_target,
    is_active,
    is_failure,
    is_legal_transition,
    is_terminal,
    legal_targets,
    one_hot,
    stage_index,
)
from esper.lifecycle.alpha import AlphaCurve, AlphaMode

S = Stage
SPEC_TABLE = {
    S.UNKNOWN: (S.DORMANT,),
    S.DORMANT: (S.GERMINATED,),
    S.GERMINATED: (S.TRAINING, S.PRUNED),
    S.TRAINING: (S.BLENDING, S.PRUNED),
    S.BLENDING: (S.HOLDING, S.PRUNED),
    S.HOLDING: (S.FOSSILIZED, S.BLENDING, S.PRUNED),
    S.FOSSILIZED: (),
    S.PRUNED: (S.EMBARGOED,),
    S.EMBARGOED: (S.RESETTING,),
    S.RESETTING: (S.DORMANT,),
}
ALL_PAIRS = [(a, b) for a in Stage for b in Stage]
LEGAL = [(a, b) for a, b in ALL_PAIRS if b in SPEC_TABLE[a]]
ILLEGAL = [(a, b) for a, b in ALL_PAIRS if b not in SPEC_TABLE[a]]


def make(stage: Stage = Stage.DORMANT, **fields: object) -> SeedState:
    base: dict[str, object] = {"seed_id": "s1", "slot_id": "r0c1", "blueprint_id": "norm"}
    base.update(fields)
    return SeedState(stage=stage, **base)  # type: ignore[arg-type]


def ready_for_blending(state: SeedState) -> None:
    for _ in range(10):
        state.record_accuracy(50.0)
    state.record_gradient_health(0.9, has_vanishing=False, has_exploding=False)


# -- stages ----------------------------------------------------------------------------------


def test_stage_values_and_table_match_the_spec() -> None:
    assert [(s.name, s.value) for s in Stage] == [
        ("UNKNOWN", 0),
        ("DORMANT", 1),
        ("GERMINATED", 2),
        ("TRAINING", 3),
        ("BLENDING", 4),
        ("HOLDING", 6),
        ("FOSSILIZED", 7),
        ("PRUNED", 8),
        ("EMBARGOED", 9),
        ("RESETTING", 10),
    ]
    assert dict(TRANSITIONS) == SPEC_TABLE
    assert default_target(S.HOLDING) is S.FOSSILIZED
    assert default_target(S.FOSSILIZED) is None
    assert legal_targets(S.TRAINING) == (S.BLENDING, S.PRUNED)
    with pytest.raises(TypeError):
        TRANSITIONS[S.FOSSILIZED] = (S.PRUNED,)  # type: ignore[index]


@pytest.mark.parametrize(("source", "target"), LEGAL)
def test_every_legal_transition_works(source: Stage, target: Stage) -> None:
    assert is_legal_transition(source, target)
    check_transition(source, target)
    state = make(source, epochs_in_stage=4, current_accuracy=61.0)
    state.transition(target, reason="test")
    assert state.stage is target
    assert state.previous_stage is source
    assert state.previous_epochs_in_stage == 4
    assert state.epochs_in_stage == 0
    assert state.accuracy_at_stage_start == 61.0


@pytest.mark.parametrize(("source", "target"), ILLEGAL)
def test_every_illegal_transition_raises(source: Stage, target: Stage) -> None:
    assert not is_legal_transition(source, target)
    state = make(source, epochs_in_stage=4)
    before = state.to_dict()
    with pytest.raises(IllegalTransition) as info:
        state.transition(target)
    err = info.value
    assert (err.from_stage, err.to_stage, err.seed_id) == (source, target, "s1")
    assert f"{source.name} -> {target.name}" in str(err)
    assert "seed 's1'" in str(err)
    assert isinstance(err, LifecycleError)
    assert isinstance(err, EsperError)
    assert state.to_dict() == before  # a refused move changes nothing


@pytest.mark.parametrize("retired", [5, "5", "SHADOWING", "shadowing", " 5 "])
def test_retired_stage_five_is_rejected_everywhere(retired: object) -> None:
    with pytest.raises(LifecycleError, match="retired"):
        Stage.parse(retired)
    with pytest.raises(LifecycleError, match="retired"):
        make(Stage.TRAINING).transition(retired)  # type: ignore[arg-type]
    with pytest.raises(LifecycleError, match="retired"):
        make(retired)  # type: ignore[arg-type]
    data = make(Stage.TRAINING).to_dict()
    data["previous_stage"] = retired
    with pytest.raises(LifecycleError, match=r"previous_stage.*retired"):
        SeedState.from_dict(data)
    with pytest.raises(ValueError, match="not a valid Stage"):
        Stage(5)


@pytest.mark.parametrize("bad", [11, -1, "SPROUTING", True, 3.0, None, b"3"])
def test_parse_rejects_unknown_values(bad: object) -> None:
    with pytest.raises(LifecycleError):
        Stage.parse(bad)


def test_parse_accepts_members_ints_and_names() -> None:
    assert Stage.parse(S.HOLDING) is S.HOLDING
    assert Stage.parse(6) is S.HOLDING
    assert Stage.parse("holding") is S.HOLDING
    assert Stage.parse(" 10 ") is S.RESETTING


def test_predicates() -> None:
    assert {s for s in Stage if is_terminal(s)} == {S.FOSSILIZED} == TERMINAL_STAGES
    assert (
        {s for s in Stage if is_active(s)}
        == {S.TRAINING, S.BLENDING, S.HOLDING, S.FOSSILIZED}
        == ACTIVE_STAGES
    )
    assert {s for s in Stage if is_failure(s)} == {S.PRUNED, S.EMBARGOED, S.RESETTING}
    assert {S.PRUNED, S.EMBARGOED, S.RESETTING} == FAILURE_STAGES
    for stage in TERMINAL_STAGES:
        assert TRANSITIONS[stage] == ()


def test_one_hot_order_is_contiguous_not_by_value() -> None:
    assert tuple(Stage) == ONE_HOT_ORDER
    assert stage_index(S.BLENDING) == 4
    assert stage_index(S.HOLDING) == 5  # value 6
    assert stage_index(S.RESETTING) == 9  # value 10
    for stage in Stage:
        vector = one_hot(stage)
        assert len(vector) == 10
        assert sum(vector) == 1.0
        assert vector[stage_index(stage)] == 1.0


# -- SeedState operations -------------------------------------------------------------------


def test_germinate_and_full_happy_path() -> None:
    gates = QualityGates()
    state = SeedState.germinate(seed_id="s1", slot_id="r0c1", blueprint_id="norm", seed_params=42)
    assert (state.stage, state.previous_stage) == (S.GERMINATED, S.DORMANT)
    state.record_accuracy(40.0)
    assert state.advance(gates).passed  # G1
    assert state.stage is S.TRAINING

    ready_for_blending(state)
    assert state.epochs_in_stage == 10
    assert state.advance(gates).passed  # G2
    assert state.stage is S.BLENDING
    assert state.previous_epochs_in_stage == 10
    assert state.accuracy_at_blend_start == 50.0

    state.alpha_controller.retarget(1.0, 3, AlphaCurve.SIGMOID)
    held = state.advance(gates)  # G3 fails while blending
    assert not held.passed
    assert state.stage is S.BLENDING
    for _ in range(3):
        state.alpha_controller.step()
        state.record_accuracy(55.0)
    assert state.advance(gates).passed
    assert state.stage is S.HOLDING
    assert state.alpha == 1.0

    assert not state.advance(gates).passed  # G5: no contribution yet
    state.record_contribution(2.5)
    state.record_accuracy(56.0)
    assert state.advance(gates, "FOSSILIZED").passed
    assert state.stage is S.FOSSILIZED
    assert state.epochs_total == 15
    assert state.epochs_by_stage == {S.GERMINATED: 1, S.TRAINING: 10, S.BLENDING: 3, S.HOLDING: 1}
    assert state.best_accuracy == 56.0
    assert state.total_improvement == 16.0
    with pytest.raises(IllegalTransition, match="terminal"):
        state.advance(gates)
    with pytest.raises(IllegalTransition, match="fossilized seed is permanent"):
        state.prune("policy")


def test_germinate_refuses_empty_blueprint() -> None:
    with pytest.raises(LifecycleError, match="G0 failed: blueprint_id"):
        SeedState.germinate(seed_id="s1", slot_id="r0c1", blueprint_id="")


def test_advance_refuses_non_gated_moves() -> None:
    gates = QualityGates()
    with pytest.raises(LifecycleError, match=r"use prune\(\)"):
        make(S.TRAINING).advance(gates, S.PRUNED)
    with pytest.raises(LifecycleError, match=r"use transition\(\)"):
        make(S.HOLDING).advance(gates, S.BLENDING)
    with pytest.raises(LifecycleError, match=r"tick\(\)"):
        make(S.PRUNED).advance(gates)
    with pytest.raises(IllegalTransition):
        make(S.TRAINING).advance(gates, S.HOLDING)


def test_failed_gate_leaves_state_unchanged() -> None:
    state = make(S.TRAINING, epochs_in_stage=3)
    before = state.to_dict()
    result = state.advance(QualityGates())
    assert not result.passed
    assert state.to_dict() == before


def test_entering_holding_snaps_alpha_to_exactly_one() -> None:
    state = make(S.BLENDING)
    state.alpha_controller.reset(1.0 - 5e-7)  # within G3's tolerance
    assert state.advance(QualityGates()).passed
    assert state.stage is S.HOLDING
    assert (state.alpha, state.alpha_controller.target) == (1.0, 1.0)


def test_holding_back_to_blending_for_retarget() -> None:
    state = make(S.HOLDING)
    state.alpha_controller.reset(1.0)
    state.transition(S.BLENDING)
    state.alpha_controller.retarget(0.5, 2)
    assert (state.stage, state.alpha_controller.mode) == (S.BLENDING, AlphaMode.DOWN)


def test_prune_zeroes_alpha_and_marks_auto_reasons() -> None:
    state = make(S.BLENDING)
    state.alpha_controller.retarget(1.0, 5)
    state.alpha_controller.step()
    state.prune("governor_nan", initiator="governor")
    assert state.stage is S.PRUNED
    assert (state.alpha, state.alpha_controller.mode) == (0.0, AlphaMode.HOLD)
    assert (state.prune_reason, state.prune_initiator, state.auto_pruned) == (
        "governor_nan",
        "governor",
        True,
    )
    other = make(S.TRAINING)
    other.prune("low_contribution")
    assert other.auto_pruned is False
    with pytest.raises(ValueError, match="reason"):
        make(S.TRAINING).prune(" ")
    for stage in (S.DORMANT, S.PRUNED, S.EMBARGOED, S.RESETTING, S.UNKNOWN):
        with pytest.raises(IllegalTransition):
            make(stage).prune("policy")


# -- cooldown -------------------------------------------------------------------------------


def test_default_cooldown_timeline() -> None:
    state = make(S.TRAINING)
    state.prune("policy")
    timeline = [state.tick() for _ in range(8)]
    assert timeline == [S.EMBARGOED, None, None, None, None, S.RESETTING, S.DORMANT, None]
    assert state.stage is S.DORMANT
    assert state.previous_stage is S.RESETTING
    assert state.epochs_by_stage == {S.EMBARGOED: 5, S.RESETTING: 1}
    with pytest.raises(LifecycleError, match="new SeedState"):
        state.advance(QualityGates())


@pytest.mark.parametrize("embargo", [1, 3, 5, 8])
@pytest.mark.parametrize("reset", [1, 2])
def test_pruned_before_tick_t_is_dormant_after_exactly_1_plus_n_plus_r_ticks(
    embargo: int, reset: int
) -> None:
    state = make(S.HOLDING, embargo_ticks=embargo, reset_ticks=reset)
    state.prune("policy")
    ticks = 0
    while state.stage is not S.DORMANT:
        # The trainer records accuracy for every slot with state; it must not shorten the cooldown.
        state.record_accuracy(70.0)
        state.tick()
        ticks += 1
        assert ticks <= 20
        # tick 1 enters EMBARGOED; ticks 2..N+1 count the embargo; the next R count the reset
        expected = S.EMBARGOED if ticks <= embargo else S.RESETTING
        if state.stage is not S.DORMANT:
            assert state.stage is expected
    assert ticks == 1 + embargo + reset


def test_tick_does_nothing_in_live_stages() -> None:
    for stage in (S.DORMANT, S.GERMINATED, S.TRAINING, S.BLENDING, S.HOLDING, S.FOSSILIZED):
        state = make(stage, epochs_in_stage=2)
        before = state.to_dict()
        assert state.tick() is None
        assert state.to_dict() == before


def test_cooldown_lengths_validated() -> None:
    with pytest.raises(ValueError, match="embargo_ticks"):
        make(embargo_ticks=0)
    with pytest.raises(ValueError, match="reset_ticks"):
        make(reset_ticks=True)


# -- measurements ---------------------------------------------------------------------------


@given(st.lists(st.floats(min_value=0.0, max_value=100.0), min_size=1, max_size=40))
def test_best_accuracy_is_the_running_max_and_epochs_count_records(values: list[float]) -> None:
    state = make(S.TRAINING)
    best_seen = []
    for i, value in enumerate(values, start=1):
        state.record_accuracy(value)
        assert state.epochs_total == i
        assert state.epochs_in_stage == i
        best_seen.append(state.best_accuracy)
        assert state.best_accuracy == max(values[:i])
    assert best_seen == sorted(best_seen)  # monotone
    assert state.accuracy_at_start == values[0]
    assert state.accuracy_at_stage_start == values[0]
    assert state.improvement_since_stage_start == values[-1] - values[0]


def test_record_accuracy_rejects_non_finite_and_ignores_dormant() -> None:
    state = make(S.TRAINING)
    for bad in (math.nan, math.inf, True, "50"):
        with pytest.raises(ValueError, match="validation accuracy must be"):
            state.record_accuracy(bad)  # type: ignore[arg-type]
    dormant = make(S.DORMANT)
    dormant.record_accuracy(10.0)
    assert (dormant.epochs_total, dormant.current_accuracy) == (0, None)


def test_stage_baseline_resets_on_transition() -> None:
    state = make(S.GERMINATED)
    state.record_accuracy(30.0)
    state.transition(S.TRAINING)
    state.record_accuracy(33.5)
    assert state.improvement_since_stage_start == 3.5
    assert state.total_improvement == 3.5
    state.transition(S.BLENDING)
    assert state.improvement_since_stage_start == 0.0
    assert state.accuracy_at_blend_start == 33.5


def test_gradient_measurements() -> None:
    state = make(S.TRAINING)
    assert not state.gradient_measured
    state.record_gradient_health(0.8, has_vanishing=False, has_exploding=False, norm=1.5)
    state.record_gradient_health(0.6, has_vanishing=True, has_exploding=False)
    assert (state.gradient_health, state.previous_gradient_health) == (0.6, 0.8)
    assert (state.has_vanishing, state.gradient_norm) == (True, None)
    for bad in (math.nan, 1.2, -0.1):
        with pytest.raises(ValueError, match="gradient health"):
            state.record_gradient_health(bad, has_vanishing=False, has_exploding=False)
    with pytest.raises(ValueError, match="gradient norm"):
        state.record_gradient_health(0.5, has_vanishing=False, has_exploding=True, norm=math.inf)
    assert state.gradient_health == 0.6  # refused measurements change nothing


def test_gradient_ratio_ema() -> None:
    state = make(S.TRAINING)
    assert state.record_gradient_ratio(0.2) == 0.2  # first value initialises, no bias to 0
    assert state.record_gradient_ratio(0.4) == pytest.approx(0.9 * 0.2 + 0.1 * 0.4)
    with pytest.raises(ValueError, match="ratio must be >= 0"):
        state.record_gradient_ratio(-1.0)


def test_contribution_velocity_and_age() -> None:
    state = make(S.BLENDING)
    assert (state.contribution_velocity, state.contribution_age) == (None, None)
    state.record_contribution(1.0)
    state.record_accuracy(50.0)
    state.record_accuracy(50.0)
    state.record_contribution(2.5)
    state.record_accuracy(50.0)
    assert state.contribution_velocity == 1.5
    assert state.contribution_age == 1
    with pytest.raises(ValueError, match="contribution must be finite"):
        state.record_contribution(math.nan)


# -- persistence ----------------------------------------------------------------------------


def busy_state() -> SeedState:
    state = SeedState.germinate(seed_id="ep3_env1_seed_2", slot_id="r0c2", blueprint_id="lora")
    state.transition(S.TRAINING)
    ready_for_blending(state)
    state.record_gradient_ratio(0.3)
    state.transition(S.BLENDING)
    state.record_contribution(1.25)
    state.alpha_controller.retarget(0.7, 5, AlphaCurve.COSINE)
    state.alpha_controller.step()
    state.alpha_controller.step()
    return state


def test_round_trip_through_json() -> None:
    state = busy_state()
    data = state.to_dict()
    assert data["schema"] == STATE_SCHEMA_VERSION
    assert data["stage"] == "BLENDING"
    assert data["epochs_by_stage"] == {"TRAINING": 10}
    restored = SeedState.from_dict(json.loads(json.dumps(data)))
    assert restored == state
    assert restored.to_dict() == data
    # the restored controller continues the same trajectory
    assert [restored.alpha_controller.step() for _ in range(3)] == [
        state.alpha_controller.step() for _ in range(3)
    ]
    assert restored.alpha == state.alpha == 0.7


def test_from_dict_errors_are_clear() -> None:
    data = busy_state().to_dict()
    with pytest.raises(LifecycleError, match="schema version 2 is not supported"):
        SeedState.from_dict(data | {"schema": 2})
    with pytest.raises(LifecycleError, match="schema version None"):
        SeedState.from_dict({k: v for k, v in data.items() if k != "schema"})
    missing = {k: v for k, v in data.items() if k not in ("gradient_ratio", "stage")}
    with pytest.raises(LifecycleError, match=r"missing keys \['gradient_ratio', 'stage'\]"):
        SeedState.from_dict(missing)
    with pytest.raises(LifecycleError, match=r"unknown keys \['extra'\]"):
        SeedState.from_dict(data | {"extra": 1})
    with pytest.raises(LifecycleError, match="'epochs_total'"):
        SeedState.from_dict(data | {"epochs_total": -3})
    with pytest.raises(LifecycleError, match="'current_accuracy'"):
        SeedState.from_dict(data | {"current_accuracy": "high"})
    with pytest.raises(LifecycleError, match="'alpha_controller'"):
        SeedState.from_dict(data | {"alpha_controller": {"schema": 9}})
    with pytest.raises(LifecycleError, match=r"'epochs_by_stage'.*retired"):
        SeedState.from_dict(data | {"epochs_by_stage": {"5": 1}})
    with pytest.raises(
        LifecycleError, match=r"invalid: SeedState\.embargo_ticks must be an int >= 1"
    ):
        SeedState.from_dict(data | {"embargo_ticks": 0})
    with pytest.raises(LifecycleError, match="must be a dict"):
        SeedState.from_dict("state")


@settings(max_examples=60)
@given(
    st.lists(st.sampled_from(["acc", "grad", "contrib", "advance", "prune", "tick"]), max_size=40)
)
def test_random_operation_sequences_keep_invariants(ops: list[str]) -> None:
    gates = QualityGates()
    state = SeedState.germinate(seed_id="s", slot_id="r0c0", blueprint_id="norm")
    for i, op in enumerate(ops):
        stage = state.stage
        if op == "acc":
            state.record_accuracy(float(i))
        elif op == "grad":
            state.record_gradient_health(0.9, has_vanishing=False, has_exploding=False)
        elif op == "contrib":
            state.record_contribution(2.0)
        elif op == "advance":
            try:
                state.advance(gates)
            except LifecycleError:
                assert stage in FAILURE_STAGES | TERMINAL_STAGES or stage is S.DORMANT
        elif op == "prune":
            if S.PRUNED in TRANSITIONS[stage]:
                state.prune("policy")
            else:
                with pytest.raises(IllegalTransition):
                    state.prune("policy")
        else:
            state.tick()
        if state.stage is not stage:
            assert state.stage in TRANSITIONS[stage]
            assert state.previous_stage is stage
        if state.stage in FAILURE_STAGES:
            assert state.alpha == 0.0
        assert SeedState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


def test_modules_do_not_import_torch() -> None:
    code = (
        "import sys\n"
        "import esper.lifecycle.alpha, esper.lifecycle, esper.lifecycle.state, esper.lifecycle.gates\n"
        "import esper.lifecycle.events, esper.lifecycle.stages\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"
