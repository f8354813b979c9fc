"""The ``mlflow`` telemetry sink: a run's params, metrics, seeds and evaluation tables in MLflow.

The store is opened and the experiment made when the sink is built (a bad URI stops the run
before its first epoch); the MLflow run starts at the first event and ends with
``run.ended``. ``esper resume`` continues the MLflow run of the esper run it resumes (the
one tagged with its run id), so its curves go on where they stopped. What goes where
(``<arm>`` is ``grown`` / ``static`` in ``esper run``, ``env0``, ... in ``esper train``):

==================================  ===============  ========================================
MLflow                              step             from
==================================  ===============  ========================================
params ``<table>.<key>``, artifact                   ``run.started``: the resolved
``config.json``, tags                                configuration, flattened (lists as
``esper.command``, ``esper.run_id``                  JSON); the whole of it as a file
metrics ``<arm>/val_accuracy``,     epoch            ``engine.epoch``
``<arm>/val_loss``,
``<arm>/train_loss``,
``<arm>/train_accuracy``,
``<arm>/params_total``
``<arm>/slot/<slot>/stage``,        epoch            ``engine.epoch``: the stage's value
``<arm>/slot/<slot>/alpha``,                         (``STAGE_VALUES``), the seed's alpha and
``<arm>/slot/<slot>/contribution``                   contribution
``train/mean_reward``,              update           ``train.update`` and its ``metrics``
``train/mean_accuracy``,
``train/rollbacks``,
``train/<metric>``
``governor/rollback``               epoch            ``governor.rollback`` (value 1)
tag ``esper.resumed_at``                             ``run.resumed``: its position
tag ``esper.status``, metric                         ``run.ended``; the MLflow run ends
``wall_time_s``; run status                          FINISHED, KILLED (interrupted) or FAILED
artifacts ``eval/controllers.json``,  0              ``eval.summary``: each table as
``eval/comparisons.json``; metrics                   ``{"columns": [...], "data": [[...]]}``,
``eval/<controller>/<column>``,                      and every number in it as a metric
``eval/<a> - <b>/<column>``
==================================  ===============  ========================================

Every metric carries its event's timestamp. In ``esper train`` the epoch step goes on counting
across episodes (each starts at epoch 1), so that one environment's curve never folds back.
The metrics' names, steps and values are ``esper.plugin.ScalarTranslator``'s, the translation
esper's metrics sinks share. The sink never raises into the telemetry bus: an event it cannot
translate is skipped, a failed call is counted in ``failures`` and logged once, and the run
goes on.
"""

from __future__ import annotations

import json
import logging
import re
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import structlog
from esper.plugin import ConfigError, Event, ScalarTranslator, as_scalar, resolve_in_run_dir
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from esper_sink_mlflow.config import MlflowSinkConfig

log = structlog.get_logger(__name__)

#: esper's end of a run to MLflow's.
END_STATUS = {"finished": "FINISHED", "interrupted": "KILLED"}
#: The run tag that lists a run's tables (``mlflow.utils.mlflow_tags.MLFLOW_LOGGED_ARTIFACTS``).
LOGGED_ARTIFACTS = "mlflow.loggedArtifacts"
#: The local store's folder in the run directory.
STORE_DIR = "mlflow"
#: MLflow's limits: params and metrics per call, and a param value's length.
MAX_PARAMS = 100
MAX_METRICS = 1000
MAX_PARAM_VALUE = 6000
#: Run ids the sink looks up when a run resumes (anything else could not be quoted safely in
#: MLflow's search syntax; esper's own ids are ``<date>-<time>-<hex>``).
_PLAIN_ID = re.compile(r"[\w.:-]+")


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"run": {"epochs": 3}}`` as ``{"run.epochs": "3"}``: strings as they are, anything
    else (numbers, booleans, lists) as JSON."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value if isinstance(value, str) else json.dumps(value)
    return out


def metric_name(text: str) -> str:
    """``text`` with every character MLflow refuses in a metric name (a controller given as a
    path, ``a/b.pt``, has slashes) as ``_``."""
    return re.sub(r"[^\w.\- :]", "_", text)


@contextmanager
def _quiet_store_setup() -> Iterator[None]:
    """Making a new store: without MLflow's two INFO lines about creating its tables (every
    run has a store of its own by default) and SQLAlchemy 2.1's deprecation of an option that
    MLflow's database store uses."""
    logger = logging.getLogger("mlflow.store.db.utils")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*noload.*", category=DeprecationWarning)
            yield
    finally:
        logger.setLevel(level)


def _open_store(config: MlflowSinkConfig, run_dir: Path | None) -> tuple[MlflowClient, str]:
    """The client of the configured store and the experiment's id (made if missing)."""
    artifacts = config.artifact_location or None
    uri = config.tracking_uri
    if not uri:
        store = resolve_in_run_dir(run_dir, STORE_DIR, key="telemetry.sinks.mlflow")
        store.mkdir(parents=True, exist_ok=True)
        uri = f"sqlite:///{store / 'mlflow.db'}"
        artifacts = artifacts or (store / "artifacts").as_uri()
    with _quiet_store_setup():
        client = MlflowClient(tracking_uri=uri)
        experiment = client.get_experiment_by_name(config.experiment)
        if experiment is not None:
            return client, str(experiment.experiment_id)
        return client, str(client.create_experiment(config.experiment, artifacts))


