"""Observations for learned controllers: the training run as tensors, for many envs at once.

`ObservationBuilder` turns one `esper.contracts.signals.Signals` record per environment into

* ``features`` ``[envs, base + per_slot * slots]`` float32: the `BASE_FEATURES` of the run
  followed by the `SLOT_FEATURES` of every enabled slot in slot order;
* ``blueprints`` ``[envs, slots]`` int64: each seed's blueprint as an index into the
  catalogue's ids, -1 for an empty slot (the network maps -1 to a learned "null" row);

and the `SlotStates` that `esper.rl.action_space` derives its masks from.

It works in two phases. `ObservationBuilder.gather` copies the raw numbers out of the
records into one CPU tensor (the only Python loop, over envs and slots, and it does no
arithmetic); ``None`` ("not measured") becomes NaN there. `ObservationBuilder.encode` then
computes every feature for all envs and slots at once with tensor operations, on whatever
device the raw tensor was moved to in one transfer.

"Not measured" never reads as zero: each optional measurement has a 0/1 ``*_measured`` flag
and its value is `SENTINEL` (-1) while unmeasured; measurements whose scaled range excludes
-1 (gradient health, freshness, gradient norm) need no flag of their own. Histories shorter
than `HISTORY` are left-padded with `SENTINEL`. An empty slot's block is all zeros (its
``occupied`` flag is 0) and its blueprint index is -1.

Scaling follows the prior system's observation: ``symlog(x) = sign(x) ln(1 + |x|)`` divided
by 7 keeps losses near [0, 1]; accuracies are divided by 100; epoch counts by the episode
length (``max_epochs``); contributions and accuracy changes (percent points) by 10, clamped
to [-1, 1].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch

from esper.contracts.actions import Op
from esper.contracts.signals import Signals, SlotView
from esper.errors import EsperError
from esper.lifecycle import ONE_HOT_ORDER, Stage, stage_index

#: Value of a measurement that has not been taken (outside every measured range but flags').
SENTINEL = -1.0
#: Validation losses and accuracies remembered in the observation.
HISTORY = 5
#: Divisor after symlog: keeps losses up to e^7 - 1 within [0, 1].
SYMLOG_SCALE = 7.0
#: Upper clamp of a scaled loss; a diverged (inf/NaN) loss reads as this.
LOSS_CAP = 2.0
#: Percent points that scale to 1 (contributions, velocities, accuracy changes).
PP_SCALE = 10.0
#: Blend ramp length (epochs) that scales to 1.
TEMPO_SCALE = 12.0
#: Plateau length (epochs) that scales to 1 (clamped above).
PLATEAU_SCALE = 10.0
#: Per-epoch decay of a contribution measurement's freshness.
FRESHNESS_DECAY = 0.995

BASE_FEATURES: tuple[str, ...] = (
    "epoch_fraction",
    "val_loss",
    "val_accuracy",
    *(f"loss_history_{i}" for i in range(HISTORY)),
    *(f"accuracy_history_{i}" for i in range(HISTORY)),
    "fraction_training",
    "fraction_blending",
    "fraction_holding_or_fossilized",
    "last_action_ok",
    *(f"last_op_{op.name.lower()}" for op in Op),
    "plateau",
    "host_stabilized",
    "accuracy_delta",
)

SLOT_FEATURES: tuple[str, ...] = (
    "occupied",
    *(f"stage_{stage.name.lower()}" for stage in ONE_HOT_ORDER),
    "alpha",
    "alpha_target",
    "alpha_mode",
    "alpha_steps_total",
    "alpha_steps_done",
    "alpha_time_to_target",
    "alpha_algorithm",
    "tempo",
    "contribution_measured",
    "contribution",
    "contribution_velocity_measured",
    "contribution_velocity",
    "contribution_freshness",
    "gradient_measured",
    "gradient_health",
    "previous_gradient_health",
    "gradient_norm",
    "has_vanishing",
    "has_exploding",
    "epochs_in_stage",
    "seed_age",
    "accuracy_measured",
    "improvement_in_stage",
    "total_improvement",
)

NUM_BASE = len(BASE_FEATURES)
NUM_SLOT = len(SLOT_FEATURES)

# -- raw layout (what `gather` copies; NaN = None) ------------------------------------------

_B_EPOCH, _B_MAX_EPOCHS, _B_LOSS, _B_ACC, _B_LOSS_LEN, _B_ACC_LEN = range(6)
_B_LOSS_HIST = 6
_B_ACC_HIST = _B_LOSS_HIST + HISTORY
_B_LAST_OP = _B_ACC_HIST + HISTORY
_B_LAST_OK, _B_PLATEAU, _B_STABLE, _B_ACC_DELTA = range(_B_LAST_OP + 1, _B_LAST_OP + 5)
RAW_BASE = _B_ACC_DELTA + 1

(
    _S_STAGE,
    _S_ALPHA,
    _S_TARGET,
    _S_MODE,
    _S_STEPS_TOTAL,
    _S_STEPS_DONE,
    _S_ALGORITHM,
    _S_TEMPO,
    _S_CONTRIB,
    _S_VELOCITY,
    _S_CONTRIB_AGE,
    _S_HEALTH,
    _S_PREV_HEALTH,
    _S_NORM,
    _S_VANISHING,
    _S_EXPLODING,
    _S_IN_STAGE,
    _S_AGE,
    _S_IMPROVE_STAGE,
    _S_IMPROVE_TOTAL,
    _S_HOLDING,
    _S_BLUEPRINT,
) = range(22)
RAW_SLOT = 22

_NAN = math.nan
NUM_STAGES = len(ONE_HOT_ORDER)
_DORMANT = stage_index(Stage.DORMANT)
_TRAINING = stage_index(Stage.TRAINING)
_BLENDING = stage_index(Stage.BLENDING)
_HOLDING = stage_index(Stage.HOLDING)
_FOSSILIZED = stage_index(Stage.FOSSILIZED)


def feature_size(num_slots: int) -> int:
    """Width of ``features`` for ``num_slots`` enabled slots."""
    return NUM_BASE + NUM_SLOT * num_slots


def symlog(x: float) -> float:
    """``sign(x) * ln(1 + |x|)``: odd, monotone, ~x near 0 and ~ln|x| far out."""
    return math.copysign(math.log1p(abs(x)), x)


def symlog_tensor(x: torch.Tensor) -> torch.Tensor:
    """`symlog` element-wise."""
    return torch.sign(x) * torch.log1p(torch.abs(x))


class Observation(NamedTuple):
    """Network input: ``features`` ``[..., F]`` float32 and ``blueprints`` ``[..., S]`` int64."""

    features: torch.Tensor
    blueprints: torch.Tensor


class SlotStates(NamedTuple):
    """What the action masks need per slot, ``[envs, slots]`` each."""

    #: Stage as its one-hot position (`esper.lifecycle.stage_index`); free slots are DORMANT.
    stage: torch.Tensor
    #: The alpha controller holds (not ramping).
    alpha_holding: torch.Tensor
    #: Epochs recorded since germination (the seed's age).
    age: torch.Tensor


def _opt(value: float | int | bool | None) -> float:
    return _NAN if value is None else float(value)


def _slot_raw(view: SlotView, blueprint_index: dict[str, int]) -> list[float]:
    if view.stage is Stage.DORMANT:
        # A free slot: only the stage and "no blueprint" matter; the block encodes as zeros.
        row = [0.0] * RAW_SLOT
        row[_S_STAGE] = float(_DORMANT)
        row[_S_HOLDING] = 1.0
        row[_S_BLUEPRINT] = -1.0
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


def _measured(value: torch.Tensor, scaled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(flag, value): flag 1 where measured; value ``scaled`` there and `SENTINEL` elsewhere."""
    flag = ~torch.isnan(value)
    return flag.to(scaled.dtype), torch.where(flag, scaled, SENTINEL)


