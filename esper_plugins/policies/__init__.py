"""``esper.policies.heuristic``: the rule-based controllers (heuristic, and the static baseline).

Hook module only (no torch): the controllers live in `esper_plugins.policies.heuristic`. The
learned controller is the separate plugin ``esper.policies.lstm`` (`lstm_plugin`).
"""

from __future__ import annotations

from collections.abc import Iterator

from esper.plugin import PolicySpec, hookimpl


@hookimpl
def esper_policies() -> Iterator[PolicySpec]:
    yield PolicySpec(
        name="heuristic",
        tags=("default",),
        factory="esper_plugins.policies.heuristic:HeuristicPolicy",
        config_cls="esper_plugins.policies.config:HeuristicConfig",
        summary="Germinates on a plateau, advances seeds through the gates, fossilizes contributors, prunes failures.",
    )
    yield PolicySpec(
        name="static",
        factory="esper.plugin:StaticPolicy",  # the core's baseline, selectable by name
        summary="Never grows anything: the static-host baseline.",
    )
