"""Observations for learned controllers (spec invariants 32 and 33)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from esper.contracts.actions import Op
from esper.engine.tracker import SignalTracker
from esper.errors import EsperError
from esper.lifecycle import Stage, stage_index
from esper.lifecycle.alpha import AlphaMode
from esper.rl.observation import (
    BASE_FEATURES,
    HISTORY,
    NUM_BASE,
    NUM_SLOT,
    SENTINEL,
    SLOT_FEATURES,
    ObservationBuilder,
    feature_size,
    symlog,
    symlog_tensor,
)

from support.signals import signal_batches, signals, view

BLUEPRINTS = [
    "esper.blueprints.cnn:conv_light",
    "esper.blueprints.cnn:noop",
    "thirdparty:tiny_conv",
]
B = {name: i for i, name in enumerate(BASE_FEATURES)}
S = {name: i for i, name in enumerate(SLOT_FEATURES)}


def slot_block(features: torch.Tensor, env: int, slot: int) -> torch.Tensor:
    start = NUM_BASE + slot * NUM_SLOT
    return features[env, start : start + NUM_SLOT]


@settings(max_examples=60, deadline=None)
@given(batch=signal_batches(BLUEPRINTS))
def test_observation_shape_dtype_range_and_empty_slots(batch) -> None:
    """Invariant 32: shape, int64 indices, finite, empty slots zero with -1, one-hot, ranges."""
    slots = len(batch[0].slots)
    builder = ObservationBuilder(BLUEPRINTS, slots)
    obs, states = builder(batch)
    assert obs.features.shape == (len(batch), NUM_BASE + NUM_SLOT * slots)
    assert obs.features.shape[1] == feature_size(slots)
    assert obs.features.dtype == torch.float32
    assert obs.blueprints.shape == (len(batch), slots)
    assert obs.blueprints.dtype == torch.int64
    assert torch.isfinite(obs.features).all()
    for e, sig in enumerate(batch):
        for s, v in enumerate(sig.slots):
            block = slot_block(obs.features, e, s)
            if v.stage is Stage.DORMANT:
                assert torch.count_nonzero(block) == 0
                assert obs.blueprints[e, s] == -1
                continue
            assert block[S["occupied"]] == 1.0
            one_hot = block[S["stage_unknown"] : S["stage_resetting"] + 1]
            assert one_hot.sum() == 1.0
            assert one_hot[S[f"stage_{v.stage.name.lower()}"] - S["stage_unknown"]] == 1.0
            assert obs.blueprints[e, s] == BLUEPRINTS.index(v.blueprint)
            for name in ("contribution", "contribution_velocity"):
                assert -1.0 <= block[S[name]] <= 1.0
            assert states.stage[e, s] == stage_index(v.stage)
            assert bool(states.alpha_holding[e, s]) is v.alpha_holding
            assert states.age[e, s] == v.epochs_total
        assert 0.0 <= obs.features[e, B["epoch_fraction"]] <= 1.0


@settings(max_examples=30, deadline=None)
@given(batch=signal_batches(BLUEPRINTS))
def test_a_batch_encodes_exactly_like_each_env_alone(batch) -> None:
    builder = ObservationBuilder(BLUEPRINTS, len(batch[0].slots))
    obs, _ = builder(batch)
    for e, sig in enumerate(batch):
        alone, _ = builder([sig])
        assert torch.equal(alone.features[0], obs.features[e])
        assert torch.equal(alone.blueprints[0], obs.blueprints[e])


def test_unmeasured_is_distinguishable_from_a_measured_zero() -> None:
    builder = ObservationBuilder(BLUEPRINTS, 2)
    unmeasured = view("r0c0", Stage.HOLDING)
    zero = view(
        "r0c1",
        Stage.HOLDING,
        contribution=0.0,
        contribution_velocity=0.0,
        contribution_age=0,
        gradient_health=0.0,
        previous_gradient_health=0.0,
        gradient_norm=0.0,
        has_vanishing=False,
        has_exploding=False,
        improvement_since_stage_start=0.0,
        total_improvement=0.0,
    )
    obs, _ = builder([signals([unmeasured, zero], loss_history=(), accuracy_history=())])
    a, b = slot_block(obs.features, 0, 0), slot_block(obs.features, 0, 1)
    for flag in ("contribution_measured", "contribution_velocity_measured", "gradient_measured"):
        assert a[S[flag]] == 0.0
        assert b[S[flag]] == 1.0
    assert a[S["accuracy_measured"]] == 0.0
    assert b[S["accuracy_measured"]] == 1.0
    for name in (
        "contribution",
        "contribution_velocity",
        "contribution_freshness",
        "gradient_health",
        "previous_gradient_health",
        "gradient_norm",
        "has_vanishing",
        "has_exploding",
        "improvement_in_stage",
        "total_improvement",
    ):
        assert a[S[name]] == SENTINEL, name
        assert b[S[name]] != SENTINEL, name
    assert b[S["contribution_freshness"]] == 1.0  # measured this epoch
    # An empty history is all sentinels; an observed loss of 0 is not.
    base = obs.features[0]
    assert base[B["loss_history_0"] : B["loss_history_0"] + HISTORY].eq(SENTINEL).all()
    obs0, _ = builder([signals([unmeasured, zero], loss_history=(0.0,), accuracy_history=(0.0,))])
    hist = obs0.features[0, B["loss_history_0"] : B["loss_history_0"] + HISTORY]
    assert hist.tolist() == [SENTINEL] * (HISTORY - 1) + [0.0]
    acc = obs0.features[0, B["accuracy_history_0"] : B["accuracy_history_0"] + HISTORY]
    assert acc.tolist() == [SENTINEL] * (HISTORY - 1) + [0.0]


def test_values_are_scaled_as_documented() -> None:
    builder = ObservationBuilder(BLUEPRINTS, 2)
    seed = view(
        "r0c0",
        Stage.BLENDING,
        blueprint="thirdparty:tiny_conv",
        alpha=0.25,
        alpha_target=0.7,
        alpha_holding=False,
        alpha_steps_total=8,
        alpha_steps_done=2,
        contribution=25.0,
        contribution_velocity=-3.0,
        contribution_age=2,
        gradient_health=0.8,
        gradient_norm=math.e - 1.0,
        epochs_in_stage=5,
        epochs_total=10,
        tempo=6,
        alpha_mode=AlphaMode.UP,
    )
    sig = signals(
        [seed, view("r0c1")],
        epoch=5,
        max_epochs=20,
        val_loss=math.e - 1.0,
        val_accuracy=45.0,
        plateau_epochs=4,
        host_stabilized=True,
        last_action_op=Op.PRUNE,
        last_action_ok=False,
    )
    obs, _ = builder([sig])
    f = obs.features[0]
    assert f[B["epoch_fraction"]] == pytest.approx(0.25)
    assert f[B["val_loss"]] == pytest.approx(1.0 / 7.0)
    assert f[B["val_accuracy"]] == pytest.approx(0.45)
    assert f[B["fraction_blending"]] == pytest.approx(0.5)
    assert f[B["fraction_training"]] == 0.0
    assert f[B["last_op_prune"]] == 1.0
    assert f[B["last_action_ok"]] == 0.0
    assert f[B["last_op_wait"]] == 0.0
    assert f[B["plateau"]] == pytest.approx(0.4)
    assert f[B["host_stabilized"]] == 1.0
    s = slot_block(obs.features, 0, 0)
    assert s[S["alpha"]] == pytest.approx(0.25)
    assert s[S["alpha_target"]] == pytest.approx(0.7)
    assert s[S["alpha_mode"]] == pytest.approx(0.5)
    assert s[S["alpha_time_to_target"]] == pytest.approx(6 / 20)
    assert s[S["contribution"]] == 1.0  # 25 pp clamps at 10 pp
    assert s[S["contribution_velocity"]] == pytest.approx(-0.3)
    assert s[S["contribution_freshness"]] == pytest.approx(0.995**2)
    assert s[S["gradient_norm"]] == pytest.approx(1.0 / 7.0)
    assert s[S["epochs_in_stage"]] == pytest.approx(0.25)
    assert s[S["seed_age"]] == pytest.approx(0.5)
    assert s[S["tempo"]] == pytest.approx(0.5)
    assert obs.blueprints.tolist() == [[2, -1]]


def test_a_diverged_loss_reads_as_the_cap_not_nan() -> None:
    builder = ObservationBuilder(BLUEPRINTS, 1)
    for loss in (math.inf, math.nan):
        obs, _ = builder([signals([view("r0c0")], val_loss=loss, loss_history=(1.0, loss))])
        assert torch.isfinite(obs.features).all()
        assert obs.features[0, B["val_loss"]] == 2.0


def test_wrong_slot_count_and_unknown_blueprint_are_errors() -> None:
    builder = ObservationBuilder(BLUEPRINTS, 2)
    with pytest.raises(EsperError, match="built for 2"):
        builder([signals([view("r0c0")])])
    with pytest.raises(EsperError, match="not in the controller's catalogue"):
        builder([signals([view("r0c0", Stage.TRAINING, blueprint="other:x"), view("r0c1")])])
    with pytest.raises(EsperError, match="at least one"):
        ObservationBuilder(BLUEPRINTS, 0)


def test_the_tracker_reports_the_last_action_and_checkpoints_it() -> None:
    tracker = SignalTracker()
    tracker.record_action(Op.ADVANCE, False)
    state = tracker.state_dict()
    restored = SignalTracker()
    restored.load_state_dict(state)
    assert restored.last_action_op is Op.ADVANCE
    assert restored.last_action_ok is False
    legacy = {k: v for k, v in state.items() if not k.startswith("last_action")}
    restored.load_state_dict(legacy)
    assert restored.last_action_op is None


@given(x=st.floats(-1e6, 1e6), y=st.floats(-1e6, 1e6))
def test_symlog_is_odd_monotone_and_agrees_with_its_tensor_form(x: float, y: float) -> None:
    """Invariant 33."""
    assert symlog(-x) == -symlog(x)
    if x < y:
        assert symlog(x) <= symlog(y)
    t = symlog_tensor(torch.tensor([x], dtype=torch.float64)).item()
    assert t == pytest.approx(symlog(x), rel=1e-12, abs=1e-12)
