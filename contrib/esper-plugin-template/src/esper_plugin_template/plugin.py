"""Hook implementations: the module the ``esper.plugins`` entry point names.

esper imports this module for every command (``esper --help`` and ``esper plugins list``
included), so it imports only ``esper.plugin`` and names each component's code with a lazy
``"package.module:attr"`` string that esper imports only when the component is used. Never
import torch, or anything else slow, here.
"""

from __future__ import annotations

from collections.abc import Iterator

from esper.plugin import SinkSpec, hookimpl


@hookimpl
def esper_telemetry_sinks() -> Iterator[SinkSpec]:
    # The registry id is "<entry-point name>:<name>", here "template:csv".
    yield SinkSpec(
        name="csv",
        factory="esper_plugin_template.sink:CsvSink",
        config_cls="esper_plugin_template.config:CsvSinkConfig",
        summary="One CSV row per event: type, ts, epoch, env_id and the scalar fields as JSON.",
        tags=("file",),
    )
