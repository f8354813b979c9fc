"""``esper.governors.default``: the built-in divergence governor.

This module holds only the hook implementation and must not import torch; the governor is
named by a "package.module:attr" string and imported when built. Importing it registers the
``governor.panic`` / ``governor.rollback`` event types.
"""

from __future__ import annotations

from collections.abc import Iterator

from esper.plugin import GovernorSpec, hookimpl
from esper_plugins.governors import events as _events  # noqa: F401  (registers the event types)


@hookimpl
def esper_governors() -> Iterator[GovernorSpec]:
    yield GovernorSpec(
        name="default",
        tags=("default",),
        factory="esper_plugins.governors.default:build_default_governor",
        config_cls="esper_plugins.governors.config:DefaultGovernorConfig",
        summary=(
            "Panics on NaN/Inf, on collapse to the random-guess loss ln(classes or vocab), and "
            "on 3 consecutive losses above max(12, 1.5 ln N), mean + 6 sigma and 3x mean; "
            "rollback restores the last CPU snapshot of host + fossilized seeds and prunes "
            "live seeds. Called as factory(config, task=TaskInfo, emit=callable)."
        ),
    )
