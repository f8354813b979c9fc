"""The ``tensorboard`` telemetry sink: esper's numeric events as TensorBoard scalars.

What is written (``<arm>`` is ``grown`` / ``static`` in ``esper run``, ``env0``, ``env1``, ... in
``esper train``):

==================================  ===================  =====================================
tag                                 step                 from
==================================  ===================  =====================================
``<arm>/val_accuracy``,             epoch                ``engine.epoch``
``<arm>/val_loss``,
``<arm>/train_loss``,
``<arm>/train_accuracy``,
``<arm>/params_total``
``<arm>/slot/<slot>/stage``         epoch                ``engine.epoch`` ``stages``: the
                                                         stage's value (`STAGE_VALUES`)
``<arm>/slot/<slot>/alpha``         epoch                ``engine.epoch`` ``alphas`` (slots
                                                         holding a seed)
``<arm>/slot/<slot>/contribution``  epoch                ``engine.epoch`` ``contributions``
``train/mean_reward``,              update               ``train.update``
``train/mean_accuracy``,
``train/rollbacks``,
``train/<metric>``
``governor/rollback``               epoch                ``governor.rollback`` (value 1)
==================================  ===================  =====================================

Each scalar carries the event's own timestamp as its wall time. TensorBoard stores scalars as
32-bit floats, so values are exact to about 7 significant digits (parameter counts exactly up
to 2**24). ``esper train`` restarts the epoch count at every episode; the step keeps growing
instead (episode offset + epoch), so one arm's curve does not fold back on itself.

The sink never raises into the telemetry bus: an event it cannot translate is skipped, a failed
write is counted in ``failures`` and logged once, and the run goes on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog
from esper.plugin import Event, resolve_in_run_dir
from torch.utils.tensorboard import SummaryWriter

from esper_sink_tensorboard.config import TensorBoardSinkConfig

log = structlog.get_logger(__name__)

#: The ``engine.epoch`` fields written as ``<arm>/<field>``.
EPOCH_FIELDS = ("val_accuracy", "val_loss", "train_loss", "train_accuracy", "params_total")
#: Stage names to the values esper gives them (``esper.lifecycle.Stage``; 5 is retired).
#: Written out rather than imported: plugins use only esper's public modules, and
#: ``tests/test_sink.py`` checks this table against the enum so that a change cannot go unseen.
STAGE_VALUES: dict[str, int] = {
    "UNKNOWN": 0,
    "DORMANT": 1,
    "GERMINATED": 2,
    "TRAINING": 3,
    "BLENDING": 4,
    "HOLDING": 6,
    "FOSSILIZED": 7,
    "PRUNED": 8,
    "EMBARGOED": 9,
    "RESETTING": 10,
}
#: The ``train.update`` fields written as ``train/<field>`` (``metrics`` are added to these).
UPDATE_FIELDS = ("mean_reward", "mean_accuracy", "rollbacks")


def _number(value: object) -> float | None:
    """The value as a float if it is a real number (bools and strings are not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class _Steps:
    """Turns an epoch count that restarts (one per episode) into a step that keeps growing.

    One arm's epochs strictly increase within an episode, so a repeat marks a new episode
    (``repeats_restart``); the run-wide counter sees every arm's epochs, where a repeat is the
    next arm at the same epoch and only a decrease starts a new episode.
    """

    def __init__(self, *, repeats_restart: bool) -> None:
        self.repeats_restart = repeats_restart
        self.offset = 0
        self.last = 0

    def step(self, epoch: int) -> int:
        if epoch < self.last or (self.repeats_restart and epoch == self.last):
            self.offset += self.last
        self.last = epoch
        return self.offset + epoch


class TensorBoardSink:
    """Writes the scalars listed in the module docstring to ``run_dir/<logdir>``."""

    def __init__(self, config: TensorBoardSinkConfig, *, run_dir: Path | None = None) -> None:
        self.logdir = resolve_in_run_dir(
            run_dir, config.logdir, key="telemetry.sinks.tensorboard.logdir"
        )
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.failures = 0
        self.scalars = 0
        self._writer: SummaryWriter | None = SummaryWriter(
            log_dir=str(self.logdir), flush_secs=config.flush_secs
        )
        self._arm_steps: dict[str, _Steps] = {}
        self._run_steps = _Steps(repeats_restart=False)

    # -- the Sink protocol ----------------------------------------------------------------------

    def write(self, event: Event) -> None:
        if self._writer is None:
            return
        try:
            self._dispatch(event)
        except Exception as exc:
            self.failures += 1
            if self.failures == 1:
                log.warning(
                    "tensorboard sink could not write an event; later failures are only counted",
                    event_type=event.type,
                    error=repr(exc),
                    logdir=str(self.logdir),
                )

    def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        try:
            writer.close()  # flushes what is still queued
        except Exception as exc:
            self.failures += 1
            log.warning(
                "tensorboard sink failed to close", error=repr(exc), logdir=str(self.logdir)
            )

    # -- translation ----------------------------------------------------------------------------

    def _dispatch(self, event: Event) -> None:
        # By type string, not by class: the event classes live in esper's engine and in the
        # governor plugin, and a sink should not depend on either.
        if event.type == "engine.epoch":
            self._epoch(event)
        elif event.type == "train.update":
            self._update(event)
        elif event.type == "governor.rollback":
            if event.epoch is not None:
                self._scalar("governor/rollback", 1.0, self._run_steps.step(event.epoch), event)
        elif event.type == "run.ended" and self._writer is not None:
            self._writer.flush()

    def _epoch(self, event: Event) -> None:
        arm = getattr(event, "arm", None)
        if not isinstance(arm, str) or not arm or event.epoch is None:
            return
        step = self._arm_steps.setdefault(arm, _Steps(repeats_restart=True)).step(event.epoch)
        self._run_steps.step(event.epoch)
        for field in EPOCH_FIELDS:
            self._scalar(f"{arm}/{field}", getattr(event, field, None), step, event)
        stages: dict[str, Any] = getattr(event, "stages", None) or {}
        for slot, name in stages.items():
            stage = STAGE_VALUES.get(name) if isinstance(name, str) else None
            if stage is not None:
                self._scalar(f"{arm}/slot/{slot}/stage", stage, step, event)
        for key in ("alpha", "contribution"):
            values: dict[str, Any] = getattr(event, f"{key}s", None) or {}
            for slot, value in values.items():
                self._scalar(f"{arm}/slot/{slot}/{key}", value, step, event)

    def _update(self, event: Event) -> None:
        update = getattr(event, "update", None)
        if isinstance(update, bool) or not isinstance(update, int):
            return
        for field in UPDATE_FIELDS:
            self._scalar(f"train/{field}", getattr(event, field, None), update, event)
        metrics: dict[str, Any] = getattr(event, "metrics", None) or {}
        for name, value in metrics.items():
            self._scalar(f"train/{name}", value, update, event)

    def _scalar(self, tag: str, value: object, step: int, event: Event) -> None:
        number = _number(value)
        if number is None or self._writer is None:
            return
        # NaN and infinities are kept: TensorBoard shows them, and a NaN loss is news.
        self._writer.add_scalar(tag, number, global_step=step, walltime=event.ts)
        self.scalars += 1
