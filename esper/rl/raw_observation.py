"""The raw phase of an observation: the numbers of the `Signals` records, copied into one tensor.

`gather` is the only Python loop of an observation (over environments and slots) and does no
arithmetic: it copies each number to its column, ``None`` ("not measured") as NaN, into one
CPU tensor ``[envs, RAW_BASE + slots * RAW_SLOT]``. `BaseColumn` and `SlotColumn` name the
columns of an environment's base block and of each slot's block; `esper.rl.observation`
encodes the tensor into features on whatever device it was moved to.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from esper.contracts.signals import Signals, SlotView
from esper.errors import EsperError
from esper.lifecycle import Stage, stage_index
from esper.rl.features import HISTORY


class BaseColumn:
    """Columns of an environment's base block (the run's own figures)."""

    EPOCH, MAX_EPOCHS, LOSS, ACCURACY, LOSS_LEN, ACCURACY_LEN = range(6)
    LOSS_HISTORY = 6
    ACCURACY_HISTORY = LOSS_HISTORY + HISTORY
    LAST_OP = ACCURACY_HISTORY + HISTORY
    LAST_OK, PLATEAU, STABLE, ACCURACY_DELTA = range(LAST_OP + 1, LAST_OP + 5)


RAW_BASE = BaseColumn.ACCURACY_DELTA + 1


class SlotColumn:
    """Columns of one slot's block."""

    (
        STAGE,
        ALPHA,
        TARGET,
        MODE,
        STEPS_TOTAL,
        STEPS_DONE,
        ALGORITHM,
        TEMPO,
        CONTRIBUTION,
        VELOCITY,
        CONTRIBUTION_AGE,
        HEALTH,
        PREVIOUS_HEALTH,
        NORM,
        VANISHING,
        EXPLODING,
        IN_STAGE,
        AGE,
        IMPROVEMENT_IN_STAGE,
        IMPROVEMENT_TOTAL,
        HOLDING,
        BLUEPRINT,
    ) = range(22)


RAW_SLOT = 22

_NAN = math.nan
_DORMANT = stage_index(Stage.DORMANT)


def _opt(value: float | int | bool | None) -> float:
    return _NAN if value is None else float(value)


def _slot_raw(view: SlotView, blueprint_index: Mapping[str, int]) -> list[float]:
    if view.stage is Stage.DORMANT:
        # A free slot: only the stage and "no blueprint" matter; the block encodes as zeros.
        row = [0.0] * RAW_SLOT
        row[SlotColumn.STAGE] = float(_DORMANT)
        row[SlotColumn.HOLDING] = 1.0
        row[SlotColumn.BLUEPRINT] = -1.0
        return row
    if view.blueprint is None:
        bp = -1.0
    else:
        try:
            bp = float(blueprint_index[view.blueprint])
        except KeyError:
            raise EsperError(
                f"slot {view.slot_id!r} holds blueprint {view.blueprint!r}, which is not in the "
                "controller's catalogue"
            ) from None
    return [
        float(stage_index(view.stage)),
        view.alpha,
        view.alpha_target,
        float(view.alpha_mode),
        float(view.alpha_steps_total),
        float(view.alpha_steps_done),
        float(view.alpha_algorithm),
        float(view.tempo),
        _opt(view.contribution),
        _opt(view.contribution_velocity),
        _opt(view.contribution_age),
        _opt(view.gradient_health),
        _opt(view.previous_gradient_health),
        _opt(view.gradient_norm),
        _opt(view.has_vanishing),
        _opt(view.has_exploding),
        float(view.epochs_in_stage),
        float(view.epochs_total),
        _opt(view.improvement_since_stage_start),
        _opt(view.total_improvement),
        1.0 if view.alpha_holding else 0.0,
        bp,
    ]


def _history(values: tuple[float, ...]) -> list[float]:
    # Right-aligned: the newest value last; the padding is told apart by the length field.
    tail = list(values[-HISTORY:])
    return [0.0] * (HISTORY - len(tail)) + tail


def _base_raw(sig: Signals) -> list[float]:
    return [
        float(sig.epoch),
        float(sig.max_epochs),
        sig.val_loss,
        sig.val_accuracy,
        float(min(len(sig.loss_history), HISTORY)),
        float(min(len(sig.accuracy_history), HISTORY)),
        *_history(sig.loss_history),
        *_history(sig.accuracy_history),
        -1.0 if sig.last_action_op is None else float(sig.last_action_op),
        _opt(sig.last_action_ok),
        float(sig.plateau_epochs),
        1.0 if sig.host_stabilized else 0.0,
        sig.accuracy_delta,
    ]


def gather(
    signals: Sequence[Signals], num_slots: int, blueprint_index: Mapping[str, int]
) -> torch.Tensor:
    """The raw numbers of every env, ``[envs, RAW_BASE + slots * RAW_SLOT]`` float32 (CPU).

    ``blueprint_index`` maps each blueprint id of the controller's catalogue to its index.
    """
    if not signals:
        raise EsperError("an observation needs at least one environment's signals")
    values: list[float] = []
    for sig in signals:
        if len(sig.slots) != num_slots:
            raise EsperError(
                f"signals report {len(sig.slots)} slot(s); this observation was built for "
                f"{num_slots}"
            )
        values += _base_raw(sig)
        for view in sig.slots:
            values += _slot_raw(view, blueprint_index)
    return torch.tensor(values, dtype=torch.float32).view(len(signals), -1)
