"""The loss-primary reward: sign convention (spec §13), clipping, rent, PBRS, terminal."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from esper.lifecycle import Stage
from esper_plugins.rewards.config import LossRewardConfig
from esper_plugins.rewards.loss import COMPONENTS, LossReward

from support.rewards import seed, step, view


def loss_reward(**options: object) -> LossReward:
    return LossReward(LossRewardConfig(**options), gamma=0.995)


def falling(old: float, new: float, **kwargs: object):
    """A step whose validation loss went from ``old`` to ``new``."""
    return step(
        [view("r0c0")],
        epoch=10,
        val_loss=new,
        loss_delta=old - new,
        loss_history=(old, new),
        **kwargs,
    )


def test_falling_loss_is_rewarded_and_rising_loss_penalised():
    reward = loss_reward()
    improved = reward(falling(1.00, 0.95)).components["loss_delta"]
    regressed = reward(falling(0.95, 1.00)).components["loss_delta"]
    assert improved == pytest.approx(5.0)  # z = -0.05 / 0.05 = -1 -> +5
    assert regressed == pytest.approx(-2.5)  # z = +1, halved -> -2.5
    assert reward(falling(1.0, 1.0)).components["loss_delta"] == 0.0


@given(delta=st.floats(-10, 10, allow_nan=False))
def test_loss_term_sign_and_bounds(delta):
    """``delta`` is Signals.loss_delta (old - new): positive means the loss fell."""
    term = loss_reward().loss_term(delta)
    assert -12.5 <= term <= 25.0  # |z| <= 5; regressions halved
    if delta > 0:
        assert term > 0
    elif delta < 0:
        assert term < 0


def test_loss_term_clips_and_treats_nan_as_the_worst_regression():
    reward = loss_reward()
    assert reward.loss_term(100.0) == 25.0
    assert reward.loss_term(-100.0) == -12.5
    assert reward.loss_term(math.nan) == -12.5
    assert reward.loss_term(-math.inf) == -12.5


def test_rent_skips_young_seeds():
    slots = [
        seed(Stage.TRAINING, "r0c0", epochs_total=2),
        seed(Stage.BLENDING, "r0c1", epochs_total=4),
    ]
    ctx = step(
        slots,
        epoch=10,
        host_params=100_000,
        seed_params={"r0c0": 50_000, "r0c1": 10_000},
        loss_delta=0.0,
    )
    assert loss_reward()(ctx).components["compute_rent"] == pytest.approx(-0.05 * math.log1p(0.1))


def test_pbrs_uses_base_potentials_only():
    ctx = step(
        [seed(Stage.TRAINING, epochs_in_stage=7)],
        epoch=10,
        loss_delta=0.0,
        stages_after={"r0c0": Stage.BLENDING},
    )
    assert loss_reward()(ctx).components["pbrs"] == pytest.approx(0.1 * (0.995 * 3.5 - 2.0))
    assert loss_reward(disable_pbrs=True)(ctx).components["pbrs"] == 0.0


def test_terminal_term():
    reward = loss_reward(target_loss=0.5)
    last = dict(epoch=20, max_epochs=20, loss_delta=0.0, initial_loss=2.0)
    assert reward(step([view("r0c0")], val_loss=1.25, **last)).components["terminal"] == 0.5
    assert reward(step([view("r0c0")], val_loss=0.1, **last)).components["terminal"] == 1.0
    assert reward(step([view("r0c0")], val_loss=3.0, **last)).components["terminal"] == 0.0
    assert reward(step([view("r0c0")], val_loss=math.inf, **last)).components["terminal"] == 0.0
    not_last = step([view("r0c0")], val_loss=1.25, epoch=19, max_epochs=20, initial_loss=2.0)
    assert reward(not_last).components["terminal"] == 0.0
    assert (
        reward(step([view("r0c0")], val_loss=1.0, epoch=20, max_epochs=20)).components["terminal"]
        == 0.0
    )  # no initial loss known


def test_components_are_stable_and_sum_to_the_total():
    out = loss_reward()(falling(1.0, 0.9, max_epochs=10, initial_loss=2.0))
    assert tuple(out.components) == COMPONENTS
    assert out.total == math.fsum(out.components.values())
