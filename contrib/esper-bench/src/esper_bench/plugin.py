"""Hook implementations: the module the ``esper.plugins`` entry point names.

esper imports this module for every command, so it imports only ``esper.plugin`` (no torch,
no benchmark): the command is named by a lazy string and imported when ``esper bench`` runs
or its help is shown.
"""

from __future__ import annotations

from collections.abc import Iterator

from esper.plugin import CommandSpec, hookimpl


@hookimpl
def esper_commands() -> Iterator[CommandSpec]:
    yield CommandSpec(
        name="bench",
        factory="esper_bench.cli:bench",
        summary="Run esper's benchmark suite and write its figures as JSON and markdown.",
    )
