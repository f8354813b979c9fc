"""Quality gates G0-G5 in permissive and strict mode, at their boundaries."""

from __future__ import annotations

import math

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from esper.lifecycle import (
    GateConfig,
    GateLevel,
    GateResult,
    LifecycleError,
    QualityGates,
    SeedState,
    Stage,
)
from esper.lifecycle.alpha import AlphaController

PERMISSIVE = QualityGates()
STRICT = QualityGates(GateConfig(strict=True))


def make(stage: Stage = Stage.TRAINING, **fields: object) -> SeedState:
    base: dict[str, object] = {"seed_id": "s1", "slot_id": "r0c1", "blueprint_id": "conv_light"}
    base.update(fields)
    return SeedState(stage=stage, **base)  # type: ignore[arg-type]


def healthy(state: SeedState, health: float = 0.9, *, exploding: bool = False) -> SeedState:
    state.record_gradient_health(health, has_vanishing=False, has_exploding=exploding)
    return state


def test_defaults_are_the_spec_numbers() -> None:
    cfg = GateConfig()
    assert attrs.asdict(cfg) == {
        "strict": False,
        "min_training_epochs": 10,
        "min_gradient_health": 0.7,
        "min_training_improvement": 0.5,
        "min_gradient_ratio": 0.10,
        "alpha_tolerance": 1e-6,
        "min_blending_epochs": 10,
        "min_fossilize_contribution": 1.0,
    }
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        cfg.strict = True  # type: ignore[misc]


@pytest.mark.parametrize(
    "bad",
    [
        {"min_training_epochs": -1},
        {"min_training_epochs": 2.5},
        {"min_gradient_health": 1.5},
        {"min_gradient_health": math.nan},
        {"min_training_improvement": -0.1},
        {"min_gradient_ratio": math.inf},
        {"alpha_tolerance": -1e-9},
    ],
)
def test_config_validates(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="GateConfig"):
        GateConfig(**bad)  # type: ignore[arg-type]


def test_gate_levels_and_retired_g4() -> None:
    assert [(g.name, g.value) for g in GateLevel] == [
        ("G0", 0),
        ("G1", 1),
        ("G2", 2),
        ("G3", 3),
        ("G5", 5),
    ]
    assert GateLevel.parse("g3") is GateLevel.G3
    assert GateLevel.parse(5) is GateLevel.G5
    for retired in (4, "G4"):
        with pytest.raises(LifecycleError, match="retired"):
            GateLevel.parse(retired)
    with pytest.raises(LifecycleError, match="unknown gate"):
        PERMISSIVE.evaluate(7, make())


def test_gate_result_is_consistent() -> None:
    with pytest.raises(ValueError, match="contradicts"):
        GateResult(gate=GateLevel.G0, passed=True, score=1.0, checks_failed=("x",))
    with pytest.raises(ValueError, match="contradicts"):
        GateResult(gate=GateLevel.G0, passed=False, score=0.0)
    with pytest.raises(ValueError, match="score"):
        GateResult(gate=GateLevel.G0, passed=True, score=1.5)


def test_g0_needs_ids() -> None:
    ok = PERMISSIVE.evaluate(GateLevel.G0, make(Stage.DORMANT))
    assert (ok.passed, ok.score, ok.checks_passed) == (True, 1.0, ("seed_id", "blueprint_id"))
    bad = PERMISSIVE.evaluate(GateLevel.G0, make(Stage.DORMANT, seed_id=" ", blueprint_id=""))
    assert not bad.passed
    assert bad.score == 0.0
    assert bad.checks_failed == ("seed_id", "blueprint_id")
    assert "seed id is empty" in bad.message


def test_g1_needs_germinated() -> None:
    assert PERMISSIVE.evaluate("G1", make(Stage.GERMINATED)).passed
    result = STRICT.evaluate("G1", make(Stage.TRAINING))
    assert not result.passed
    assert result.checks_failed == ("stage_germinated",)


