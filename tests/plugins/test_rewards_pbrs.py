"""Stage potentials and PBRS (spec §10 invariants 13, 14, 22) and the stable logistic (T2-3)."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from esper.contracts.actions import Op
from esper.lifecycle import Stage, legal_targets
from esper_plugins.rewards.config import ContributionRewardConfig
from esper_plugins.rewards.contribution import ContributionReward
from esper_plugins.rewards.shaping import (
    EPOCH_POTENTIAL_CAP,
    INTERVENTION_COSTS,
    STAGE_POTENTIALS,
    StagePotentials,
    logistic,
    potential,
    shaping_bonus,
)

from support.rewards import act, seed, step, view

ALL_STAGES = [s for s in Stage if s is not Stage.UNKNOWN]
GROWTH_PATH = [
    Stage.DORMANT,
    Stage.GERMINATED,
    Stage.TRAINING,
    Stage.BLENDING,
    Stage.HOLDING,
    Stage.FOSSILIZED,
]
gammas = st.sampled_from([1.0, 0.995, 0.99, 0.9, 0.5])


@st.composite
def stage_walks(draw: st.DrawFn, *, start: Stage = Stage.DORMANT) -> list[tuple[Stage, int]]:
    """Post-step states (stage, epochs in stage) of one slot following legal moves."""
    stage, epochs = start, draw(st.integers(0, 3))
    walk = [(stage, epochs)]
    for _ in range(draw(st.integers(1, 25))):
        targets = legal_targets(stage)
        if targets and draw(st.booleans()):
            stage, epochs = draw(st.sampled_from(targets)), 0
        else:
            epochs += 1
        walk.append((stage, epochs))
    return walk


def contexts_for(walk: list[tuple[Stage, int]], slot: str = "r0c0") -> list:
    """One context per move of ``walk``: observed = previous state (one epoch older when
    the stage did not change), after = the next stage."""
    out = []
    for epoch, ((stage, k), (next_stage, _)) in enumerate(itertools.pairwise(walk)):
        observed = (
            view(slot, stage, epochs_in_stage=k) if stage is not Stage.DORMANT else view(slot)
        )
        out.append(step([observed], epoch=epoch + 1, stages_after={slot: next_stage}))
    return out


# -- invariant 13: telescoping ---------------------------------------------------------------


@given(walk=stage_walks(), gamma=gammas, weight=st.floats(0.01, 2.0))
@settings(max_examples=150, deadline=None)
def test_pbrs_telescopes_to_the_discounted_potential_difference(walk, gamma, weight):
    phis = [potential(s, k) for s, k in walk]
    bonuses = [shaping_bonus(a, b, gamma=gamma, weight=weight) for a, b in itertools.pairwise(phis)]
    discounted = math.fsum(gamma**t * f for t, f in enumerate(bonuses))
    expected = weight * (gamma ** len(bonuses) * phis[-1] - phis[0])
    assert discounted == pytest.approx(expected, abs=1e-9)


@given(walk=stage_walks(), gamma=gammas)
@settings(max_examples=150, deadline=None)
def test_stage_tracker_telescopes_over_an_episode(walk, gamma):
    """The tracker's per-step bonuses (state after each step vs the one before) telescope."""
    tracker = StagePotentials(gamma=gamma, weight=0.3)
    bonuses = [tracker(ctx) for ctx in contexts_for(walk)]
    # The tracker's chain: the first observed state, then each state after a step (whose
    # epochs-in-stage is the observed count, or 0 after a transition).
    chain = [walk[0]]
    for (stage, k), (next_stage, _) in itertools.pairwise(walk):
        chain.append((next_stage, k if next_stage is stage else 0))
    phis = [potential(s, k) for s, k in chain]
    discounted = math.fsum(gamma**t * f for t, f in enumerate(bonuses))
    assert discounted == pytest.approx(0.3 * (gamma ** len(bonuses) * phis[-1] - phis[0]), abs=1e-9)
    if gamma == 1.0:
        assert math.fsum(bonuses) == pytest.approx(0.3 * (phis[-1] - phis[0]), abs=1e-12)


@given(stage=st.sampled_from(ALL_STAGES), k=st.integers(0, 50))
def test_same_state_gives_no_bonus_at_gamma_one(stage, k):
    phi = potential(stage, k)
    assert shaping_bonus(phi, phi, gamma=1.0, weight=0.3) == 0.0
    # One step of a tracker on a slot that neither moves nor ages within the step.
    tracker = StagePotentials(gamma=1.0, weight=0.3)
    observed = (
        view("r0c0", stage, epochs_in_stage=k) if stage is not Stage.DORMANT else view("r0c0")
    )
    assert tracker(step([observed], stages_after={"r0c0": stage})) == 0.0


@given(
    gamma=gammas,
    dwell=st.lists(st.integers(0, 8), min_size=3, max_size=3),
    prune_from=st.sampled_from([Stage.GERMINATED, Stage.TRAINING, Stage.BLENDING, Stage.HOLDING]),
)
def test_germinate_prune_cycle_is_net_non_positive(gamma, dwell, prune_from):
    """DORMANT -> ... -> PRUNED -> cooldown -> DORMANT: shaping never pays for the round trip."""
    path = GROWTH_PATH[: GROWTH_PATH.index(prune_from) + 1]
    walk = [(Stage.DORMANT, 0)]
    for stage in path[1:]:
        walk.append((stage, 0))
        for _ in range(dwell[len(walk) % 3]):
            walk.append((stage, walk[-1][1] + 1))
    walk += [(Stage.PRUNED, 0), (Stage.EMBARGOED, 0), (Stage.RESETTING, 0), (Stage.DORMANT, 0)]
    tracker = StagePotentials(gamma=gamma, weight=0.3)
    bonuses = [tracker(ctx) for ctx in contexts_for(walk)]
    assert math.fsum(bonuses) <= 1e-12
    assert math.fsum(gamma**t * f for t, f in enumerate(bonuses)) <= 1e-12


