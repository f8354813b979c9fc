"""``esper.agents.ppo``: proximal policy optimisation for the trainable (LSTM) controller.

Hook module only (no torch): the agent lives in `esper_plugins.agents.ppo` and its options in
`esper_plugins.agents.config`.
"""

from __future__ import annotations

from collections.abc import Iterator

from esper.plugin import AgentSpec, hookimpl


@hookimpl
def esper_agents() -> Iterator[AgentSpec]:
    yield AgentSpec(
        name="ppo",
        tags=("train-default",),
        factory="esper_plugins.agents.ppo:PPOAgent",
        config_cls="esper_plugins.agents.config:PPOConfig",
        summary="Clipped PPO over the factored action space: per-head ratios with causal masks, GAE, reward and value normalisers.",
    )
