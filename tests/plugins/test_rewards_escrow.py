"""The ESCROW mode of the contribution reward (spec §5.4 ESCROW; §10 invariant 21)."""

from __future__ import annotations

import math

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_rewards_contribution import contexts

from esper.contracts.actions import Op
from esper.lifecycle import Stage
from esper_plugins.rewards.config import ContributionRewardConfig
from esper_plugins.rewards.contribution import COMPONENTS, ContributionReward

from support.rewards import act, seed, step

LIVE = [Stage.GERMINATED, Stage.TRAINING, Stage.BLENDING, Stage.HOLDING]
#: Components ESCROW must leave exactly as SHAPED computes them.
UNCHANGED = [
    "blending_warning",
    "pbrs",
    "compute_rent",
    "alpha_shock",
    "capacity_rent",
    "action_shaping",
    "action_cost",
    "fossilize_bonus",
    "terminal",
]


def escrow(**options: object) -> ContributionReward:
    return ContributionReward(ContributionRewardConfig(mode="escrow", **options), gamma=0.995)


def blending(c: float | None, p: float | None = None, **kwargs: object):
    """A blended seed (the helper `run` germinates it at epoch 10: no timing discount)."""
    return seed(Stage.BLENDING, contribution=c, total_improvement=p, **kwargs)


def run(reward: ContributionReward, slots, epoch: int, **kwargs: object) -> dict[str, float]:
    # A flat accuracy history: stable accuracy = current, so progress = total_improvement.
    kwargs.setdefault("accuracy_history", (45.0, 45.0, 45.0))
    kwargs.setdefault("germinated_at", {v.slot_id: 10 for v in slots})
    return dict(reward(step(slots, epoch=epoch, **kwargs)).components)


# -- configuration ---------------------------------------------------------------------------


def test_mode_option():
    assert ContributionRewardConfig().mode == "shaped"
    assert ContributionRewardConfig(mode="escrow").escrow_delta_clip == 2.0
    with pytest.raises(ValueError, match="'mode' must be in"):
        ContributionRewardConfig(mode="bogus")
    with pytest.raises(ValueError, match="escrow_delta_clip"):
        ContributionRewardConfig(mode="escrow", escrow_delta_clip=0.0)
    with pytest.raises(ValueError, match="stable_accuracy_window"):
        ContributionRewardConfig(mode="escrow", stable_accuracy_window=0)


@given(ctx=contexts())
@settings(max_examples=200, deadline=None)
def test_escrow_is_finite_bounded_and_leaves_other_components_alone(ctx):
    shaped = ContributionReward(ContributionRewardConfig(), gamma=0.995)(ctx).components
    out = escrow()(ctx)
    assert tuple(out.components) == COMPONENTS
    assert all(math.isfinite(v) for v in out.components.values())
    assert -50 <= out.total <= 50
    assert out.total == math.fsum(out.components.values())
    assert out.components["ratio_penalty"] == 0.0  # folded into the credit target
    for name in UNCHANGED:
        assert out.components[name] == shaped[name], name


# -- the credit ledger -----------------------------------------------------------------------


def test_credit_moves_toward_its_target_in_clipped_steps():
    r = escrow()
    # c = 10 with unknown progress: target 0.5 c = 5, paid 2 + 2 + 1.
    paid = [run(r, [blending(10.0)], e, cf=10.0)["attribution"] for e in (20, 21, 22, 23)]
    assert paid == pytest.approx([2.0, 2.0, 1.0, 0.0])
    assert r.credit("r0c0") == pytest.approx(5.0)
    # The contribution falls to 0: the credit is paid back, again at most 2 a step.
    paid = [run(r, [blending(0.0)], e, cf=1.0)["attribution"] for e in (24, 25, 26, 27)]
    assert paid == pytest.approx([-2.0, -2.0, -1.0, 0.0])
    assert r.credit("r0c0") == 0.0


def test_custom_clip():
    r = escrow(escrow_delta_clip=0.5)
    assert run(r, [blending(10.0)], 20, cf=10.0)["attribution"] == pytest.approx(0.5)


def test_target_uses_harmonic_attribution_and_the_stable_accuracy():
    # Progress 5 since germination, but the accuracy was 47 two epochs ago (now 50): the
    # stable progress is 2, so the target is harmonic(c = 1.5 -> c < p: c) = 1.5 ...
    r = escrow()
    history = (44.0, 49.0, 47.0, 50.0)
    out = run(r, [blending(1.5, 5.0)], 20, cf=2.0, val_accuracy=50.0, accuracy_history=history)
    assert out["attribution"] == pytest.approx(1.5)
    # ... and with c = 4 >= p = 2, the harmonic mean 2 * 2 * 4 / 6 (SHAPED uses p = 5).
    r = escrow(escrow_delta_clip=10.0)
    out = run(r, [blending(4.0, 5.0)], 20, cf=4.0, val_accuracy=50.0, accuracy_history=history)
    assert out["attribution"] == pytest.approx(16.0 / 6.0)
    shaped = ContributionReward(ContributionRewardConfig(), gamma=0.995)
    out = run(shaped, [blending(4.0, 5.0)], 20, cf=4.0, val_accuracy=50.0, accuracy_history=history)
    assert out["attribution"] == pytest.approx(4.0)  # p = 5 > c: c itself


