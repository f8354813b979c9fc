"""esper's events as numbered scalars: the one translation every metrics sink shares.

A tracker (TensorBoard, W&B, MLflow) wants ``(tag, value, step, wall time)``; esper's events
carry named fields. `ScalarTranslator` turns one into the other (``<arm>`` is ``grown`` /
``static`` in ``esper run``, ``env0``, ``env1``, ... in ``esper train``):

==================================  ======================  ==================================
tag                                 step (its axis)         from
==================================  ======================  ==================================
``<arm>/val_accuracy``,             epoch                   ``engine.epoch``
``<arm>/val_loss``,                 (``<arm>/epoch``)
``<arm>/train_loss``,
``<arm>/train_accuracy``,
``<arm>/params_total``
``<arm>/slot/<slot>/stage``         epoch                   ``engine.epoch`` ``stages``: the
                                                            stage's value (`STAGE_VALUES`)
``<arm>/slot/<slot>/alpha``         epoch                   ``engine.epoch`` ``alphas`` (slots
                                                            holding a seed)
``<arm>/slot/<slot>/contribution``  epoch                   ``engine.epoch`` ``contributions``
``train/mean_reward``,              update                  ``train.update`` and its
``train/mean_accuracy``,            (``train/update``)      ``metrics``
``train/rollbacks``,
``train/<metric>``
``governor/rollback``               epoch                   ``governor.rollback`` (value 1)
                                    (``governor/epoch``)
==================================  ======================  ==================================

``esper train`` starts the epoch count again at every episode; the step keeps growing instead
(the epochs of the episodes before + the epoch), so that one arm's curve never folds back. An
arm's own epochs strictly increase within an episode, so a repeated or smaller epoch starts its
next episode; the run-wide step of ``governor/rollback`` counts the epochs of every arm, which
report the same epoch one after another, so there only a smaller epoch does.

Only real numbers become scalars (`as_scalar`: not bools, not strings); NaN and infinities are
kept, since a NaN loss is news. Events are read by their type string and ``getattr``, so an
event of another type, or one missing what a row needs, gives no row.

It lives in the engine, next to the events it reads most (`esper.engine.events`) and above
`esper.lifecycle`, so that `STAGE_VALUES` is built from `Stage` rather than copied. No torch
here: `esper.plugin` exports it to sink plugins.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs

from esper.lifecycle.stages import Stage

if TYPE_CHECKING:
    from collections.abc import Mapping

    from esper.telemetry import Event

#: Stage names to the values `Stage` gives them (5 is retired), as ``<arm>/slot/<slot>/stage``.
STAGE_VALUES: Mapping[str, int] = MappingProxyType({stage.name: stage.value for stage in Stage})
#: The ``engine.epoch`` fields written as ``<arm>/<field>``.
EPOCH_FIELDS = ("val_accuracy", "val_loss", "train_loss", "train_accuracy", "params_total")
#: The ``train.update`` fields written as ``train/<field>`` (its ``metrics`` follow them).
UPDATE_FIELDS = ("mean_reward", "mean_accuracy", "rollbacks")
#: The ``engine.epoch`` per-slot fields written as ``<arm>/slot/<slot>/<key>``.
_SLOT_FIELDS = (("alphas", "alpha"), ("contributions", "contribution"))


def as_scalar(value: object) -> float | None:
    """``value`` as a float when it is an int or a float, else None (a bool is neither here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


@attrs.frozen
class Scalar:
    """One number of one curve: ``tag`` at ``step``, with its event's time (``event.ts``)."""

    tag: str
    value: float
    step: int
    wall_time: float


@attrs.frozen
class ScalarRow:
    """The scalars one event gives, all at one step.

    ``axis`` names the step (``<arm>/epoch``, ``train/update``, ``governor/epoch``) for trackers
    that log it as a value of its own (W&B's step metrics); ``values`` maps each tag to its
    number, in the module table's order. It may be empty: the event counted a step, but none of
    its values was a number.
    """

    axis: str
    step: int
    wall_time: float
    values: dict[str, float]

    def scalars(self) -> list[Scalar]:
        return [Scalar(tag, value, self.step, self.wall_time) for tag, value in self.values.items()]


class StepCounter:
    """Turns an epoch count that restarts (one per episode) into a step that keeps growing.

    ``repeats_restart``: an epoch equal to the last one starts a new episode as well (one arm's
    count); without it, only a smaller one does (the run-wide count, where arms take turns).
    """

    def __init__(self, *, repeats_restart: bool) -> None:
        self.repeats_restart = repeats_restart
        self.offset = 0  # the epochs of the episodes before this one
        self.last = 0

    def step(self, epoch: int) -> int:
        if epoch < self.last or (self.repeats_restart and epoch == self.last):
            self.offset += self.last
        self.last = epoch
        return self.offset + epoch


def _numbers(pairs: Mapping[str, object]) -> dict[str, float]:
    return {tag: number for tag, value in pairs.items() if (number := as_scalar(value)) is not None}


def _dict_field(event: Event, field: str) -> dict[str, Any]:
    values = getattr(event, field, None)
    return values if isinstance(values, dict) else {}


def _wall_time(event: Event) -> float:
    # Every Event has ``ts``; a look-alike without one still gets its row.
    ts = getattr(event, "ts", None)
    return 0.0 if (number := as_scalar(ts)) is None else number


class ScalarTranslator:
    """Turns a run's events, in order, into `ScalarRow` / `Scalar` records (module docstring).

    Stateful: it keeps each arm's step counter and the run-wide one, so a sink holds one
    translator for its run and passes it every event.
    """

    def __init__(self) -> None:
        self._arms: dict[str, StepCounter] = {}
        self._run = StepCounter(repeats_restart=False)

    def row(self, event: Event) -> ScalarRow | None:
        """The event's scalars at their step, or None for an event that gives no step."""
        kind = event.type
        if kind == "engine.epoch":
            return self._epoch(event)
        if kind == "train.update":
            return self._update(event)
        if kind == "governor.rollback" and event.epoch is not None:
            step = self._run.step(event.epoch)
            return ScalarRow("governor/epoch", step, _wall_time(event), {"governor/rollback": 1.0})
        return None

    def scalars(self, event: Event) -> list[Scalar]:
        """The event's scalars, one record each (none for an event that gives none)."""
        row = self.row(event)
        return row.scalars() if row is not None else []

    def _epoch(self, event: Event) -> ScalarRow | None:
        arm = getattr(event, "arm", None)
        if not isinstance(arm, str) or not arm or event.epoch is None:
            return None
        counter = self._arms.setdefault(arm, StepCounter(repeats_restart=True))
        step = counter.step(event.epoch)
        self._run.step(event.epoch)
        values: dict[str, object] = {f"{arm}/{f}": getattr(event, f, None) for f in EPOCH_FIELDS}
        for slot, name in _dict_field(event, "stages").items():
            stage = STAGE_VALUES.get(name) if isinstance(name, str) else None
            values[f"{arm}/slot/{slot}/stage"] = stage
        for field, key in _SLOT_FIELDS:
            for slot, value in _dict_field(event, field).items():
                values[f"{arm}/slot/{slot}/{key}"] = value
        return ScalarRow(f"{arm}/epoch", step, _wall_time(event), _numbers(values))

    def _update(self, event: Event) -> ScalarRow | None:
        update = getattr(event, "update", None)
        if isinstance(update, bool) or not isinstance(update, int):
            return None
        values: dict[str, object] = {f: getattr(event, f, None) for f in UPDATE_FIELDS}
        values.update(_dict_field(event, "metrics"))
        tagged = {f"train/{name}": value for name, value in values.items()}
        return ScalarRow("train/update", update, _wall_time(event), _numbers(tagged))
