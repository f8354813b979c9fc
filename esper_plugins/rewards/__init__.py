"""``esper.rewards``: the built-in rewards for training a growth controller.

Hook module only (no torch): each reward lives in its own module and is imported when built.
Every factory is called as ``factory(config_or_None, gamma=agent_gamma)`` and returns an
`esper.contracts.reward.RewardFunction`. See docs/rewards.md.
"""

from __future__ import annotations

from collections.abc import Iterator

from esper.plugin import RewardSpec, hookimpl


@hookimpl
def esper_rewards() -> Iterator[RewardSpec]:
    yield RewardSpec(
        name="contribution",
        tags=("train-default",),
        factory="esper_plugins.rewards.contribution:ContributionReward",
        config_cls="esper_plugins.rewards.config:ContributionRewardConfig",
        summary=(
            "Dense: counterfactual attribution per seed (harmonic with progress, anti-gaming "
            "penalties), stage-potential shaping, parameter rents, per-op shaping, "
            "0.05 x accuracy at the end."
        ),
    )
    yield RewardSpec(
        name="loss",
        factory="esper_plugins.rewards.loss:LossReward",
        config_cls="esper_plugins.rewards.config:LossRewardConfig",
        summary=(
            "Dense: rewards a falling validation loss (normalised, clipped, regressions "
            "halved), minus rent, plus stage-potential shaping and a terminal loss term."
        ),
    )
    yield RewardSpec(
        name="sparse",
        factory="esper_plugins.rewards.sparse:SparseReward",
        config_cls="esper_plugins.rewards.config:SparseRewardConfig",
        summary="0 until the last epoch, then accuracy minus a fossilized-parameter cost.",
    )
    yield RewardSpec(
        name="simplified",
        factory="esper_plugins.rewards.simplified:SimplifiedReward",
        config_cls="esper_plugins.rewards.config:SimplifiedRewardConfig",
        summary=(
            "Stage-potential shaping, -0.01 per action, and at the end 3 x accuracy/100 "
            "+ 2 per contributing fossilized seed."
        ),
    )
