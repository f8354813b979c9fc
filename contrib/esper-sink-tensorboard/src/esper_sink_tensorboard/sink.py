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
                                                         stage's value (``STAGE_VALUES``)
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

The tags, steps and values are ``esper.plugin.ScalarTranslator``'s, the translation esper's
metrics sinks share; this sink writes each as one ``add_scalar``.

The sink never raises into the telemetry bus: an event it cannot translate is skipped, a failed
write is counted in ``failures`` and logged once, and the run goes on.
"""

from __future__ import annotations

from pathlib import Path

import structlog
from esper.plugin import Event, ScalarTranslator, resolve_in_run_dir
from torch.utils.tensorboard import SummaryWriter

from esper_sink_tensorboard.config import TensorBoardSinkConfig

log = structlog.get_logger(__name__)


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
        self._translator = ScalarTranslator()

    # -- the Sink protocol ----------------------------------------------------------------------

    def write(self, event: Event) -> None:
        if self._writer is None:
            return
        try:
            self._dispatch(self._writer, event)
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

    def _dispatch(self, writer: SummaryWriter, event: Event) -> None:
        # esper's translation of events into scalars (the table above), shared by its sinks.
        for scalar in self._translator.scalars(event):
            # NaN and infinities are kept: TensorBoard shows them, and a NaN loss is news.
            writer.add_scalar(
                scalar.tag, scalar.value, global_step=scalar.step, walltime=scalar.wall_time
            )
            self.scalars += 1
        if event.type == "run.ended":
            writer.flush()