def test_unmeasured_contribution_keeps_the_credit_and_pays_no_proxy():
    r = escrow()
    run(r, [blending(2.0)], 20, cf=2.0)
    out = run(r, [blending(None, improvement_since_stage_start=3.0)], 21)
    assert out["attribution"] == 0.0
    assert r.credit("r0c0") == pytest.approx(1.0)


def test_negative_contribution_is_charged_and_clears_the_credit():
    r = escrow()
    run(r, [blending(4.0)], 20, cf=4.0)  # credit 2
    out = run(r, [blending(-1.5)], 21, cf=-1.0)
    assert out["attribution"] == pytest.approx(-1.5 - 2.0)
    assert r.credit("r0c0") == 0.0
    assert r.escrow_steps["r0c0"].delta == pytest.approx(-2.0)


def test_reset_and_a_new_episode_clear_the_ledger():
    r = escrow()
    run(r, [blending(4.0)], 20, cf=4.0)
    r.reset()
    assert r.credit("r0c0") == 0.0
    run(r, [blending(4.0)], 20, cf=4.0)
    # Epoch 5 after epoch 20: a new episode, so the target 2 is paid again from 0.
    assert run(r, [blending(4.0)], 5, cf=4.0)["attribution"] == pytest.approx(2.0)


def test_a_seed_removed_without_prune_gives_its_credit_back():
    r = escrow()
    run(r, [blending(4.0)], 20, cf=4.0)
    out = run(r, [blending(4.0)], 21, cf=4.0, stages_after={"r0c0": Stage.PRUNED})
    assert out["attribution"] == pytest.approx(-2.0)
    assert r.credit("r0c0") == 0.0


def test_a_new_seed_in_the_slot_starts_without_credit():
    r = escrow()
    run(r, [blending(4.0)], 20, cf=4.0)  # credit 2 for r0c0-seed
    out = run(r, [blending(0.0, seed_id="another")], 21, cf=1.0)
    assert out["attribution"] == pytest.approx(-2.0)
    assert r.credit("r0c0") == 0.0


# -- invariant 21 ----------------------------------------------------------------------------


@st.composite
def episodes(draw: st.DrawFn):
    """A random walk of one seed's measurements, stages and the ops acting on it."""
    steps = []
    for _ in range(draw(st.integers(1, 12))):
        steps.append(
            {
                "stage": draw(st.sampled_from([*LIVE, Stage.FOSSILIZED])),
                "c": draw(st.none() | st.floats(-10, 10)),
                "cf": draw(st.floats(-10, 10)),
                "p": draw(st.none() | st.floats(-5, 20)),
                "op": draw(st.sampled_from([Op.WAIT, Op.WAIT, Op.PRUNE, Op.FOSSILIZE])),
                "history": tuple(draw(st.floats(30, 60)) for _ in range(draw(st.integers(0, 4)))),
            }
        )
    return steps


@given(walk=episodes(), clip=st.floats(0.01, 3.0))
@settings(max_examples=200, deadline=None)
def test_escrow_invariants_over_random_episodes(walk, clip):
    r = escrow(escrow_delta_clip=clip)
    for i, s in enumerate(walk):
        before = r.credit("r0c0")
        stage, c, op = s["stage"], s["c"], s["op"]
        view = seed(stage, contribution=c, total_improvement=s["p"])
        ctx = step(
            [view],
            cf=s["cf"],
            epoch=20 + i,
            action=act(op),
            accuracy_history=s["history"],
            germinated_at={"r0c0": 10},
        )
        paid = r(ctx).components["attribution"]
        rec = r.escrow_steps["r0c0"]
        # next credit = previous + delta, the previous being what the seed held.
        assert rec.previous == before
        assert rec.credit == rec.previous + rec.delta == r.credit("r0c0")
        # Never mints negative credit.
        assert rec.credit >= 0.0
        if op is Op.PRUNE:
            # PRUNE always refunds the credit to 0, and pays nothing else.
            assert rec.credit == 0.0
            assert paid == rec.delta == -before
        elif stage is Stage.FOSSILIZED:
            # A fossil's credit is frozen.
            assert rec.delta == 0.0
            assert paid == 0.0
        elif c is not None and c >= 0:
            # The positive branch moves at most ``clip`` a step.
            assert abs(rec.delta) <= clip + 1e-12
            assert paid == rec.delta
        elif c is not None and not (op is Op.FOSSILIZE and ctx.counterfactual_total < 0):
            # c < 0: charged in full, and the credit goes back to 0.
            assert rec.credit == 0.0
            assert paid == pytest.approx(c - before)
        else:
            assert rec.delta == 0.0
            assert paid == 0.0