class TestG2Permissive:
    def test_exactly_ten_epochs_and_health_exactly_point_seven_pass(self) -> None:
        result = PERMISSIVE.evaluate("G2", healthy(make(epochs_in_stage=10), 0.7))
        assert result.passed, result.message
        assert result.checks_passed == (
            "min_epochs",
            "gradient_measured",
            "not_exploding",
            "gradient_health",
        )

    def test_nine_epochs_fail(self) -> None:
        result = PERMISSIVE.evaluate("G2", healthy(make(epochs_in_stage=9)))
        assert result.checks_failed == ("min_epochs",)
        assert "epochs_in_stage=9 < 10" in result.message

    def test_health_just_below_threshold_fails(self) -> None:
        result = PERMISSIVE.evaluate("G2", healthy(make(epochs_in_stage=10), 0.6999))
        assert result.checks_failed == ("gradient_health",)

    def test_unmeasured_health_is_never_healthy(self) -> None:
        result = PERMISSIVE.evaluate("G2", make(epochs_in_stage=50))
        assert not result.passed
        assert result.checks_failed == ("gradient_measured", "not_exploding", "gradient_health")
        assert "not measured" in result.message

    def test_exploding_fails_even_with_good_score(self) -> None:
        result = PERMISSIVE.evaluate("G2", healthy(make(epochs_in_stage=10), 1.0, exploding=True))
        assert result.checks_failed == ("not_exploding",)

    def test_score_is_improvement_over_five_capped(self) -> None:
        state = healthy(make(epochs_in_stage=10, accuracy_at_stage_start=40.0))
        state.current_accuracy = 42.0
        assert PERMISSIVE.evaluate("G2", state).score == pytest.approx(0.4)
        state.current_accuracy = 60.0
        assert PERMISSIVE.evaluate("G2", state).score == 1.0
        state.current_accuracy = 30.0
        assert PERMISSIVE.evaluate("G2", state).score == 0.0


class TestG2Strict:
    def make_ready(self, improvement: float = 0.5, ratio: float | None = 0.10) -> SeedState:
        state = make(
            epochs_in_stage=10,
            accuracy_at_stage_start=50.0,
            current_accuracy=50.0 + improvement,
            gradient_ratio=ratio,
        )
        return state

    def test_boundaries_pass(self) -> None:
        # 50.5 - 50.0 is exactly 0.5 in binary floating point.
        result = STRICT.evaluate("G2", self.make_ready())
        assert result.passed, result.message
        assert result.checks_passed == ("min_epochs", "improvement", "gradient_ratio")
        assert result.score == pytest.approx(0.1)

    def test_gradient_health_is_not_required_in_strict(self) -> None:
        assert self.make_ready().gradient_health is None
        assert STRICT.evaluate("G2", self.make_ready()).passed

    def test_small_improvement_fails(self) -> None:
        result = STRICT.evaluate("G2", self.make_ready(improvement=0.25))
        assert result.checks_failed == ("improvement",)

    def test_unmeasured_ratio_and_accuracy_fail(self) -> None:
        result = STRICT.evaluate("G2", make(epochs_in_stage=10))
        assert result.checks_failed == ("improvement", "gradient_ratio")
        assert "accuracy not measured" in result.message

    def test_low_ratio_fails(self) -> None:
        result = STRICT.evaluate("G2", self.make_ready(ratio=0.0999))
        assert result.checks_failed == ("gradient_ratio",)


class TestG3:
    def blending(self, alpha: float = 1.0, epochs: int = 0) -> SeedState:
        return make(Stage.BLENDING, epochs_in_stage=epochs, alpha_controller=AlphaController(alpha))

    def test_settled_full_alpha_passes_permissive_at_once(self) -> None:
        result = PERMISSIVE.evaluate("G3", self.blending())
        assert result.passed
        assert result.score == 1.0
        assert result.checks_passed == ("alpha_target_full", "alpha_settled")

    def test_strict_needs_ten_blending_epochs(self) -> None:
        assert STRICT.evaluate("G3", self.blending(epochs=9)).checks_failed == ("min_epochs",)
        assert STRICT.evaluate("G3", self.blending(epochs=10)).passed

    def test_tolerance_boundary(self) -> None:
        assert PERMISSIVE.evaluate("G3", self.blending(1.0 - 1e-6)).passed
        result = PERMISSIVE.evaluate("G3", self.blending(1.0 - 2e-6))
        assert result.checks_failed == ("alpha_target_full",)

    def test_moving_or_partial_target_fails(self) -> None:
        state = self.blending(0.0)
        state.alpha_controller.retarget(1.0, 4)
        for _ in range(3):
            state.alpha_controller.step()
        result = PERMISSIVE.evaluate("G3", state)
        assert result.checks_failed == ("alpha_settled",)
        assert result.score == pytest.approx(0.75)
        partial = PERMISSIVE.evaluate("G3", self.blending(0.7))
        assert partial.checks_failed == ("alpha_target_full",)
        assert partial.score == pytest.approx(0.7)


