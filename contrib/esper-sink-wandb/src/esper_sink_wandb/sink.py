"""The ``wandb`` telemetry sink: a run's config, curves, seeds and evaluation tables in W&B.

One sink is one W&B run, started when the sink is built (so a bad login or project stops the
run before its first epoch) and finished when it is closed. What goes where (``<arm>`` is
``grown`` / ``static`` in ``esper run``, ``env0``, ``env1``, ... in ``esper train``):

==================================  =======================  =================================
W&B key                             x axis                   from
==================================  =======================  =================================
config                                                       ``run.started``: the resolved
                                                             configuration, and ``esper``:
                                                             ``command``, ``run_id``
``<arm>/val_accuracy``,             ``<arm>/epoch``          ``engine.epoch``
``<arm>/val_loss``,
``<arm>/train_loss``,
``<arm>/train_accuracy``,
``<arm>/params_total``
``<arm>/slot/<slot>/stage``,        ``<arm>/epoch``          ``engine.epoch``: the stage's
``<arm>/slot/<slot>/alpha``,                                 value (``STAGE_VALUES``), the
``<arm>/slot/<slot>/contribution``                           seed's alpha and contribution
``train/mean_reward``,              ``train/update``         ``train.update`` and its
``train/mean_accuracy``,                                     ``metrics``
``train/rollbacks``,
``train/<metric>``
``governor/rollback``               ``governor/epoch``       ``governor.rollback`` (value 1)
summary ``status``,                                          ``run.ended``; the W&B run
``wall_time_s``                                              finishes failed unless finished
summary ``resumed_at``                                       ``run.resumed``: its position
``eval/controllers``,                                        ``eval.summary``: its two tables
``eval/comparisons`` (tables);                               as ``wandb.Table``, and every
summary ``eval/<controller>/<col>``,                         number in them as a summary
``eval/<a> - <b>/<col>``                                     value
==================================  =======================  =================================

``<arm>/epoch`` counts epochs; in ``esper train``, where every episode starts again at epoch
1, it goes on counting across episodes, so that one environment's curve never folds back.

The keys, steps and values of the curves are ``esper.plugin.ScalarTranslator``'s, the
translation esper's metrics sinks share; each of its rows is one ``run.log``.

The sink never raises into the telemetry bus: an event it cannot translate is skipped, a
failed call is counted in ``failures`` and logged once, and the run goes on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import structlog
import wandb
from esper.plugin import (
    ConfigError,
    Event,
    ScalarRow,
    ScalarTranslator,
    as_scalar,
    resolve_in_run_dir,
)

from esper_sink_wandb.config import WandbSinkConfig

log = structlog.get_logger(__name__)

_MODES: dict[str, Literal["offline", "online", "disabled"]] = {
    "offline": "offline",
    "online": "online",
    "disabled": "disabled",
}


class WandbSink:
    """Logs the events listed in the module docstring to one W&B run."""

    def __init__(self, config: WandbSinkConfig, *, run_dir: Path | None = None) -> None:
        self.dir = resolve_in_run_dir(run_dir, config.dir, key="telemetry.sinks.wandb.dir")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.failures = 0
        self._exit_code = 1  # until run.ended says the run finished
        self._translator = ScalarTranslator()
        self._defined: set[str] = set()
        try:
            self._run: wandb.Run | None = wandb.init(
                project=config.project,
                entity=config.entity or None,
                name=config.name or (run_dir.name if run_dir is not None else None),
                group=config.group or None,
                tags=list(config.tags),
                dir=self.dir,
                mode=_MODES[config.mode],
                # Another sink (or the user's own code) may hold a run in this process.
                reinit="create_new",
                # esper's output stays as it is: W&B neither records the console nor adds its
                # own messages to it (the README says where the offline run lies).
                settings=wandb.Settings(console="off", silent=True),
            )
        except wandb.Error as exc:
            raise ConfigError(
                [f"telemetry.sinks.wandb: W&B could not start a run ({config.mode}): {exc}"]
            ) from exc

    # -- the Sink protocol ----------------------------------------------------------------------

    def write(self, event: Event) -> None:
        if self._run is None:
            return
        try:
            self._dispatch(self._run, event)
        except Exception as exc:
            self._failed("could not log an event", exc, event_type=event.type)

    def close(self) -> None:
        run, self._run = self._run, None
        if run is None:
            return
        try:
            run.finish(exit_code=self._exit_code)
        except Exception as exc:
            self._failed("failed to finish its run", exc)

    def _failed(self, what: str, exc: Exception, **fields: Any) -> None:
        self.failures += 1
        if self.failures == 1:
            log.warning(
                f"wandb sink {what}; later failures are only counted",
                error=repr(exc),
                dir=str(self.dir),
                **fields,
            )

    # -- translation ----------------------------------------------------------------------------

    def _dispatch(self, run: wandb.Run, event: Event) -> None:
        # By type string: event classes other than Event are not esper's public API.
        kind = event.type
        if kind == "run.started":
            config = getattr(event, "config", None) or {}
            esper = {"command": getattr(event, "command", ""), "run_id": event.run_id}
            # wandb's Config.update has no annotations.
            run.config.update(  # type: ignore[no-untyped-call]
                {**config, "esper": esper}, allow_val_change=True
            )
        elif (row := self._translator.row(event)) is not None:
            self._log(run, row)
        elif kind == "run.resumed":
            run.summary["resumed_at"] = getattr(event, "position", None)
        elif kind == "eval.summary":
            self._evaluation(run, event)
        elif kind == "run.ended":
            status = getattr(event, "status", None)
            run.summary.update({"status": status, "wall_time_s": getattr(event, "wall_time_s", 0)})
            self._exit_code = 0 if status == "finished" else 1

    def _log(self, run: wandb.Run, row: ScalarRow) -> None:
        """One history row: the row's axis (``<prefix>/epoch``, ``train/update``) = its step,
        and its values; W&B draws every ``<prefix>/*`` key against the axis."""
        prefix = row.axis.rpartition("/")[0]
        if prefix not in self._defined:
            run.define_metric(f"{prefix}/*", step_metric=row.axis)
            self._defined.add(prefix)
        run.log({row.axis: row.step, **row.values})

    def _evaluation(self, run: wandb.Run, event: Event) -> None:
        tables: dict[str, Any] = {}
        summary: dict[str, Any] = {"eval/metric": getattr(event, "metric", None)}
        for table, label in (("controllers", "{controller}"), ("comparisons", "{a} - {b}")):
            rows: list[dict[str, Any]] = getattr(event, table, None) or []
            if not rows:
                continue
            columns = list(rows[0])
            data = [[row.get(column) for column in columns] for row in rows]
            tables[f"eval/{table}"] = wandb.Table(columns=list[str | int](columns), data=data)
            for row in rows:
                name = label.format_map(row)
                for column, value in row.items():
                    if (number := as_scalar(value)) is not None:
                        summary[f"eval/{name}/{column}"] = number
        if tables:
            run.log(tables)
        run.summary.update(summary)
