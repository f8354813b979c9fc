"""The sparse reward: nothing until the last epoch (spec §5.4 SPARSE, and MINIMAL).

At the last epoch: ``scale * clip(accuracy / 100 - param_weight * fossilized params /
param_budget, -1, 1)``, with the final validation accuracy (the prior system used the
accuracy with uncommitted seeds switched off, which the runner does not measure). With
``early_prune_penalty`` > 0, pruning a seed younger than ``min_prune_age`` epochs costs that
much at once (the prior MINIMAL mode). No shaping, so the agent's gamma is not used.
"""

from __future__ import annotations

from esper.plugin import Op, RewardBreakdown, RewardContext, RewardFunction, Stage
from esper_plugins.rewards.config import SparseRewardConfig
from esper_plugins.rewards.shaping import resolve_gamma, seed_age, slot_ids, stage_after

COMPONENTS: tuple[str, ...] = ("terminal", "early_prune")


class SparseReward(RewardFunction):
    """Terminal-only reward; called as ``SparseReward(config_or_None, gamma=agent_gamma)``."""

    def __init__(self, config: SparseRewardConfig | None = None, *, gamma: float) -> None:
        self.config = config or SparseRewardConfig()
        if not isinstance(self.config, SparseRewardConfig):
            raise TypeError(f"expected a SparseRewardConfig, got {type(config).__name__}")
        resolve_gamma(None, gamma)  # validates the agent's discount only

    def __call__(self, context: RewardContext) -> RewardBreakdown:
        cfg = self.config
        parts = dict.fromkeys(COMPONENTS, 0.0)
        if context.terminal:
            fossil_params = sum(
                context.seed_params.get(sid, 0)
                for sid in slot_ids(context)
                if stage_after(context, sid) is Stage.FOSSILIZED
            )
            score = (
                context.signals.val_accuracy / 100.0
                - cfg.param_weight * fossil_params / cfg.param_budget
            )
            parts["terminal"] = cfg.scale * min(max(score, -1.0), 1.0)
        target = context.target
        if cfg.early_prune_penalty and context.op is Op.PRUNE and target is not None:
            age = seed_age(context, target.slot_id)
            if age is not None and age < cfg.min_prune_age:
                parts["early_prune"] = -cfg.early_prune_penalty
        return RewardBreakdown(components=parts)
