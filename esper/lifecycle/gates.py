"""Quality gates: the checks a seed must pass before it may advance a stage.

Each forward move has one gate::

    G0 -> GERMINATED   seed and blueprint ids are set
    G1 -> TRAINING     the seed is GERMINATED
    G2 -> BLENDING     trained long enough, and (permissive) gradients measured and healthy,
                       or (strict) accuracy improved and the seed's gradient share is large enough
    G3 -> HOLDING      alpha has settled at a full blend (strict: and blended long enough)
    G5 -> FOSSILIZED   counterfactual contribution measured and seed healthy
                       (strict: contribution at least the minimum)

(G4 is retired.) Gates read only the plain-Python `SeedState` record; every threshold lives in
a frozen `GateConfig`. A value that was never measured (None) fails every check that reads it:
"not measured" is never "healthy".

Each gate returns a frozen `GateResult`. ``checks_passed`` and ``checks_failed`` hold stable
check names (e.g. ``"gradient_health"``); ``message`` explains the failures with numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import IntEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

import attrs

from esper.bounds import MAX_EPOCHS
from esper.lifecycle.alpha import AlphaMode
from esper.lifecycle.errors import LifecycleError
from esper.lifecycle.stages import Stage

if TYPE_CHECKING:
    from esper.lifecycle.state import SeedState

# Spec defaults (percent points are on the 0-100 accuracy scale).
DEFAULT_MIN_TRAINING_EPOCHS = 10
DEFAULT_MIN_GRADIENT_HEALTH = 0.7
DEFAULT_MIN_TRAINING_IMPROVEMENT = 0.5
DEFAULT_MIN_GRADIENT_RATIO = 0.10
DEFAULT_ALPHA_TOLERANCE = 1e-6
DEFAULT_MIN_BLENDING_EPOCHS = 10
DEFAULT_MIN_FOSSILIZE_CONTRIBUTION = 1.0

# Score scales (not thresholds): the improvement / contribution, in pp, that scores 1.0.
_G2_FULL_SCORE_IMPROVEMENT = 5.0
_G5_FULL_SCORE_CONTRIBUTION = 10.0


class GateLevel(IntEnum):
    """Gate identifiers. Value 4 is retired."""

    G0 = 0
    G1 = 1
    G2 = 2
    G3 = 3
    G5 = 5

    @classmethod
    def parse(cls, value: object) -> GateLevel:
        """A GateLevel from itself, its value, or its name (``"G2"``, any case)."""
        if isinstance(value, GateLevel):
            return value
        if isinstance(value, str) and value.strip().upper() in cls.__members__:
            return cls[value.strip().upper()]
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and value in cls._value2member_map_
        ):
            return cls(value)
        if value in (4, "G4", "g4"):
            raise LifecycleError("gate G4 is retired and no longer valid")
        raise LifecycleError(f"unknown gate {value!r} (known: G0, G1, G2, G3, G5)")


#: The gate guarding each forward move, keyed by the stage being entered.
GATE_FOR_TARGET: Mapping[Stage, GateLevel] = MappingProxyType(
    {
        Stage.GERMINATED: GateLevel.G0,
        Stage.TRAINING: GateLevel.G1,
        Stage.BLENDING: GateLevel.G2,
        Stage.HOLDING: GateLevel.G3,
        Stage.FOSSILIZED: GateLevel.G5,
    }
)

#: The forward moves, each guarded by the gate of its target stage. Other legal moves
#: (HOLDING -> BLENDING, pruning, the cooldown) are not gated.
GATED_MOVES: frozenset[tuple[Stage, Stage]] = frozenset(
    {
        (Stage.DORMANT, Stage.GERMINATED),
        (Stage.GERMINATED, Stage.TRAINING),
        (Stage.TRAINING, Stage.BLENDING),
        (Stage.BLENDING, Stage.HOLDING),
        (Stage.HOLDING, Stage.FOSSILIZED),
    }
)


def _non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise ValueError(f"GateConfig.{attribute.name} must be finite and >= 0, got {value!r}")


def _unit(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"GateConfig.{attribute.name} must be within [0, 1], got {value!r}")


def _count(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"GateConfig.{attribute.name} must be an int >= 0, got {value!r}")
    if value > MAX_EPOCHS:  # the longest run
        raise ValueError(f"GateConfig.{attribute.name} must be <= {MAX_EPOCHS}, got {value!r}")


@attrs.frozen(kw_only=True)
class GateConfig:
    """Every gate threshold, and the mode.

    ``strict=False`` (permissive, the training default) lets a seed blend once it has trained
    ``min_training_epochs`` with healthy gradients; ``strict=True`` also demands measurable
    improvement, a gradient share and minimum blend time and fossilize contribution.
    """

    strict: bool = False
    #: G2: epochs a seed must spend in TRAINING.
    min_training_epochs: int = attrs.field(default=DEFAULT_MIN_TRAINING_EPOCHS, validator=_count)
    #: G2 (permissive) and G5: gradient health score that counts as healthy.
    min_gradient_health: float = attrs.field(default=DEFAULT_MIN_GRADIENT_HEALTH, validator=_unit)
    #: G2 (strict): accuracy gain in percent points since TRAINING began.
    min_training_improvement: float = attrs.field(
        default=DEFAULT_MIN_TRAINING_IMPROVEMENT, validator=_non_negative
    )
    #: G2 (strict): parameter-normalised seed/host gradient-norm ratio (EMA).
    min_gradient_ratio: float = attrs.field(
        default=DEFAULT_MIN_GRADIENT_RATIO, validator=_non_negative
    )
    #: G3: how close alpha and its target must be to 1 (and to each other).
    alpha_tolerance: float = attrs.field(default=DEFAULT_ALPHA_TOLERANCE, validator=_unit)
    #: G3 (strict): epochs a seed must spend in BLENDING.
    min_blending_epochs: int = attrs.field(default=DEFAULT_MIN_BLENDING_EPOCHS, validator=_count)
    #: G5 (strict): counterfactual contribution in percent points.
    min_fossilize_contribution: float = attrs.field(
        default=DEFAULT_MIN_FOSSILIZE_CONTRIBUTION, validator=_non_negative
    )


def _check_score(instance: GateResult, attribute: attrs.Attribute[float], value: float) -> None:
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"GateResult.score must be within [0, 1], got {value!r}")


@attrs.frozen(kw_only=True)
class GateResult:
    """Outcome of one gate evaluation. ``passed`` is True exactly when no check failed."""

    gate: GateLevel
    passed: bool
    score: float = attrs.field(validator=_check_score)
    checks_passed: tuple[str, ...] = ()
    checks_failed: tuple[str, ...] = ()
    message: str = ""

    def __attrs_post_init__(self) -> None:
        if self.passed == bool(self.checks_failed):
            raise ValueError(
                f"GateResult for {self.gate.name}: passed={self.passed} contradicts "
                f"checks_failed={self.checks_failed}"
            )


class _Checks:
    """Collects named checks; a failed check carries a human-readable reason."""

    def __init__(self, gate: GateLevel) -> None:
        self.gate = gate
        self.passed: list[str] = []
        self.failed: list[str] = []
        self.reasons: list[str] = []

    def check(self, name: str, ok: bool, reason: str) -> None:
        if ok:
            self.passed.append(name)
        else:
            self.failed.append(name)
            self.reasons.append(f"{name} ({reason})")

    def result(self, score: float) -> GateResult:
        passed = not self.failed
        message = (
            f"{self.gate.name} passed"
            if passed
            else f"{self.gate.name} failed: " + "; ".join(self.reasons)
        )
        return GateResult(
            gate=self.gate,
            passed=passed,
            score=min(1.0, max(0.0, score)),
            checks_passed=tuple(self.passed),
            checks_failed=tuple(self.failed),
            message=message,
        )


class QualityGates:
    """Evaluates gates against a `SeedState` under one `GateConfig`."""

    def __init__(self, config: GateConfig | None = None) -> None:
        self.config = config if config is not None else GateConfig()

    def evaluate(self, gate: GateLevel | str | int, state: SeedState) -> GateResult:
        """Run ``gate`` on ``state``; a failing seed is a result, not an error."""
        level = GateLevel.parse(gate)
        if level is GateLevel.G0:
            return self._g0(state)
        if level is GateLevel.G1:
            return self._g1(state)
        if level is GateLevel.G2:
            return self._g2(state)
        if level is GateLevel.G3:
            return self._g3(state)
        return self._g5(state)

    def _g0(self, state: SeedState) -> GateResult:
        checks = _Checks(GateLevel.G0)
        checks.check("seed_id", bool(state.seed_id.strip()), "seed id is empty")
        checks.check("blueprint_id", bool(state.blueprint_id.strip()), "blueprint id is empty")
        return checks.result(0.0 if checks.failed else 1.0)

    def _g1(self, state: SeedState) -> GateResult:
        checks = _Checks(GateLevel.G1)
        checks.check(
            "stage_germinated",
            state.stage is Stage.GERMINATED,
            f"stage is {state.stage.name}, not GERMINATED",
        )
        return checks.result(0.0 if checks.failed else 1.0)

    def _g2(self, state: SeedState) -> GateResult:
        cfg = self.config
        checks = _Checks(GateLevel.G2)
        checks.check(
            "min_epochs",
            state.epochs_in_stage >= cfg.min_training_epochs,
            f"epochs_in_stage={state.epochs_in_stage} < {cfg.min_training_epochs}",
        )
        improvement = state.improvement_since_stage_start
        if cfg.strict:
            checks.check(
                "improvement",
                improvement is not None and improvement >= cfg.min_training_improvement,
                "accuracy not measured"
                if improvement is None
                else f"improvement={improvement:.3f}pp < {cfg.min_training_improvement}pp",
            )
            ratio = state.gradient_ratio
            checks.check(
                "gradient_ratio",
                ratio is not None and ratio >= cfg.min_gradient_ratio,
                "not measured"
                if ratio is None
                else f"ratio={ratio:.4f} < {cfg.min_gradient_ratio}",
            )
        else:
            health = state.gradient_health
            measured = health is not None
            checks.check("gradient_measured", measured, "gradient health not measured")
            checks.check(
                "not_exploding",
                state.has_exploding is False,
                "not measured" if state.has_exploding is None else "exploding gradients",
            )
            checks.check(
                "gradient_health",
                health is not None and health >= cfg.min_gradient_health,
                "not measured"
                if health is None
                else f"health={health:.3f} < {cfg.min_gradient_health}",
            )
        score = 0.0
        if improvement is not None and improvement > 0:
            score = improvement / _G2_FULL_SCORE_IMPROVEMENT
        return checks.result(score)

    def _g3(self, state: SeedState) -> GateResult:
        cfg = self.config
        tol = cfg.alpha_tolerance
        alpha = state.alpha_controller
        checks = _Checks(GateLevel.G3)
        checks.check(
            "alpha_target_full",
            alpha.target >= 1.0 - tol,
            f"alpha target {alpha.target} < {1.0 - tol}",
        )
        checks.check(
            "alpha_settled",
            alpha.mode is AlphaMode.HOLD and abs(alpha.alpha - alpha.target) <= tol,
            f"alpha={alpha.alpha} mode={alpha.mode.name} target={alpha.target}",
        )
        if cfg.strict:
            checks.check(
                "min_epochs",
                state.epochs_in_stage >= cfg.min_blending_epochs,
                f"epochs_in_stage={state.epochs_in_stage} < {cfg.min_blending_epochs}",
            )
        return checks.result(alpha.alpha)

    def _g5(self, state: SeedState) -> GateResult:
        cfg = self.config
        contribution = state.contribution
        checks = _Checks(GateLevel.G5)
        checks.check(
            "contribution_measured", contribution is not None, "counterfactual not measured"
        )
        if cfg.strict:
            checks.check(
                "min_contribution",
                contribution is not None and contribution >= cfg.min_fossilize_contribution,
                "not measured"
                if contribution is None
                else f"contribution={contribution:.3f}pp < {cfg.min_fossilize_contribution}pp",
            )
        health = state.gradient_health
        checks.check(
            "seed_healthy",
            health is not None
            and state.has_exploding is False
            and health >= cfg.min_gradient_health,
            "gradient health not measured"
            if health is None
            else f"health={health:.3f} (min {cfg.min_gradient_health}), "
            f"exploding={state.has_exploding}",
        )
        score = 0.0
        if contribution is not None and contribution > 0:
            score = contribution / _G5_FULL_SCORE_CONTRIBUTION
        return checks.result(score)
