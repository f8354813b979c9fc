"""What a seed's lifecycle record measures: accuracy, gradient health and contribution.

`SeedMeasurements` is a mixin of `esper.lifecycle.state.SeedState`: the ``record_*`` methods
take a measurement in (checked: a non-finite number is an error, never data), and the
properties derive what the gates, views and rewards read from the fields. The fields
themselves are `SeedState`'s (they are persisted with it); every one starts as None, meaning
"not measured", and nothing derived from None reads as good.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from esper.lifecycle.stages import Stage

DEFAULT_GRADIENT_EMA_DECAY = 0.9

#: Stages in which the seed exists and `record_accuracy` counts epochs.
_LIVE_STAGES = frozenset(
    {Stage.GERMINATED, Stage.TRAINING, Stage.BLENDING, Stage.HOLDING, Stage.FOSSILIZED}
)


def finite(value: object, what: str) -> float:
    """``value`` as a float; ValueError naming ``what`` unless it is a finite real number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return number


class SeedMeasurements:
    """Measurements of one seed, and the figures derived from them."""

    # `SeedState` is a slotted attrs class: the mixin adds no slots, and no __dict__, of its
    # own. (Hidden from mypy, which would read the empty tuple as "no attributes at all".)
    if not TYPE_CHECKING:
        __slots__ = ()

    # Fields of `SeedState` (see there) that the measurements read and write.
    _stage: Stage
    epochs_in_stage: int
    epochs_total: int
    epochs_by_stage: dict[Stage, int]
    accuracy_at_start: float | None
    accuracy_at_stage_start: float | None
    current_accuracy: float | None
    best_accuracy: float | None
    contribution: float | None
    previous_contribution: float | None
    contribution_measured_at: int | None
    gradient_norm: float | None
    gradient_health: float | None
    previous_gradient_health: float | None
    has_vanishing: bool | None
    has_exploding: bool | None
    gradient_ratio: float | None

    # -- derived --------------------------------------------------------------------------

    @property
    def improvement_since_stage_start(self) -> float | None:
        """Accuracy change in pp since the current stage began; None if not measured."""
        if self.current_accuracy is None or self.accuracy_at_stage_start is None:
            return None
        return self.current_accuracy - self.accuracy_at_stage_start

    @property
    def total_improvement(self) -> float | None:
        """Accuracy change in pp since the first record; None if not measured."""
        if self.current_accuracy is None or self.accuracy_at_start is None:
            return None
        return self.current_accuracy - self.accuracy_at_start

    @property
    def contribution_velocity(self) -> float | None:
        """Change between the last two contribution measurements; None with fewer than two."""
        if self.contribution is None or self.previous_contribution is None:
            return None
        return self.contribution - self.previous_contribution

    @property
    def contribution_age(self) -> int | None:
        """Epochs recorded since the last contribution measurement; None if never measured."""
        if self.contribution_measured_at is None:
            return None
        return self.epochs_total - self.contribution_measured_at

    @property
    def gradient_measured(self) -> bool:
        return self.gradient_health is not None

    # -- recording ------------------------------------------------------------------------

    def record_accuracy(self, val_acc: float) -> None:
        """Record this epoch's validation accuracy (percent) and count the epoch.

        Updates current/best accuracy (the first record also sets the start baselines) and
        increments ``epochs_total``, ``epochs_in_stage`` and the per-stage counter. Does
        nothing outside the live stages (GERMINATED..FOSSILIZED): a pruned seed's cooldown is
        counted by `tick` alone, so recording accuracy cannot shorten it.
        """
        value = finite(val_acc, "validation accuracy")
        if self._stage not in _LIVE_STAGES:
            return
        if self.accuracy_at_start is None:
            self.accuracy_at_start = value
        if self.accuracy_at_stage_start is None:
            self.accuracy_at_stage_start = value
        self.current_accuracy = value
        self.best_accuracy = value if self.best_accuracy is None else max(self.best_accuracy, value)
        self.epochs_total += 1
        self.epochs_in_stage += 1
        self.epochs_by_stage[self._stage] = self.epochs_by_stage.get(self._stage, 0) + 1

    def record_gradient_health(
        self,
        health: float,
        *,
        has_vanishing: bool,
        has_exploding: bool,
        norm: float | None = None,
    ) -> None:
        """Record one gradient-health measurement (health in [0, 1]; NaN is an error)."""
        value = finite(health, "gradient health")
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"gradient health must be within [0, 1], got {health!r}")
        if norm is not None and finite(norm, "gradient norm") < 0:
            raise ValueError(f"gradient norm must be >= 0, got {norm!r}")
        if not isinstance(has_vanishing, bool) or not isinstance(has_exploding, bool):
            raise ValueError("has_vanishing and has_exploding must be bools")
        self.previous_gradient_health = self.gradient_health
        self.gradient_health = value
        self.gradient_norm = None if norm is None else float(norm)
        self.has_vanishing = has_vanishing
        self.has_exploding = has_exploding

    def record_gradient_ratio(
        self, ratio: float, *, decay: float = DEFAULT_GRADIENT_EMA_DECAY
    ) -> float:
        """Fold one seed/host gradient ratio into the EMA and return the EMA.

        The first measurement initialises the EMA (no bias toward 0, which would hold G2
        strict shut for the first epochs).
        """
        value = finite(ratio, "gradient ratio")
        if value < 0:
            raise ValueError(f"gradient ratio must be >= 0, got {ratio!r}")
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be within [0, 1), got {decay!r}")
        if self.gradient_ratio is None:
            self.gradient_ratio = value
        else:
            self.gradient_ratio = decay * self.gradient_ratio + (1.0 - decay) * value
        return self.gradient_ratio

    def record_contribution(self, contribution: float) -> None:
        """Record a counterfactual contribution measurement (percent points)."""
        value = finite(contribution, "contribution")
        self.previous_contribution = self.contribution
        self.contribution = value
        self.contribution_measured_at = self.epochs_total