class TestG5:
    def holding(self, contribution: float | None, health: float | None = 0.9) -> SeedState:
        state = make(Stage.HOLDING)
        if contribution is not None:
            state.record_contribution(contribution)
        if health is not None:
            healthy(state, health)
        return state

    def test_unmeasured_contribution_fails_both_modes(self) -> None:
        for gates in (PERMISSIVE, STRICT):
            result = gates.evaluate("G5", self.holding(None))
            assert not result.passed
            assert "contribution_measured" in result.checks_failed
            assert result.score == 0.0

    def test_permissive_needs_measurement_and_health_only(self) -> None:
        result = PERMISSIVE.evaluate("G5", self.holding(0.1))
        assert result.passed, result.message
        assert result.score == pytest.approx(0.01)

    def test_strict_minimum_contribution_boundary(self) -> None:
        assert STRICT.evaluate("G5", self.holding(0.99)).checks_failed == ("min_contribution",)
        result = STRICT.evaluate("G5", self.holding(1.0))
        assert result.passed
        assert result.score == pytest.approx(0.1)
        assert STRICT.evaluate("G5", self.holding(25.0)).score == 1.0

    def test_unmeasured_or_poor_health_is_not_healthy(self) -> None:
        assert PERMISSIVE.evaluate("G5", self.holding(3.0, None)).checks_failed == ("seed_healthy",)
        assert PERMISSIVE.evaluate("G5", self.holding(3.0, 0.5)).checks_failed == ("seed_healthy",)

    def test_exploding_gradients_are_not_healthy(self) -> None:
        state = self.holding(3.0, None)
        healthy(state, 0.95, exploding=True)
        result = PERMISSIVE.evaluate("G5", state)
        assert result.checks_failed == ("seed_healthy",)
        assert "exploding=True" in result.message

    def test_negative_contribution_scores_zero(self) -> None:
        assert PERMISSIVE.evaluate("G5", self.holding(-4.0)).score == 0.0


measurements = st.one_of(st.none(), st.floats(min_value=-100, max_value=100))


@given(
    gate=st.sampled_from(list(GateLevel)),
    strict=st.booleans(),
    stage=st.sampled_from(list(Stage)),
    epochs=st.integers(min_value=0, max_value=30),
    start=measurements,
    current=measurements,
    contribution=measurements,
    health=st.one_of(st.none(), st.floats(min_value=0.0, max_value=1.0)),
    exploding=st.booleans(),
    alpha=st.floats(min_value=0.0, max_value=1.0),
    ratio=st.one_of(st.none(), st.floats(min_value=0.0, max_value=10.0)),
)
def test_any_state_gives_a_well_formed_result(
    gate: GateLevel,
    strict: bool,
    stage: Stage,
    epochs: int,
    start: float | None,
    current: float | None,
    contribution: float | None,
    health: float | None,
    exploding: bool,
    alpha: float,
    ratio: float | None,
) -> None:
    state = make(
        stage,
        epochs_in_stage=epochs,
        accuracy_at_stage_start=start,
        current_accuracy=current,
        contribution=contribution,
        gradient_ratio=ratio,
        alpha_controller=AlphaController(alpha),
    )
    if health is not None:
        healthy(state, health, exploding=exploding)
    result = QualityGates(GateConfig(strict=strict)).evaluate(gate, state)
    assert result.gate is gate
    assert 0.0 <= result.score <= 1.0
    assert result.passed == (not result.checks_failed)
    assert not set(result.checks_passed) & set(result.checks_failed)
    needs_health = gate is GateLevel.G5 or (gate is GateLevel.G2 and not strict)
    if needs_health and health is None:
        assert not result.passed  # unmeasured never counts as healthy
