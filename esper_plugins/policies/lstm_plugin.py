"""``esper.policies.lstm``: the recurrent actor-critic controller.

Hook module only (no torch): the network lives in `esper_plugins.policies.lstm_network`, the
`Policy` adapter in `esper_plugins.policies.lstm`.
"""

from __future__ import annotations

from collections.abc import Iterator

from esper.plugin import PolicySpec, hookimpl


@hookimpl
def esper_policies() -> Iterator[PolicySpec]:
    yield PolicySpec(
        name="lstm",
        tags=("train-default",),
        factory="esper_plugins.policies.lstm:LSTMPolicy",
        config_cls="esper_plugins.policies.config:LSTMConfig",
        summary="Recurrent actor-critic over factored, masked actions (untrained unless given weights).",
        trainable=True,
    )
