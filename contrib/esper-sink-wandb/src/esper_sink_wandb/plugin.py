"""The hook module that the ``esper.plugins`` entry point names.

It imports only ``esper.plugin``: the sink and its config class are named as strings, so
wandb is imported when a run selects the sink, not when ``esper --help`` starts.
"""

from __future__ import annotations

from collections.abc import Iterator

from esper.plugin import SinkSpec, hookimpl


@hookimpl
def esper_telemetry_sinks() -> Iterator[SinkSpec]:
    yield SinkSpec(
        name="wandb",
        factory="esper_sink_wandb.sink:WandbSink",
        config_cls="esper_sink_wandb.config:WandbSinkConfig",
        summary="Config, epoch curves, seeds, controller training and eval tables in a W&B run "
        "(offline by default).",
        tags=("tracker", "dashboard"),
    )