def test_whole_reward_of_an_unproductive_cycle_is_negative():
    """GERMINATE, train 6 epochs with nothing measured, PRUNE: the episode's reward is < 0."""
    reward = ContributionReward(ContributionRewardConfig(disable_terminal_reward=True), gamma=0.995)
    total = 0.0
    total += reward(
        step(
            [view("r0c0")],
            epoch=12,
            action=act(Op.GERMINATE),
            stages_after={"r0c0": Stage.GERMINATED},
        )
    ).total
    total += reward(
        step(
            [seed(Stage.GERMINATED, epochs_in_stage=1, epochs_total=1)],
            epoch=13,
            stages_after={"r0c0": Stage.TRAINING},
        )
    ).total
    for k in range(1, 7):
        total += reward(
            step([seed(Stage.TRAINING, epochs_in_stage=k, epochs_total=k + 1)], epoch=13 + k)
        ).total
    total += reward(
        step(
            [seed(Stage.TRAINING, epochs_in_stage=7, epochs_total=8)],
            epoch=20,
            action=act(Op.PRUNE),
            stages_after={"r0c0": Stage.EMBARGOED},
        )
    ).total
    assert total < 0


def test_tracker_reset_and_new_episode_detection():
    ctx1 = step(
        [seed(Stage.TRAINING, epochs_in_stage=2)], epoch=5, stages_after={"r0c0": Stage.BLENDING}
    )
    ctx2 = step([seed(Stage.BLENDING, epochs_in_stage=1)], epoch=6)
    tracker = StagePotentials(gamma=0.99, weight=0.3)
    first = [tracker(ctx1), tracker(ctx2)]
    tracker.reset()
    assert [tracker(ctx1), tracker(ctx2)] == first
    # An epoch that does not move forward starts a new episode without reset().
    assert [tracker(ctx1), tracker(ctx2)] == first
    # BLENDING entered with 0 epochs, then observed 1 epoch in: 0.3 (0.99 * 3.8 - 3.5).
    assert first[1] == pytest.approx(0.3 * (0.99 * 3.8 - 3.5))


# -- invariant 14 and 22: the potentials themselves -------------------------------------------


def test_stage_potentials_along_the_growth_path():
    base = [potential(s, 0) for s in GROWTH_PATH]
    assert base == [0.0, 1.0, 2.0, 3.5, 5.5, 6.0]
    increments = [b - a for a, b in itertools.pairwise(base)]
    assert all(i > 0 for i in increments)  # monotone up to FOSSILIZED
    assert min(increments) == increments[-1] == 0.5  # FOSSILIZED adds the least
    # The prior invariant "BLENDING has the largest increment" dates from the retired
    # SHADOWING stage between BLENDING and HOLDING; without it HOLDING's step (2.0) is the
    # largest and BLENDING's (1.5) is the largest before it.
    assert increments[2] == 1.5 > max(increments[:2])
    assert increments[3] == max(increments) == 2.0


@given(stage=st.sampled_from(ALL_STAGES), k=st.integers(0, 10_000))
def test_potential_is_non_negative_and_zero_without_a_seed(stage, k):
    phi = potential(stage, k)
    assert phi >= 0
    if stage not in STAGE_POTENTIALS:
        assert phi == 0.0  # DORMANT and the removal cooldown
    else:
        assert STAGE_POTENTIALS[stage] <= phi <= STAGE_POTENTIALS[stage] + EPOCH_POTENTIAL_CAP
        assert potential(stage, k + 1) >= phi


def test_intervention_costs():
    assert INTERVENTION_COSTS[Op.WAIT] == 0.0
    assert all(cost <= 0 for cost in INTERVENTION_COSTS.values())
    assert set(INTERVENTION_COSTS) == set(Op)


# -- T2-3: the attribution discount must not overflow -----------------------------------------


def _old_sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@pytest.mark.parametrize("cf", [-1e6, -1000.0, -237.0, 1e6, 1000.0, -1e308, 1e308])
def test_logistic_is_stable_where_the_old_formula_overflows(cf):
    x = 3.0 * cf
    value = logistic(x)
    assert math.isfinite(value)
    assert value == (1.0 if cf > 0 else 0.0) or 0.0 < value < 1e-300
    if -math.inf < x < -710:
        with pytest.raises(OverflowError):
            _old_sigmoid(x)  # what this test guards against


@given(x=st.floats(-700, 700))
def test_logistic_matches_the_textbook_formula_where_that_works(x):
    assert logistic(x) == pytest.approx(_old_sigmoid(x), rel=1e-12, abs=1e-300)
    assert logistic(-x) == pytest.approx(1.0 - logistic(x), abs=1e-15)


@pytest.mark.parametrize("cf", [-1e6, -1000.0, -300.0, 1e6, 1000.0])
def test_contribution_reward_survives_huge_counterfactuals(cf):
    reward = ContributionReward(gamma=0.995)
    ctx = step(
        [seed(Stage.BLENDING, contribution=5.0, total_improvement=4.0, epochs_in_stage=3)],
        epoch=30,
        cf=cf,
    )
    out = reward(ctx)
    assert all(math.isfinite(v) for v in out.components.values())
    if cf < 0:
        assert out.components["attribution"] == pytest.approx(0.0, abs=1e-100)
    else:
        assert out.components["attribution"] == pytest.approx(2 * 4 * 5 / 9)


def test_logistic_refuses_nan():
    with pytest.raises(ValueError, match="NaN"):
        logistic(float("nan"))
