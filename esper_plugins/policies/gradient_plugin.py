"""``esper.policies.gradient``: the gradient-probe controller.

Hook module only (no torch): the controller lives in `esper_plugins.policies.gradient`, its
options in `esper_plugins.policies.config`.
"""

from __future__ import annotations

from collections.abc import Iterator

from esper.plugin import PolicySpec, hookimpl


@hookimpl
def esper_policies() -> Iterator[PolicySpec]:
    yield PolicySpec(
        name="gradient",
        factory="esper_plugins.policies.gradient:GradientPolicy",
        config_cls="esper_plugins.policies.config:GradientConfig",
        summary="Probes free slots with incubating seeds, grows where the gradient norm is largest, fossilizes contributors.",
    )
