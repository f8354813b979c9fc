"""The hook module that the ``esper.plugins`` entry point names.

It imports only ``esper.plugin``: the sink and its config class are named as strings, so
mlflow is imported when a run selects the sink, not when ``esper --help`` starts.
"""

from __future__ import annotations

from collections.abc import Iterator

from esper.plugin import SinkSpec, hookimpl


@hookimpl
def esper_telemetry_sinks() -> Iterator[SinkSpec]:
    yield SinkSpec(
        name="mlflow",
        factory="esper_sink_mlflow.sink:MlflowSink",
        config_cls="esper_sink_mlflow.config:MlflowSinkConfig",
        summary="Params, epoch metrics, seeds, controller training and eval tables in an MLflow "
        "run (a SQLite store in the run directory by default).",
        tags=("tracker", "database"),
    )
