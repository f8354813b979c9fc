"""Options of the PPO agent (defaults from the prior system, spec 5.7). No torch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
from attrs import validators as v

from esper.plugin import finite, is_finite_number

#: Largest ``log_ratio_clamp``. float32's exp overflows above 88.7, and the ratio exp(c) is
#: then multiplied by normalised advantages (|A| <= sqrt(n) for n samples) and summed over
#: every sample and head: exp(40) ~ 2.4e17 keeps that sum near 1e31 even for n = 4e8, far
#: below float32's largest value, 3.4e38.
MAX_LOG_RATIO_CLAMP = 40.0

#: Default approximate-KL target (typed like its field, as attrs' stubs need for
#: ``v.optional`` with a plain validator).
DEFAULT_TARGET_KL: float | None = 0.015

#: Largest count of updates an option may name: the most episodes ``esper train`` runs.
_MAX_UPDATES = 1_000_000

#: Action heads, in `esper.rl.action_space.HEADS` order (repeated here: this module imports no torch).
HEAD_NAMES: tuple[str, ...] = (
    "op",
    "slot",
    "blueprint",
    "style",
    "tempo",
    "alpha_target",
    "alpha_speed",
    "alpha_curve",
)

#: Entropy-bonus multiplier per head (prior system): rarely used heads get a larger bonus.
DEFAULT_ENTROPY_MULTIPLIERS: dict[str, float] = {
    "op": 1.0,
    "slot": 1.0,
    "blueprint": 1.3,
    "style": 1.2,
    "tempo": 1.3,
    "alpha_target": 1.2,
    "alpha_speed": 1.2,
    "alpha_curve": 1.2,
}

#: Normalised-entropy floor per head under which a quadratic penalty applies (esper's choice;
#: the prior system's per-head floors are not recorded).
DEFAULT_ENTROPY_FLOORS: dict[str, float] = dict.fromkeys(HEAD_NAMES, 0.1)


def _head_table(low: float, high: float | None) -> Callable[[Any, Any, Any], None]:
    def check(_inst: object, attribute: Any, value: object) -> None:
        if not isinstance(value, dict):
            raise ValueError(f"'{attribute.name}' must be a table of head name -> number")
        unknown = sorted(set(value) - set(HEAD_NAMES))
        if unknown:
            raise ValueError(
                f"'{attribute.name}' names unknown head(s) {unknown} (heads: {', '.join(HEAD_NAMES)})"
            )
        for head, x in value.items():
            if not is_finite_number(x) or not low <= x or (high is not None and not x <= high):
                bound = f"[{low}, {high}]" if high is not None else f"finite and >= {low}"
                raise ValueError(f"'{attribute.name}': {head} = {x!r} must be {bound}")

    return check


@attrs.frozen(kw_only=True)
class PPOConfig:
    """Hyper-parameters of `esper_plugins.agents.ppo.PPOAgent`.

    Tables keyed by head (``entropy_multipliers``, ``entropy_floors``) override the defaults
    for the heads they name.
    """

    #: Adam learning rate and epsilon.
    lr: float = attrs.field(default=3e-4, validator=[finite, v.gt(0)])
    adam_eps: float = attrs.field(default=1e-5, validator=[finite, v.gt(0)])
    #: Discount and GAE lambda.
    gamma: float = attrs.field(default=0.995, validator=[v.gt(0), v.le(1)])
    gae_lambda: float = attrs.field(default=0.98, validator=[v.ge(0), v.le(1)])
    #: Clip range of the per-head probability ratio.
    clip: float = attrs.field(default=0.2, validator=[v.gt(0), v.lt(1)])
    #: Value-loss coefficient, warmed up linearly from 0.1x over this many updates (0: off).
    value_coef: float = attrs.field(default=0.5, validator=[finite, v.ge(0)])
    value_coef_warmup: int = attrs.field(default=10, validator=[v.ge(0), v.le(_MAX_UPDATES)])
    #: Weight of forced steps (WAIT the only valid op) in the value loss.
    forced_value_weight: float = attrs.field(default=0.2, validator=[v.ge(0), v.le(1)])
    #: Entropy-bonus coefficient and per-head multipliers.
    entropy_coef: float = attrs.field(default=0.05, validator=[finite, v.ge(0)])
    #: Entropy anneal: the coefficient moves linearly from ``entropy_coef`` to
    #: ``entropy_coef_final`` over the first ``entropy_anneal_updates`` updates, then stays
    #: (0 updates: no anneal; the prior system annealed towards 0.01).
    entropy_coef_final: float = attrs.field(default=0.01, validator=[finite, v.ge(0)])
    entropy_anneal_updates: int = attrs.field(default=0, validator=[v.ge(0), v.le(_MAX_UPDATES)])
    entropy_multipliers: dict[str, float] = attrs.field(
        factory=dict, validator=_head_table(0.0, None)
    )
    #: Per-head normalised-entropy floors and the coefficient of the squared shortfall.
    entropy_floors: dict[str, float] = attrs.field(factory=dict, validator=_head_table(0.0, 1.0))
    entropy_floor_coef: float = attrs.field(default=0.1, validator=[finite, v.ge(0)])
    #: Floor-penalty schedule over this many updates (0: constant): the penalty is scaled
    #: x1.5 for the first quarter, x1.0 to three quarters, then linearly down to x0.5 at the
    #: end, and stays there (the prior system's schedule).
    entropy_floor_schedule: int = attrs.field(default=0, validator=[v.ge(0), v.le(_MAX_UPDATES)])
    #: Global gradient-norm clip.
    max_grad_norm: float = attrs.field(default=5.0, validator=[finite, v.gt(0)])
    #: Approximate-KL target; an update stops, before that epoch's optimizer step, when an
    #: epoch's KL > factor x target.
    target_kl: float | None = attrs.field(
        default=DEFAULT_TARGET_KL, validator=v.optional([finite, v.gt(0.0)])
    )
    kl_stop_factor: float = attrs.field(default=1.5, validator=[finite, v.gt(0)])
    #: Critic phase: after the policy's epochs, this many more passes of the value loss alone
    #: that step only the parameters the value estimate alone uses
    #: (`TrainablePolicy.value_parameters`), with an Adam of their own at ``critic_lr``, so the
    #: critic can fit faster than the policy may move (0: off).
    critic_epochs: int = attrs.field(default=0, validator=[v.ge(0), v.le(1000)])
    critic_lr: float = attrs.field(default=1e-3, validator=[finite, v.gt(0)])
    #: Passes over the rollout per update. Each pass re-runs the LSTM over whole episodes from
    #: a zero state, so several are sound; with one full-batch pass the ratio is always 1 and
    #: neither clipping nor the KL stop can act (the prior system used 1).
    epochs: int = attrs.field(default=4, validator=[v.ge(1), v.le(1000)])
    #: Normalised reward of a rollback's terminal step (it becomes -rollback_penalty).
    rollback_penalty: float = attrs.field(default=10.0, validator=[finite, v.ge(0)])
    #: Also zero the normalised rewards of the earlier steps of a rolled-back episode.
    forfeit_on_rollback: bool = True
    #: Floor of the advantages' standard deviation when normalising them.
    adv_std_floor: float = attrs.field(default=0.1, validator=[finite, v.gt(0)])
    #: Per-head log-ratios are clamped to +-this before exp (review T1-3); at most
    #: MAX_LOG_RATIO_CLAMP, so the ratio, and the losses it scales, stay finite in float32.
    log_ratio_clamp: float = attrs.field(
        default=20.0, validator=[finite, v.gt(0), v.le(MAX_LOG_RATIO_CLAMP)]
    )
    #: Reward normaliser: clip of normalised rewards.
    reward_clip: float = attrs.field(default=10.0, validator=[finite, v.gt(0)])
    #: Value normaliser: samples before it applies, then EMA momentum.
    value_norm_warmup: int = attrs.field(default=32, validator=[v.ge(1), v.le(1_000_000_000)])
    value_norm_momentum: float = attrs.field(default=0.99, validator=[v.ge(0), v.lt(1)])
    #: Training stops (error) after this many consecutive updates skipped as non-finite.
    max_consecutive_skips: int = attrs.field(default=3, validator=[v.ge(1), v.le(_MAX_UPDATES)])

    def entropy_coef_at(self, updates: int) -> float:
        """The entropy coefficient of the update after ``updates`` updates."""
        if self.entropy_anneal_updates == 0:
            return self.entropy_coef
        progress = min(1.0, updates / self.entropy_anneal_updates)
        return self.entropy_coef + (self.entropy_coef_final - self.entropy_coef) * progress

    def floor_scale_at(self, updates: int) -> float:
        """The floor penalty's multiplier for the update after ``updates`` updates."""
        if self.entropy_floor_schedule == 0:
            return 1.0
        progress = min(1.0, updates / self.entropy_floor_schedule)
        if progress < 0.25:
            return 1.5
        if progress < 0.75:
            return 1.0
        return 1.0 - 0.5 * (progress - 0.75) / 0.25

    def head_multipliers(self) -> dict[str, float]:
        return {
            **DEFAULT_ENTROPY_MULTIPLIERS,
            **{k: float(x) for k, x in self.entropy_multipliers.items()},
        }

    def head_floors(self) -> dict[str, float]:
        return {**DEFAULT_ENTROPY_FLOORS, **{k: float(x) for k, x in self.entropy_floors.items()}}
