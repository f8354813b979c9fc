"""``esper.blueprints.transformer``: the transformer host and its seed blueprints.

This module holds only hook implementations and must not import torch; the modules are
named by "package.module:attr" strings and imported when built.
"""

from __future__ import annotations

from collections.abc import Iterator

from esper.plugin import BlueprintSpec, hookimpl


@hookimpl
def esper_blueprints() -> Iterator[BlueprintSpec]:
    yield from ()
