"""The contribution reward (spec §5.4 SHAPED; §10 invariants 15-19 and 23)."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from esper.contracts.actions import Op
from esper.lifecycle import Stage
from esper_plugins.rewards.config import ContributionRewardConfig
from esper_plugins.rewards.contribution import (
    COMPONENTS,
    FOSSILIZE_BONUS,
    ContributionReward,
    harmonic_attribution,
    ratio_penalty,
    timing_discount,
)

from support.rewards import act, seed, step, view

LIVE = [Stage.GERMINATED, Stage.TRAINING, Stage.BLENDING, Stage.HOLDING]
SEEDED = [*LIVE, Stage.FOSSILIZED, Stage.PRUNED, Stage.EMBARGOED, Stage.RESETTING]


def reward(**options: object) -> ContributionReward:
    return ContributionReward(ContributionRewardConfig(**options), gamma=0.995)


def parts(ctx, **options: object) -> dict[str, float]:
    return dict(reward(**options)(ctx).components)


# -- invariant 15: finite, bounded, components sum to the total ------------------------------


@st.composite
def contexts(draw: st.DrawFn):
    n = draw(st.integers(1, 3))
    maybe = st.none() | st.floats(-10, 10)
    slots = []
    for i in range(n):
        stage = draw(st.sampled_from([Stage.DORMANT, *SEEDED]))
        if stage is Stage.DORMANT:
            slots.append(view(f"r0c{i}"))
            continue
        slots.append(
            seed(
                stage,
                f"r0c{i}",
                contribution=draw(maybe),
                total_improvement=draw(st.none() | st.floats(-20, 40)),
                improvement_since_stage_start=draw(maybe),
                epochs_in_stage=draw(st.integers(0, 40)),
                epochs_total=draw(st.integers(0, 60)),
                alpha=draw(st.floats(0, 1)),
            )
        )
    measured = any(v.contribution is not None for v in slots)
    cf = draw(st.floats(-10, 10)) if measured else draw(st.none() | st.floats(-10, 10))
    target = draw(st.sampled_from(slots))
    op = draw(st.sampled_from(list(Op)))
    max_epochs = draw(st.integers(1, 150))
    after = {
        v.slot_id: draw(st.sampled_from([v.stage, *SEEDED]))
        for v in slots
        if v.stage is not Stage.DORMANT
    }
    return step(
        slots,
        action=act(op, target.slot_id),
        ok=draw(st.booleans()),
        cf=cf,
        epoch=draw(st.integers(0, max_epochs)),
        max_epochs=max_epochs,
        val_accuracy=draw(st.floats(0, 100)),
        host_params=draw(st.integers(1, 10_000_000)),
        seed_params={sid: draw(st.integers(0, 10_000_000)) for sid in after},
        alphas_after={sid: draw(st.floats(0, 1)) for sid in after},
        stages_after=after,
    )


@given(ctx=contexts(), flags=st.lists(st.booleans(), min_size=3, max_size=3))
@settings(max_examples=300, deadline=None)
def test_reward_is_finite_bounded_and_sums_its_components(ctx, flags):
    out = reward(
        disable_pbrs=flags[0], disable_terminal_reward=flags[1], disable_anti_gaming=flags[2]
    )(ctx)
    assert tuple(out.components) == COMPONENTS
    assert all(math.isfinite(v) for v in out.components.values())
    assert math.isfinite(out.total)
    assert -50 <= out.total <= 50
    assert out.total == math.fsum(out.components.values())


def test_measured_contribution_without_counterfactual_fails_loudly():
    ctx = step([seed(Stage.BLENDING, contribution=2.0)], cf=None)
    with pytest.raises(ValueError, match="counterfactual"):
        reward()(ctx)


def test_stale_contribution_of_an_unblended_seed_is_ignored():
    """A seed blended out to alpha 0 keeps its last contribution; no counterfactual is run."""
    stale = seed(Stage.BLENDING, contribution=2.0, alpha=0.0, improvement_since_stage_start=1.0)
    assert parts(step([stale], cf=None, epoch=30))["attribution"] == pytest.approx(0.3)


def test_nan_contribution_is_refused():
    with pytest.raises(ValueError, match="NaN"):
        reward()(step([seed(Stage.BLENDING, contribution=math.nan)], cf=1.0))


# -- attribution -----------------------------------------------------------------------------


def test_attribution_numbers():
    # c = 3, progress 2, cf = 2, germinated at epoch 25: harmonic 2*2*3/5 = 2.4.
    blending = seed(Stage.BLENDING, contribution=3.0, total_improvement=2.0, epochs_total=5)
    assert parts(step([blending], cf=2.0, epoch=30))["attribution"] == pytest.approx(2.4)
    # Unknown progress: half of c. A negative contribution is charged in full.
    unknown = seed(Stage.BLENDING, contribution=3.0, epochs_total=5)
    assert parts(step([unknown], cf=2.0, epoch=30))["attribution"] == pytest.approx(1.5)
    harmful = seed(Stage.BLENDING, contribution=-2.0, total_improvement=5.0, epochs_total=5)
    assert parts(step([harmful], cf=-2.0, epoch=30))["attribution"] == pytest.approx(-2.0)
    # cf < 0 discounts by sigmoid(3 cf): cf = -0.5 -> 1 / (1 + e^1.5).
    hurt = seed(Stage.BLENDING, contribution=1.0, total_improvement=3.0, epochs_total=5)
    expected = 1.0 / (1.0 + math.exp(1.5))
    assert parts(step([hurt], cf=-0.5, epoch=30))["attribution"] == pytest.approx(expected)
    # Unmeasured contribution of a blended seed: 0.3 x the stage's gain.
    proxy = seed(Stage.BLENDING, improvement_since_stage_start=2.0, epochs_total=5)
    assert parts(step([proxy], epoch=30))["attribution"] == pytest.approx(0.6)


def test_every_live_seed_is_judged_even_on_wait():
    a = seed(Stage.BLENDING, "r0c0", contribution=2.0, total_improvement=2.0, epochs_total=5)
    b = seed(Stage.HOLDING, "r0c1", contribution=1.0, total_improvement=4.0, epochs_total=5)
    assert parts(step([a, b], cf=2.5, epoch=30))["attribution"] == pytest.approx(3.0)


# -- invariant 16: semantics -----------------------------------------------------------------


@given(c=st.floats(-10, 10), cf=st.floats(-10, 10), p=st.none() | st.floats(-5, 20))
def test_fossilized_seeds_get_no_attribution(c, cf, p):
    fossil = seed(Stage.FOSSILIZED, contribution=c, total_improvement=p)
    assert parts(step([fossil], cf=cf, epoch=30))["attribution"] == 0.0


@given(
    stage=st.sampled_from(LIVE),
    c=st.none() | st.floats(-10, 10),
    cf=st.floats(-10, 10),
    p=st.none() | st.floats(-5, 20),
)
def test_prune_inverts_attribution(stage, c, cf, p):
    target = seed(stage, contribution=c, total_improvement=p, improvement_since_stage_start=1.0)
    waited = parts(step([target], cf=cf, epoch=30))["attribution"]
    pruned = parts(step([target], cf=cf, epoch=30, action=act(Op.PRUNE)))["attribution"]
    assert pruned == -waited


@pytest.mark.parametrize(
    ("target", "cf", "expected"),
    [
        (seed(Stage.TRAINING, contribution=2.0), 1.0, -1.0),  # not HOLDING
        (seed(Stage.HOLDING), None, -1.0),  # cf unknown
        (view("r0c0"), 1.0, -1.0),  # no seed
        (seed(Stage.HOLDING, contribution=0.5), 1.0, -0.2),  # too little contribution
        (seed(Stage.HOLDING, contribution=2.0), -1.0, -0.5 - 0.2 - 0.3),  # ransomware
        (seed(Stage.HOLDING, contribution=0.05), -1.0, -0.5 - 0.2),  # hurts, no ransom
    ],
)
def test_invalid_fossilize_is_penalised(target, cf, expected):
    ctx = step([target], cf=cf, epoch=30, action=act(Op.FOSSILIZE))
    assert parts(ctx)["action_shaping"] == pytest.approx(expected)


def test_good_fossilize_is_rewarded():
    holding = seed(Stage.HOLDING, contribution=3.0, total_improvement=4.0, epochs_in_stage=5)
    out = parts(step([holding], cf=3.0, epoch=30, action=act(Op.FOSSILIZE)))
    assert out["action_shaping"] == pytest.approx(0.8)
    assert (
        out["fossilize_bonus"] == pytest.approx(FOSSILIZE_BONUS) == pytest.approx(0.9645, abs=1e-4)
    )
    assert out["action_cost"] == -0.01
    assert (
        parts(
            step([holding], cf=3.0, epoch=30, action=act(Op.FOSSILIZE)),
            disable_terminal_reward=True,
        )["fossilize_bonus"]
        == 0.0
    )


def test_fossilize_with_negative_counterfactual_loses_its_attribution():
    holding = seed(Stage.HOLDING, contribution=3.0, total_improvement=4.0, epochs_in_stage=5)
    assert parts(step([holding], cf=-0.1, epoch=30))["attribution"] > 0
    assert parts(step([holding], cf=-0.1, epoch=30, action=act(Op.FOSSILIZE)))["attribution"] == 0


@pytest.mark.parametrize(
    ("target", "age", "expected"),
    [
        (seed(Stage.FOSSILIZED, contribution=2.0), 20, -1.0),
        (view("r0c0"), None, -0.2),
        (seed(Stage.TRAINING), 2, -0.9),  # 3 epochs too young
        (seed(Stage.BLENDING, contribution=-1.0), 2, 0.05),  # harmful, very young
        (seed(Stage.BLENDING, contribution=-1.0), 8, 0.15),  # harmful
        (seed(Stage.BLENDING, contribution=-0.2), 8, 0.1),  # mildly harmful
        (seed(Stage.BLENDING, contribution=2.0), 8, -0.4),  # useful
        (seed(Stage.BLENDING, contribution=20.0), 8, -0.9),  # very useful (capped)
    ],
)
def test_prune_shaping(target, age, expected):
    germinated = {} if age is None else {"r0c0": 30 - age}
    ctx = step([target], cf=1.0, epoch=30, action=act(Op.PRUNE), germinated_at=germinated)
    assert parts(ctx)["action_shaping"] == pytest.approx(expected)


def test_germinate_and_advance_shaping():
    empty = [view("r0c0")]
    late = step(empty, epoch=30, action=act(Op.GERMINATE), stages_after={"r0c0": Stage.GERMINATED})
    early = step(empty, epoch=2, action=act(Op.GERMINATE), stages_after={"r0c0": Stage.GERMINATED})
    late_parts, early_parts = parts(late), parts(early)
    assert late_parts["action_shaping"] == 0.0
    assert late_parts["pbrs"] == pytest.approx(0.3 * 0.995)  # the germination bonus
    # Before epoch 10 the bonus is scaled by 0.4 + 0.6 * epoch / 10 (0.52 at epoch 2).
    assert early_parts["pbrs"] + early_parts["action_shaping"] == pytest.approx(0.3 * 0.995 * 0.52)
    assert late_parts["action_cost"] == -0.15
    advance = step([seed(Stage.TRAINING)], epoch=30, action=act(Op.ADVANCE))
    assert parts(advance)["action_shaping"] == -0.1


def test_failed_actions_count_as_wait():
    ctx = step([seed(Stage.TRAINING)], epoch=30, action=act(Op.FOSSILIZE), ok=False)
    out = parts(ctx)
    assert out["action_shaping"] == 0.0
    assert out["action_cost"] == 0.0


@pytest.mark.parametrize("epoch", [0, 5, 19])
def test_no_terminal_bonus_before_the_last_epoch(epoch):
    assert parts(step([view("r0c0")], epoch=epoch, max_epochs=20))["terminal"] == 0.0


def test_terminal_bonus_at_the_last_epoch():
    ctx = step([view("r0c0")], epoch=20, max_epochs=20, val_accuracy=70.0)
    assert parts(ctx)["terminal"] == pytest.approx(3.5)
    assert parts(ctx, disable_terminal_reward=True)["terminal"] == 0.0


# -- invariant 17: anti-gaming ---------------------------------------------------------------


@given(
    c=st.floats(0.0, 20),
    p=st.floats(-20, 0),
    cf=st.floats(-10, 10),
    stage=st.sampled_from(LIVE),
    op=st.sampled_from(list(Op)),
)
def test_contribution_without_progress_earns_nothing(c, p, cf, stage, op):
    """A seed claiming credit while the model got no better is never paid for it."""
    target = seed(stage, contribution=c, total_improvement=p)
    out = parts(step([target], cf=cf, epoch=30, action=act(op)))
    assert out["attribution"] + out["ratio_penalty"] <= 0.0


@given(
    c=st.floats(0.2, 20),
    cf=st.floats(-10, -0.21),
    p=st.none() | st.floats(-20, 40),
    k=st.integers(0, 40),
)
def test_fossilizing_a_ransomware_seed_is_never_net_rewarded(c, cf, p, k):
    holding = seed(Stage.HOLDING, contribution=c, total_improvement=p, epochs_in_stage=k)
    ctx = step(
        [holding],
        cf=cf,
        epoch=30,
        action=act(Op.FOSSILIZE),
        stages_after={"r0c0": Stage.FOSSILIZED},
    )
    assert reward()(ctx).total < 0


def test_rapid_fossilization_is_discounted_by_legitimacy():
    def fossilize(k: int) -> float:
        holding = seed(Stage.HOLDING, contribution=3.0, total_improvement=4.0, epochs_in_stage=k)
        out = parts(step([holding], cf=3.0, epoch=30, action=act(Op.FOSSILIZE)))
        return out["action_shaping"] + out["fossilize_bonus"]

    values = [fossilize(k) for k in range(8)]
    assert values[0] == 0.0
    assert all(a < b for a, b in itertools.pairwise(values[:6]))
    assert values[5] == values[6] == values[7] == pytest.approx(0.8 + FOSSILIZE_BONUS)


def test_ratio_penalty():
    assert ratio_penalty(10.0, 1.0) == pytest.approx(-0.1)  # ratio 10
    assert ratio_penalty(30.0, 1.0) == pytest.approx(-0.3)  # capped
    assert ratio_penalty(4.0, 1.0) == 0.0  # ratio 4 is fine
    assert ratio_penalty(5.0, 0.05) == pytest.approx(-0.15)  # no real improvement
    assert ratio_penalty(0.9, 0.0) == 0.0  # small contributions are exempt
    high = seed(Stage.BLENDING, contribution=10.0, total_improvement=12.0)
    assert parts(step([high], cf=1.0, epoch=30))["ratio_penalty"] == pytest.approx(-0.1)
    assert parts(step([high], cf=1.0, epoch=30), disable_anti_gaming=True)["ratio_penalty"] == 0


# -- invariant 18: timing and harmonic attribution -------------------------------------------


@given(e1=st.integers(0, 30), e2=st.integers(0, 30))
def test_timing_discount_reduces_early_germination_monotonically(e1, e2):
    d1, d2 = (timing_discount(e, epochs=10, floor=0.4) for e in (e1, e2))
    assert 0.4 <= d1 <= 1.0
    assert (d1 < 1.0) == (e1 < 10)
    if e1 <= e2:
        assert d1 <= d2


def test_early_seed_earns_less_than_a_late_one():
    def attribution(germinated: int) -> float:
        blending = seed(Stage.BLENDING, contribution=3.0, total_improvement=3.0)
        ctx = step([blending], cf=3.0, epoch=30, germinated_at={"r0c0": germinated})
        return parts(ctx)["attribution"]

    assert attribution(0) < attribution(5) < attribution(10) == attribution(20) == 3.0


@given(c=st.floats(0, 50), p=st.floats(0.001, 50))
def test_harmonic_attribution_bounds(c, p):
    h = harmonic_attribution(c, p)
    assert min(c, p) - 1e-9 <= h <= c + 1e-9
    assert harmonic_attribution(c, -p) == 0.0
    assert harmonic_attribution(c, None) == 0.5 * c


# -- invariant 19: warnings ------------------------------------------------------------------


def test_blending_warning_escalates_with_time():
    def warning(k: int) -> float:
        blending = seed(Stage.BLENDING, contribution=0.5, total_improvement=1.0, epochs_in_stage=k)
        return parts(step([blending], cf=-0.5, epoch=30))["blending_warning"]

    values = [warning(k) for k in range(10)]
    assert values[0] == pytest.approx(-0.1)
    assert all(a > b for a, b in itertools.pairwise(values[:7]))
    assert values[6] == values[9] == pytest.approx(-0.4)
    assert parts(step([seed(Stage.BLENDING, contribution=0.5)], cf=0.5))["blending_warning"] == 0


@pytest.mark.parametrize("op", [Op.WAIT, Op.SET_ALPHA_TARGET, Op.ADVANCE])
def test_holding_indecision_grows_linearly_to_its_cap(op):
    def penalty(k: int, action_op: Op = op) -> float:
        holding = seed(Stage.HOLDING, contribution=2.0, total_improvement=3.0, epochs_in_stage=k)
        return parts(step([holding], cf=2.0, epoch=30, action=act(action_op)))["holding_indecision"]

    values = [penalty(k) for k in range(10)]
    assert values[:2] == [0.0, 0.0]
    assert values[2:7] == pytest.approx([-0.1, -0.15, -0.2, -0.25, -0.3])
    assert values[7:] == pytest.approx([-0.3] * 3)
    assert penalty(6, Op.FOSSILIZE) == 0.0
    assert penalty(6, Op.PRUNE) == 0.0


# -- rents and invariant 23 ------------------------------------------------------------------


def test_compute_and_capacity_rent():
    slots = [
        seed(Stage.BLENDING, "r0c0", alpha=0.5),
        seed(Stage.FOSSILIZED, "r0c1"),
        seed(Stage.TRAINING, "r0c2"),
    ]
    ctx = step(
        slots,
        epoch=30,
        host_params=100_000,
        seed_params={"r0c0": 20_000, "r0c1": 10_000, "r0c2": 50_000},
    )
    out = parts(ctx)
    # Effective params: 2 x 0.0039 x 100k overhead + 0.5 x 20k + 1.0 x 10k (TRAINING is free).
    growth = (2 * 390 + 10_000 + 10_000) / 100_000
    assert out["compute_rent"] == pytest.approx(-0.5 * math.log1p(growth))
    # 3 seeds, 1 free: 2 x 0.01, plus 0.002 for the fossil.
    assert out["capacity_rent"] == pytest.approx(-0.022)
    huge = step([seed(Stage.HOLDING)], host_params=10, seed_params={"r0c0": 10**9})
    assert parts(huge)["compute_rent"] == -1.5


def _ramp_shock(steps: int) -> float:
    """Total alpha shock of blending a seed from alpha 0 to 1 in ``steps`` equal steps."""
    total = 0.0
    for i in range(steps):
        blending = seed(Stage.BLENDING, alpha=i / steps, epochs_in_stage=i)
        ctx = step(
            [blending],
            epoch=30 + i,
            host_params=100_000,
            seed_params={"r0c0": 50_000},
            alphas_before={"r0c0": i / steps},
            alphas_after={"r0c0": (i + 1) / steps},
        )
        total += parts(ctx)["alpha_shock"]
    return total


def test_alpha_shock_is_convex_slower_ramps_pay_less():
    shocks = [_ramp_shock(n) for n in range(1, 11)]
    assert shocks[0] == pytest.approx(-0.1958 * 0.5)
    assert all(a < b for a, b in itertools.pairwise(shocks))
    assert shocks[4] == pytest.approx(-0.1958 * 0.5 / 5)


def test_alpha_shock_is_capped_and_can_be_disabled():
    ctx = step(
        [seed(Stage.BLENDING)],
        host_params=100,
        seed_params={"r0c0": 10**7},
        alphas_before={"r0c0": 0.0},
        alphas_after={"r0c0": 1.0},
    )
    assert parts(ctx)["alpha_shock"] == -1.0
    assert parts(ctx, disable_anti_gaming=True)["alpha_shock"] == 0.0
