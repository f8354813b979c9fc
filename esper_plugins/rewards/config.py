"""Options of the reward plugins (defaults: the prior system's values, spec §5.4). No torch.

Every reward that shapes with stage potentials (PBRS) has ``gamma``: None (the default) means
"use the agent's discount"; a value that differs from the agent's is refused when the reward is
built, because shaping preserves the optimal policy only with the agent's own discount
(Ng, Harada and Russell, 1999).
"""

from __future__ import annotations

import math
from typing import Any

import attrs
from attrs import validators as v

from esper.plugin import MAX_EPOCHS

#: Largest ``sigmoid_steepness``. `logistic` only exps non-positive arguments, so no steepness
#: overflows there; the bound keeps k * cf a finite float (|cf| <= 100 pp) and is far past the
#: point where the discount is already a step (k = 1000 gives 4.5e-5 at cf = -0.01 pp).
MAX_SIGMOID_STEEPNESS = 1000.0

#: Most seeds a reward may count as free: far more slots than any host declares.
_MAX_SEEDS = 1024


def _epochs(default: int, low: int) -> Any:
    """A count of epochs: at least ``low``, at most the longest run."""
    return attrs.field(default=default, validator=[v.instance_of(int), v.ge(low), v.le(MAX_EPOCHS)])


def _finite(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"'{attribute.name}' must be a finite number, got {value!r}")


def _discount(_inst: object, attribute: attrs.Attribute[float | None], value: float | None) -> None:
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value <= 1
    ):
        raise ValueError(f"'{attribute.name}' must be a discount in (0, 1], got {value!r}")


def _gamma_field() -> Any:
    return attrs.field(default=None, validator=_discount)


def _weight(default: float) -> Any:
    """A non-negative finite weight."""
    return attrs.field(default=default, validator=[_finite, v.ge(0)])


#: Modes of the contribution reward: attribution paid per step ("shaped") or as the change of
#: an escrowed per-seed credit ("escrow"), spec §5.4.
CONTRIBUTION_MODES = ("shaped", "escrow")


@attrs.frozen(kw_only=True)
class ContributionRewardConfig:
    """The dense, counterfactual-attribution reward (the prior system's SHAPED and ESCROW modes)."""

    #: "shaped" pays each live seed's attribution every step; "escrow" pays only the change of
    #: a per-seed credit, refunded on PRUNE and forfeited at the end unless the seed fossilized.
    mode: str = attrs.field(default="shaped", validator=v.in_(CONTRIBUTION_MODES))
    #: ESCROW: largest credit change paid in one step (either sign) while c >= 0.
    escrow_delta_clip: float = attrs.field(default=2.0, validator=[_finite, v.gt(0)])
    #: ESCROW: progress uses the minimum of this many latest validation accuracies.
    stable_accuracy_window: int = _epochs(3, 1)
    #: PBRS discount; None = the agent's. Any other value must equal the agent's.
    gamma: float | None = _gamma_field()
    #: Scale of the stage-potential shaping (and of the germination bonus, which is PBRS).
    pbrs_weight: float = _weight(0.3)
    disable_pbrs: bool = False
    #: Turns off the end-of-episode accuracy bonus and the immediate fossilization bonus.
    disable_terminal_reward: bool = False
    #: Turns off the contribution/improvement ratio penalty and the alpha-shock penalty.
    disable_anti_gaming: bool = False
    #: Steepness k of the discount sigmoid(k * cf) applied while the seeds hurt (cf < 0).
    sigmoid_steepness: float = attrs.field(
        default=3.0, validator=[_finite, v.ge(0), v.le(MAX_SIGMOID_STEEPNESS)]
    )
    #: Seeds germinated before this epoch have their attribution and germination bonus
    #: scaled from ``early_germination_floor`` (epoch 0) up to 1 (this epoch).
    early_germination_epochs: int = _epochs(10, 0)
    early_germination_floor: float = attrs.field(default=0.4, validator=[_finite, v.ge(0), v.le(1)])
    #: Reward per point of stage improvement for a blended seed whose contribution is unmeasured.
    proxy_weight: float = _weight(0.3)
    #: Compute rent: -min(rent_weight * ln(1 + growth), max_rent).
    rent_weight: float = _weight(0.5)
    max_rent: float = _weight(1.5)
    #: Per-seed overhead counted as a fraction of the host's parameters.
    seed_overhead: float = _weight(0.0039)
    #: Alpha shock: -alpha_shock_weight * sum((d alpha)^2 * seed/host params), at most max_alpha_shock.
    alpha_shock_weight: float = _weight(0.1958)
    max_alpha_shock: float = _weight(1.0)
    #: Capacity rent per seed beyond ``free_seeds`` (live or fossilized), and per fossil.
    capacity_rent: float = _weight(0.01)
    fossil_rent: float = _weight(0.002)
    free_seeds: int = attrs.field(
        default=1, validator=[v.instance_of(int), v.ge(0), v.le(_MAX_SEEDS)]
    )
    #: Contribution (percent points) a seed needs for FOSSILIZE to be rewarded.
    fossilize_min_contribution: float = attrs.field(default=1.0, validator=_finite)
    #: Epochs in HOLDING after which a fossilization counts as fully legitimate.
    legitimacy_epochs: int = _epochs(5, 1)
    #: Seeds younger than this (epochs) are penalised when pruned without clear harm.
    min_prune_age: int = _epochs(5, 0)
    #: End-of-episode bonus per point of validation accuracy.
    terminal_weight: float = _weight(0.05)


