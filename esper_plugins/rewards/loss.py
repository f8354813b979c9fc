"""The loss-primary reward: rewards a falling validation loss (spec §5.4 LOSS family).

Sign convention. ``delta = new - old`` validation loss, so an improvement is negative, and
``z = clip(delta / typical_loss_std, -max_z, max_z)``; regressions (z > 0) are scaled by
``regression_scale`` and the reward is ``-loss_weight * z``: a falling loss earns a positive
reward, a rising one a (smaller) negative reward. `esper.contracts.signals.Signals.loss_delta`
is ``old - new`` (positive = improvement), so ``delta = -loss_delta``. The prior system fed
``old - new`` into a formula written for ``new - old`` and so penalised improvements (spec
§13); the tests pin the sign.

Components (always all present): ``loss_delta``, ``compute_rent``, ``pbrs`` (base stage
potentials, no epochs term, over all slots) and ``terminal`` (the fraction of the way from
the episode's first loss to ``target_loss`` covered by the final loss, clipped to [0, 1]).
"""

from __future__ import annotations

import math

from esper.plugin import RewardBreakdown, RewardContext, RewardFunction, Stage
from esper_plugins.rewards.config import LossRewardConfig
from esper_plugins.rewards.shaping import (
    LIVE_STAGES,
    StagePotentials,
    log_rent,
    param_ratio,
    resolve_gamma,
    seed_age,
    slot_ids,
    stage_after,
)

COMPONENTS: tuple[str, ...] = ("loss_delta", "compute_rent", "pbrs", "terminal")
#: Seeds whose parameters are part of the model.
PARAM_STAGES = LIVE_STAGES | {Stage.FOSSILIZED}


class LossReward(RewardFunction):
    """Loss-primary reward; called as ``LossReward(config_or_None, gamma=agent_gamma)``."""

    def __init__(self, config: LossRewardConfig | None = None, *, gamma: float) -> None:
        self.config = config or LossRewardConfig()
        if not isinstance(self.config, LossRewardConfig):
            raise TypeError(f"expected a LossRewardConfig, got {type(config).__name__}")
        self.gamma = resolve_gamma(self.config.gamma, gamma)
        self._pbrs = StagePotentials(
            gamma=self.gamma, weight=self.config.pbrs_weight, epoch_term=False
        )

    def reset(self) -> None:
        self._pbrs.reset()

    def loss_term(self, loss_delta: float) -> float:
        """Reward for ``Signals.loss_delta`` (old - new, positive = improvement)."""
        cfg = self.config
        delta = -loss_delta  # new - old
        # A NaN or infinite loss is the worst regression there is.
        z = (
            cfg.max_z
            if math.isnan(delta)
            else min(max(delta / cfg.typical_loss_std, -cfg.max_z), cfg.max_z)
        )
        if z > 0:
            z *= cfg.regression_scale
        return -cfg.loss_weight * z

    def __call__(self, context: RewardContext) -> RewardBreakdown:
        cfg = self.config
        parts = dict.fromkeys(COMPONENTS, 0.0)
        parts["loss_delta"] = self.loss_term(context.signals.loss_delta)
        seed_params = 0.0
        for sid in slot_ids(context):
            if stage_after(context, sid) not in PARAM_STAGES:
                continue
            age = seed_age(context, sid)
            if age is not None and age >= cfg.rent_grace_epochs:
                seed_params += context.seed_params.get(sid, 0)
        parts["compute_rent"] = log_rent(
            param_ratio(seed_params, context.host_params), weight=cfg.rent_weight, cap=cfg.max_rent
        )
        if not cfg.disable_pbrs:
            parts["pbrs"] = self._pbrs(context)
        if context.terminal and not cfg.disable_terminal_reward:
            parts["terminal"] = self.terminal_term(context)
        return RewardBreakdown(components=parts)

    def terminal_term(self, context: RewardContext) -> float:
        """terminal_weight * clip((initial - final) / (initial - target), 0, 1)."""
        initial, final = context.initial_loss, context.signals.val_loss
        if initial is None:
            return 0.0
        span = initial - self.config.target_loss
        if not (math.isfinite(span) and span > 0 and math.isfinite(final)):
            return 0.0
        progress = (initial - final) / span
        return self.config.terminal_weight * min(max(progress, 0.0), 1.0)