class MlflowSink:
    """Logs the events listed in the module docstring to one MLflow run."""

    def __init__(self, config: MlflowSinkConfig, *, run_dir: Path | None = None) -> None:
        self.config = config
        self.failures = 0
        try:
            self.client, self.experiment_id = _open_store(config, run_dir)
        except MlflowException as exc:
            raise ConfigError(
                [f"telemetry.sinks.mlflow: MLflow could not open the store: {exc.message}"]
            ) from exc
        self.tracking_uri = self.client.tracking_uri
        self.run_name = config.run_name or (run_dir.name if run_dir is not None else "")
        #: The MLflow run's id, once the first event has started (or found) it.
        self.run_id: str | None = None
        self.resumed = False
        self._ended = False
        self._closed = False
        self._translator = ScalarTranslator()

    # -- the Sink protocol ----------------------------------------------------------------------

    def write(self, event: Event) -> None:
        if self._closed:
            return
        try:
            run_id = self.run_id or self._start(event)
            self._dispatch(run_id, event)
        except Exception as exc:
            self._failed("could not log an event", exc, event_type=event.type)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.run_id is None or self._ended:
            return
        try:  # a run that never said it ended has failed
            self.client.set_terminated(self.run_id, "FAILED")
        except Exception as exc:
            self._failed("failed to end its run", exc)

    def _failed(self, what: str, exc: Exception, **fields: Any) -> None:
        self.failures += 1
        if self.failures == 1:
            log.warning(
                f"mlflow sink {what}; later failures are only counted",
                error=repr(exc),
                tracking_uri=self.tracking_uri,
                **fields,
            )

    def _start(self, event: Event) -> str:
        """Start the MLflow run, or reopen the one of the esper run this event belongs to."""
        if _PLAIN_ID.fullmatch(event.run_id):
            found = self.client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.`esper.run_id` = '{event.run_id}'",
                max_results=1,
            )
            if found:
                self.run_id = found[0].info.run_id
                self.resumed = True
                self.client.update_run(self.run_id, status="RUNNING")
                return self.run_id
        tags = {**self.config.tags, "esper.run_id": event.run_id}
        run = self.client.create_run(self.experiment_id, run_name=self.run_name or None, tags=tags)
        self.run_id = run.info.run_id
        return self.run_id

    # -- translation ----------------------------------------------------------------------------

    def _dispatch(self, run_id: str, event: Event) -> None:
        # By type string: event classes other than Event are not esper's public API.
        kind = event.type
        if kind == "run.started":
            self._started(run_id, event)
        elif (row := self._translator.row(event)) is not None:
            self._metrics(run_id, event, row.step, row.values)
        elif kind == "run.resumed":
            position = str(getattr(event, "position", ""))
            self.client.set_tag(run_id, "esper.resumed_at", position, synchronous=True)
        elif kind == "eval.summary":
            self._evaluation(run_id, event)
        elif kind == "run.ended":
            status = str(getattr(event, "status", ""))
            self.client.set_tag(run_id, "esper.status", status, synchronous=True)
            self._metrics(run_id, event, 0, {"wall_time_s": getattr(event, "wall_time_s", None)})
            self.client.set_terminated(run_id, END_STATUS.get(status, "FAILED"))
            self._ended = True

    def _started(self, run_id: str, event: Event) -> None:
        config: dict[str, Any] = getattr(event, "config", None) or {}
        tags = [RunTag("esper.command", str(getattr(event, "command", "")))]
        self.client.log_batch(run_id, tags=tags, synchronous=True)
        if self.resumed:
            return  # its params were logged when it started, and MLflow keeps them fixed
        params = [
            Param(key, value)
            for key, value in flatten(config).items()
            if len(value) <= MAX_PARAM_VALUE  # the rest is only in config.json
        ]
        for first in range(0, len(params), MAX_PARAMS):
            chunk = params[first : first + MAX_PARAMS]
            self.client.log_batch(run_id, params=chunk, synchronous=True)
        self.client.log_dict(run_id, config, "config.json")

    def _metrics(self, run_id: str, event: Event, step: int, values: Mapping[str, object]) -> None:
        """Log each of ``values`` that is a number, at ``step``, with the event's time."""
        stamp = int(event.ts * 1000)
        metrics = [
            Metric(key, number, stamp, step)
            for key, value in values.items()
            if (number := as_scalar(value)) is not None
        ]
        for first in range(0, len(metrics), MAX_METRICS):
            chunk = metrics[first : first + MAX_METRICS]
            self.client.log_batch(run_id, metrics=chunk, synchronous=True)

    def _evaluation(self, run_id: str, event: Event) -> None:
        numbers: dict[str, object] = {}
        tables: list[dict[str, str]] = []
        for table, label in (("controllers", "{controller}"), ("comparisons", "{a} - {b}")):
            rows: list[dict[str, Any]] = getattr(event, table, None) or []
            if not rows:
                continue
            columns = list(rows[0])
            data = [[row.get(column) for column in columns] for row in rows]
            path = f"eval/{table}.json"
            self.client.log_dict(run_id, {"columns": columns, "data": data}, path)
            tables.append({"path": path, "type": "table"})
            for row in rows:
                name = metric_name(label.format_map(row))
                numbers.update({f"eval/{name}/{col}": value for col, value in row.items()})
        # What mlflow.log_table writes (without needing pandas): the file in pandas' "split"
        # layout, and this tag, by which MLflow's UI and mlflow.load_table find tables.
        tags = [RunTag(LOGGED_ARTIFACTS, json.dumps(tables))] if tables else []
        tags.append(RunTag("esper.eval_metric", str(getattr(event, "metric", ""))))
        self.client.log_batch(run_id, tags=tags, synchronous=True)
        self._metrics(run_id, event, 0, numbers)
