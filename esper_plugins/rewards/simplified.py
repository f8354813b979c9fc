"""The simplified reward: PBRS, a flat intervention cost, a terminal bonus (spec §5.4 SIMPLIFIED).

Components (always all present): ``pbrs`` (stage potentials with the epochs term, over all
slots), ``action_cost`` (``-action_cost`` for every executed op other than WAIT), and at the
last epoch ``terminal_accuracy`` (``accuracy_weight * accuracy / 100``) and
``terminal_fossils`` (``fossil_weight`` per fossilized seed whose last measured contribution
reaches ``contributing_min``). No counterfactual attribution: little to game.
"""

from __future__ import annotations

from esper.plugin import Op, RewardBreakdown, RewardContext, RewardFunction, Stage
from esper_plugins.rewards.config import SimplifiedRewardConfig
from esper_plugins.rewards.shaping import StagePotentials, resolve_gamma, stage_after

COMPONENTS: tuple[str, ...] = ("pbrs", "action_cost", "terminal_accuracy", "terminal_fossils")


class SimplifiedReward(RewardFunction):
    """Called as ``SimplifiedReward(config_or_None, gamma=agent_gamma)``."""

    def __init__(self, config: SimplifiedRewardConfig | None = None, *, gamma: float) -> None:
        self.config = config or SimplifiedRewardConfig()
        if not isinstance(self.config, SimplifiedRewardConfig):
            raise TypeError(f"expected a SimplifiedRewardConfig, got {type(config).__name__}")
        self.gamma = resolve_gamma(self.config.gamma, gamma)
        self._pbrs = StagePotentials(gamma=self.gamma, weight=self.config.pbrs_weight)

    def reset(self) -> None:
        self._pbrs.reset()

    def __call__(self, context: RewardContext) -> RewardBreakdown:
        cfg = self.config
        parts = dict.fromkeys(COMPONENTS, 0.0)
        if not cfg.disable_pbrs:
            parts["pbrs"] = self._pbrs(context)
        if context.op is not Op.WAIT:
            parts["action_cost"] = -cfg.action_cost
        if context.terminal and not cfg.disable_terminal_reward:
            parts["terminal_accuracy"] = cfg.accuracy_weight * context.signals.val_accuracy / 100.0
            contributing = sum(
                1
                for view in context.signals.slots
                if stage_after(context, view.slot_id) is Stage.FOSSILIZED
                and view.contribution is not None
                and view.contribution >= cfg.contributing_min
            )
            parts["terminal_fossils"] = cfg.fossil_weight * contributing
        return RewardBreakdown(components=parts)