def _pp(x: torch.Tensor) -> torch.Tensor:
    return (x / PP_SCALE).clamp(-1.0, 1.0)


def _loss(x: torch.Tensor) -> torch.Tensor:
    # A diverged loss (inf or NaN) reads as the cap: worse than any finite loss.
    x = torch.nan_to_num(x, nan=math.inf)
    return (symlog_tensor(x) / SYMLOG_SCALE).clamp(-LOSS_CAP, LOSS_CAP)


class ObservationBuilder:
    """Builds observations (and mask inputs) for ``num_slots`` slots and one blueprint catalogue.

    ``blueprint_ids`` is the catalogue's ``ids`` list; the embedding the network keeps for them
    has one row per id plus the "null" row, so a third-party blueprint needs no constant.
    """

    def __init__(
        self,
        blueprint_ids: Sequence[str],
        num_slots: int,
        *,
        device: torch.device | str = "cpu",
    ) -> None:
        if num_slots < 1:
            raise EsperError("an observation needs at least one enabled slot")
        self.blueprint_ids = tuple(blueprint_ids)
        self.num_slots = num_slots
        self.device = torch.device(device)
        self._index = {bp: i for i, bp in enumerate(self.blueprint_ids)}

    @property
    def size(self) -> int:
        return feature_size(self.num_slots)

    def __call__(self, signals: Sequence[Signals]) -> tuple[Observation, SlotStates]:
        """Gather on the CPU, move to the device in one transfer, encode there."""
        raw = self.gather(signals)
        if self.device.type != "cpu":
            raw = raw.to(self.device, non_blocking=True)
        return self.encode(raw)

    def gather(self, signals: Sequence[Signals]) -> torch.Tensor:
        """The raw numbers of every env, ``[envs, RAW_BASE + slots * RAW_SLOT]`` float32 (CPU)."""
        if not signals:
            raise EsperError("an observation needs at least one environment's signals")
        values: list[float] = []
        for sig in signals:
            if len(sig.slots) != self.num_slots:
                raise EsperError(
                    f"signals report {len(sig.slots)} slot(s); this observation was built for "
                    f"{self.num_slots}"
                )
            values += [
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
            for view in sig.slots:
                values += _slot_raw(view, self._index)
        return torch.tensor(values, dtype=torch.float32).view(len(signals), -1)

    def encode(self, raw: torch.Tensor) -> tuple[Observation, SlotStates]:
        """Features for every env and slot at once (no Python loop over envs or slots)."""
        envs = raw.shape[0]
        base = raw[:, :RAW_BASE]
        slots = raw[:, RAW_BASE:].reshape(envs, self.num_slots, RAW_SLOT)

        # -- per slot ----------------------------------------------------------------------
        stage = slots[..., _S_STAGE].long()
        occupied = stage != _DORMANT
        occ = occupied.to(raw.dtype)
        one_hot = torch.nn.functional.one_hot(stage, NUM_STAGES).to(raw.dtype)
        max_epochs = base[:, _B_MAX_EPOCHS].clamp(min=1.0)[:, None]  # [envs, 1]
        mode = slots[..., _S_MODE]
        steps_total = slots[..., _S_STEPS_TOTAL]
        steps_done = slots[..., _S_STEPS_DONE]
        moving = mode != 0.0
        contrib = slots[..., _S_CONTRIB]
        contrib_flag, contrib_value = _measured(contrib, _pp(contrib))
        velocity = slots[..., _S_VELOCITY]
        velocity_flag, velocity_value = _measured(velocity, _pp(velocity))
        age_since = slots[..., _S_CONTRIB_AGE]
        freshness = torch.where(
            torch.isnan(age_since), SENTINEL, torch.pow(FRESHNESS_DECAY, age_since.clamp(min=0))
        )
        health = slots[..., _S_HEALTH]
        health_flag, health_value = _measured(health, health)
        prev_health = slots[..., _S_PREV_HEALTH]
        norm = slots[..., _S_NORM]
        improve_stage = slots[..., _S_IMPROVE_STAGE]
        improve_total = slots[..., _S_IMPROVE_TOTAL]
        accuracy_flag, improve_total_value = _measured(improve_total, _pp(improve_total))
        per_slot = torch.cat(
            [
                occ[..., None],
                one_hot,
                torch.stack(
                    [
                        slots[..., _S_ALPHA],
                        slots[..., _S_TARGET],
                        mode / 2.0,
                        (steps_total / max_epochs).clamp(0.0, 1.0),
                        (steps_done / max_epochs).clamp(0.0, 1.0),
                        torch.where(moving, (steps_total - steps_done) / max_epochs, 0.0).clamp(
                            0.0, 1.0
                        ),
                        (slots[..., _S_ALGORITHM] - 1.0) / 2.0,
                        (slots[..., _S_TEMPO] / TEMPO_SCALE).clamp(0.0, 1.0),
                        contrib_flag,
                        contrib_value,
                        velocity_flag,
                        velocity_value,
                        freshness,
                        health_flag,
                        health_value,
                        torch.nan_to_num(prev_health, nan=SENTINEL),
                        torch.where(
                            torch.isnan(norm),
                            SENTINEL,
                            (symlog_tensor(norm.clamp(min=0.0)) / SYMLOG_SCALE).clamp(0.0, 1.0),
                        ),
                        torch.nan_to_num(slots[..., _S_VANISHING], nan=SENTINEL),
                        torch.nan_to_num(slots[..., _S_EXPLODING], nan=SENTINEL),
                        (slots[..., _S_IN_STAGE] / max_epochs).clamp(0.0, 1.0),
                        (slots[..., _S_AGE] / max_epochs).clamp(0.0, 1.0),
                        accuracy_flag,
                        torch.where(torch.isnan(improve_stage), SENTINEL, _pp(improve_stage)),
                        improve_total_value,
                    ],
                    dim=-1,
                ),
            ],
            dim=-1,
        )
        per_slot = per_slot * occ[..., None]  # an empty slot is all zeros

        # -- base --------------------------------------------------------------------------
        positions = torch.arange(HISTORY, device=raw.device, dtype=raw.dtype)
        loss_missing = positions < (HISTORY - base[:, _B_LOSS_LEN : _B_LOSS_LEN + 1])
        acc_missing = positions < (HISTORY - base[:, _B_ACC_LEN : _B_ACC_LEN + 1])
        loss_hist = torch.where(
            loss_missing, SENTINEL, _loss(base[:, _B_LOSS_HIST : _B_LOSS_HIST + HISTORY])
        )
        acc_hist = torch.where(
            acc_missing, SENTINEL, base[:, _B_ACC_HIST : _B_ACC_HIST + HISTORY] / 100.0
        )
        last_op = base[:, _B_LAST_OP].long()
        last_op_hot = torch.nn.functional.one_hot(last_op.clamp(min=0), len(Op)).to(raw.dtype)
        last_op_hot = last_op_hot * (last_op >= 0).to(raw.dtype)[:, None]
        fractions = one_hot.mean(dim=1)  # [envs, NUM_STAGES]
        features = torch.cat(
            [
                torch.stack(
                    [
                        (base[:, _B_EPOCH] / max_epochs[:, 0]).clamp(0.0, 1.0),
                        _loss(base[:, _B_LOSS]),
                        torch.nan_to_num(base[:, _B_ACC], nan=0.0) / 100.0,
                    ],
                    dim=-1,
                ),
                loss_hist,
                acc_hist,
                torch.stack(
                    [
                        fractions[:, _TRAINING],
                        fractions[:, _BLENDING],
                        fractions[:, _HOLDING] + fractions[:, _FOSSILIZED],
                        torch.nan_to_num(base[:, _B_LAST_OK], nan=0.0),
                    ],
                    dim=-1,
                ),
                last_op_hot,
                torch.stack(
                    [
                        (base[:, _B_PLATEAU] / PLATEAU_SCALE).clamp(0.0, 1.0),
                        base[:, _B_STABLE],
                        _pp(torch.nan_to_num(base[:, _B_ACC_DELTA], nan=0.0)),
                    ],
                    dim=-1,
                ),
                per_slot.reshape(envs, -1),
            ],
            dim=-1,
        )
        blueprints = slots[..., _S_BLUEPRINT].long()
        states = SlotStates(
            stage=stage,
            alpha_holding=slots[..., _S_HOLDING] > 0.5,
            age=slots[..., _S_AGE].long(),
        )
        return Observation(features=features, blueprints=blueprints), states
