"""Test helpers: read what the sink logged back with MLflow's own client.

`MlflowClient` (from mlflow-skinny, the sink's own dependency) opens the store by its tracking
URI and gives runs, params, tags, each metric's full history and the artifacts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from esper_sink_mlflow.config import MlflowSinkConfig

#: (step, value, timestamp in ms) of each point of a metric, in the order logged.
Points = list[tuple[int, float, int]]


@attrs.frozen
class Store:
    """A store given to the sink by its tracking URI, as a shared one would be."""

    uri: str
    #: Where an experiment the sink makes keeps its files.
    artifacts: str

    def config(self, **options: Any) -> MlflowSinkConfig:
        """The sink's options for this store (and ``options``)."""
        return MlflowSinkConfig(tracking_uri=self.uri, artifact_location=self.artifacts, **options)


def store_uri(run_dir: Path) -> str:
    """The tracking URI of the store the sink keeps in a run directory by default."""
    return f"sqlite:///{run_dir.resolve() / 'mlflow' / 'mlflow.db'}"


@attrs.frozen
class LoggedRun:
    client: MlflowClient
    run: Run

    @property
    def params(self) -> dict[str, str]:
        return dict(self.run.data.params)

    @property
    def tags(self) -> dict[str, str]:
        return {k: v for k, v in self.run.data.tags.items() if not k.startswith("mlflow.")}

    def metrics(self) -> dict[str, Points]:
        """Every metric with all its points."""
        return {
            key: [
                (m.step, m.value, m.timestamp)
                for m in self.client.get_metric_history(self.run.info.run_id, key)
            ]
            for key in self.run.data.metrics
        }

    def artifact(self, path: str) -> Any:
        """A JSON artifact's content."""
        local = self.client.download_artifacts(self.run.info.run_id, path)
        return json.loads(Path(local).read_text(encoding="utf-8"))

    def artifacts(self, folder: str | None = None) -> list[str]:
        return sorted(f.path for f in self.client.list_artifacts(self.run.info.run_id, folder))


def runs_in(tracking_uri: str, experiment: str = "esper") -> list[LoggedRun]:
    """Every run of ``experiment`` in the store, oldest first."""
    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment!r} in {tracking_uri}"
    runs = client.search_runs([found.experiment_id], order_by=["attributes.start_time ASC"])
    return [LoggedRun(client, run) for run in runs]


def read_run(tracking_uri: str, experiment: str = "esper") -> LoggedRun:
    """The one run of ``experiment`` in the store."""
    (run,) = runs_in(tracking_uri, experiment)
    return run
