"""The sparse (and MINIMAL) and simplified rewards (spec §5.4; §10 invariant 20)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from esper.contracts.actions import Op
from esper.lifecycle import Stage
from esper_plugins.rewards.config import SimplifiedRewardConfig, SparseRewardConfig
from esper_plugins.rewards.simplified import SimplifiedReward
from esper_plugins.rewards.sparse import SparseReward

from support.rewards import act, seed, step, view


def sparse(**options: object) -> SparseReward:
    return SparseReward(SparseRewardConfig(**options), gamma=0.995)


def final(acc: float, fossil_params: int, *, epoch: int = 20, **kwargs: object):
    return step(
        [seed(Stage.FOSSILIZED, "r0c0"), seed(Stage.TRAINING, "r0c1")],
        epoch=epoch,
        max_epochs=20,
        val_accuracy=acc,
        seed_params={"r0c0": fossil_params, "r0c1": 10**6},
        **kwargs,
    )


def test_sparse_numbers():
    # 0.8 - 0.1 x 250k / 500k = 0.75 (the TRAINING seed's parameters are not counted).
    assert sparse()(final(80.0, 250_000)).total == pytest.approx(0.75)
    assert sparse(scale=0.5)(final(80.0, 250_000)).total == pytest.approx(0.375)
    assert sparse()(final(10.0, 10**9)).total == -1.0  # clipped


@given(
    acc=st.floats(0, 100),
    params=st.integers(0, 10**8),
    epoch=st.integers(0, 19),
    scale=st.floats(0.1, 10),
)
def test_sparse_is_zero_before_the_end_and_bounded_at_it(acc, params, epoch, scale):
    reward = sparse(scale=scale)
    assert reward(final(acc, params, epoch=epoch)).total == 0.0
    assert abs(reward(final(acc, params)).total) <= scale


@given(
    a1=st.floats(0, 100), a2=st.floats(0, 100), p1=st.integers(0, 10**7), p2=st.integers(0, 10**7)
)
def test_sparse_is_monotone_in_accuracy_and_efficiency(a1, a2, p1, p2):
    reward = sparse()
    lo_acc, hi_acc = sorted((a1, a2))
    assert reward(final(lo_acc, p1)).total <= reward(final(hi_acc, p1)).total
    few, many = sorted((p1, p2))
    assert reward(final(a1, many)).total <= reward(final(a1, few)).total


@given(age=st.integers(0, 20), epoch=st.integers(0, 20))
def test_minimal_is_sparse_plus_an_early_prune_penalty(age, epoch):
    ctx = step(
        [seed(Stage.TRAINING)],
        epoch=epoch,
        max_epochs=20,
        action=act(Op.PRUNE),
        germinated_at={"r0c0": epoch - age},
    )
    minimal = sparse(early_prune_penalty=0.1)(ctx).total
    expected = sparse()(ctx).total - (0.1 if age < 5 else 0.0)
    assert minimal == pytest.approx(expected)


# -- simplified ------------------------------------------------------------------------------


def simplified(**options: object) -> SimplifiedReward:
    return SimplifiedReward(SimplifiedRewardConfig(**options), gamma=0.995)


def test_simplified_costs_every_executed_non_wait_action():
    empty = [view("r0c0")]
    reward = simplified(disable_pbrs=True)
    assert reward(step(empty, epoch=5)).total == 0.0
    germinate = step(
        empty, epoch=6, action=act(Op.GERMINATE), stages_after={"r0c0": Stage.GERMINATED}
    )
    assert reward(germinate).total == -0.01
    refused = step(empty, epoch=7, action=act(Op.GERMINATE), ok=False)
    assert reward(refused).total == 0.0


def test_simplified_pbrs_and_terminal():
    germinate = step(
        [view("r0c0")], epoch=6, action=act(Op.GERMINATE), stages_after={"r0c0": Stage.GERMINATED}
    )
    assert simplified()(germinate).components["pbrs"] == pytest.approx(0.3 * 0.995)
    slots = [
        seed(Stage.FOSSILIZED, "r0c0", contribution=2.0),
        seed(Stage.FOSSILIZED, "r0c1", contribution=0.2),
        seed(Stage.HOLDING, "r0c2", contribution=5.0),
    ]
    last = step(slots, epoch=20, max_epochs=20, val_accuracy=60.0)
    out = simplified()(last).components
    assert out["terminal_accuracy"] == pytest.approx(1.8)
    assert out["terminal_fossils"] == 2.0  # one contributing fossil
    assert math.fsum(out.values()) == simplified()(last).total
    off = simplified(disable_terminal_reward=True)(last).components
    assert off["terminal_accuracy"] == off["terminal_fossils"] == 0.0
