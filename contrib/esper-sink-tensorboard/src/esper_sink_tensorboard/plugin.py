"""Hook implementations: the module the ``esper.plugins`` entry point names.

esper imports this module for every command, so it imports only ``esper.plugin``; the sink
(which imports torch and tensorboard) is named by a lazy string and imported only when a run
selects it.
"""

from __future__ import annotations

from collections.abc import Iterator

from esper.plugin import SinkSpec, hookimpl


@hookimpl
def esper_telemetry_sinks() -> Iterator[SinkSpec]:
    yield SinkSpec(
        name="tensorboard",
        factory="esper_sink_tensorboard.sink:TensorBoardSink",
        config_cls="esper_sink_tensorboard.config:TensorBoardSinkConfig",
        summary="Epoch, seed, controller-training and governor scalars as TensorBoard event files.",
        tags=("file", "dashboard"),
    )