@attrs.frozen(kw_only=True)
class LossRewardConfig:
    """The loss-primary reward: rewards falling validation loss (spec §5.4 LOSS family)."""

    gamma: float | None = _gamma_field()
    #: Scale of the stage-potential bonus (base potentials only, no epochs term).
    pbrs_weight: float = _weight(0.1)
    disable_pbrs: bool = False
    disable_terminal_reward: bool = False
    #: Typical epoch-to-epoch change of the validation loss (CIFAR 0.05, TinyStories 0.15).
    typical_loss_std: float = attrs.field(default=0.05, validator=[_finite, v.gt(0)])
    #: |z| is clipped here; regressions (z > 0) are then scaled by ``regression_scale``.
    max_z: float = attrs.field(default=5.0, validator=[_finite, v.gt(0)])
    regression_scale: float = _weight(0.5)
    loss_weight: float = _weight(5.0)
    #: Compute rent: -min(rent_weight * ln(1 + seed params / host params), max_rent).
    rent_weight: float = _weight(0.05)
    max_rent: float = _weight(5.0)
    #: Seeds younger than this (epochs since germination) pay no rent yet.
    rent_grace_epochs: int = _epochs(3, 0)
    #: Terminal term: terminal_weight * clip((initial - final) / (initial - target_loss), 0, 1).
    target_loss: float = attrs.field(default=0.0, validator=_finite)
    terminal_weight: float = _weight(1.0)


@attrs.frozen(kw_only=True)
class SparseRewardConfig:
    """Zero until the last epoch, then accuracy minus a parameter cost (spec §5.4 SPARSE).

    No shaping, so no ``gamma``. ``early_prune_penalty`` > 0 gives the prior MINIMAL mode
    (SPARSE minus a penalty for pruning a seed younger than ``min_prune_age`` epochs).
    """

    scale: float = attrs.field(default=1.0, validator=[_finite, v.gt(0)])
    param_weight: float = _weight(0.1)
    #: Fossilized parameters that cost param_weight (at most a trillion).
    param_budget: int = attrs.field(
        default=500_000, validator=[v.instance_of(int), v.ge(1), v.le(10**12)]
    )
    early_prune_penalty: float = _weight(0.0)
    min_prune_age: int = _epochs(5, 0)


@attrs.frozen(kw_only=True)
class SimplifiedRewardConfig:
    """PBRS, a flat intervention cost and a terminal bonus (spec §5.4 SIMPLIFIED)."""

    gamma: float | None = _gamma_field()
    pbrs_weight: float = _weight(0.3)
    disable_pbrs: bool = False
    disable_terminal_reward: bool = False
    #: Cost of every executed action other than WAIT.
    action_cost: float = _weight(0.01)
    #: Terminal: accuracy_weight * accuracy / 100 + fossil_weight * contributing fossils.
    accuracy_weight: float = _weight(3.0)
    fossil_weight: float = _weight(2.0)
    #: A fossilized seed "contributes" when its last measured contribution reaches this (pp).
    contributing_min: float = attrs.field(default=1.0, validator=_finite)