@given(prev=st.floats(0.1, 8.0), c=st.none() | st.floats(-10, 10), cf=st.floats(-10, 10))
@settings(deadline=None)
def test_prune_always_refunds_to_zero(prev, c, cf):
    r = escrow(escrow_delta_clip=10.0)
    run(r, [blending(2 * prev)], 20, cf=2 * prev)  # unknown progress: credit 0.5 c = prev
    assert r.credit("r0c0") == pytest.approx(prev)
    out = run(r, [blending(c)], 21, cf=cf, action=act(Op.PRUNE))
    assert out["attribution"] == pytest.approx(-prev)
    assert r.credit("r0c0") == 0.0


@given(c=st.floats(-10, 10), cf=st.floats(-10, 10), p=st.none() | st.floats(-5, 20))
@settings(deadline=None)
def test_fossilized_seed_freezes_its_credit_through_the_end(c, cf, p):
    r = escrow()
    holding = seed(Stage.HOLDING, contribution=3.0, total_improvement=3.0, epochs_in_stage=5)
    fossilize = act(Op.FOSSILIZE)
    out = run(r, [holding], 20, cf=3.0, action=fossilize, stages_after={"r0c0": Stage.FOSSILIZED})
    assert out["attribution"] == pytest.approx(2.0)  # target 3, clipped to 2
    fossil = seed(Stage.FOSSILIZED, contribution=c, total_improvement=p)
    for epoch in (21, 22, 30):
        out = run(r, [fossil], epoch, cf=cf, max_epochs=30)
        assert out["attribution"] == 0.0
        assert r.credit("r0c0") == pytest.approx(2.0)


def test_ratio_penalty_never_mints_negative_credit():
    # No progress (attribution 0) and c / cf = 100: target max(0, 0 - 0.3) = 0.
    r = escrow()
    out = run(r, [blending(5.0, 0.0)], 20, cf=0.05)
    assert out["attribution"] == 0.0
    assert out["ratio_penalty"] == 0.0
    assert r.credit("r0c0") == 0.0
    shaped = ContributionReward(ContributionRewardConfig(), gamma=0.995)
    assert run(shaped, [blending(5.0, 0.0)], 20, cf=0.05)["ratio_penalty"] == pytest.approx(-0.15)
    # With progress the penalty lowers the target: harmonic(10, 10) = 10, minus 0.1 (c/cf = 10).
    r = escrow(escrow_delta_clip=20.0)
    assert run(r, [blending(10.0, 10.0)], 20, cf=1.0)["attribution"] == pytest.approx(9.9)


def test_final_epoch_forfeits_unfossilized_credit():
    r = escrow()
    live = blending(4.0, None, slot_id="r0c0")
    holding = seed(Stage.HOLDING, "r0c1", contribution=2.0, epochs_in_stage=6)
    fossil_to_be = seed(Stage.HOLDING, "r0c2", contribution=2.0, epochs_in_stage=6)
    slots = [live, holding, fossil_to_be]
    run(r, slots, 28, cf=4.0, max_epochs=30)
    assert [r.credit(s) for s in ("r0c0", "r0c1", "r0c2")] == pytest.approx([2.0, 1.0, 1.0])
    fossilize = act(Op.FOSSILIZE, "r0c2")
    run(
        r,
        slots,
        29,
        cf=4.0,
        max_epochs=30,
        action=fossilize,
        stages_after={"r0c2": Stage.FOSSILIZED},
    )
    fossil = seed(Stage.FOSSILIZED, "r0c2", contribution=2.0)
    # Last epoch: r0c0 and r0c1 forfeit their credit (2 and 1); the fossil keeps its 1,
    # and the contributions measured now earn nothing more.
    out = run(r, [live, holding, fossil], 30, cf=4.0, max_epochs=30)
    assert out["attribution"] == pytest.approx(-3.0)
    assert [r.credit(s) for s in ("r0c0", "r0c1", "r0c2")] == pytest.approx([0.0, 0.0, 1.0])


def test_fossilizing_at_the_final_epoch_keeps_the_credit():
    r = escrow()
    holding = seed(Stage.HOLDING, contribution=2.0, epochs_in_stage=6)
    run(r, [holding], 29, cf=4.0, max_epochs=30)  # credit 1
    out = run(
        r,
        [attrs.evolve(holding, contribution=4.0)],
        30,
        cf=4.0,
        max_epochs=30,
        action=act(Op.FOSSILIZE),
        stages_after={"r0c0": Stage.FOSSILIZED},
    )
    assert out["attribution"] == pytest.approx(1.0)  # target 2: paid, and kept
    assert r.credit("r0c0") == pytest.approx(2.0)


def test_holding_indecision_and_blending_warning_still_apply():
    r = escrow()
    holding = seed(Stage.HOLDING, contribution=2.0, total_improvement=3.0, epochs_in_stage=4)
    assert run(r, [holding], 20, cf=2.0)["holding_indecision"] == pytest.approx(-0.2)
    warned = blending(0.5, 1.0, epochs_in_stage=2)
    assert run(escrow(), [warned], 20, cf=-0.5)["blending_warning"] == pytest.approx(-0.2)
