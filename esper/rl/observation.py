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

The feature names and scales are in `esper.rl.features`, the raw layout and `gather` in
`esper.rl.raw_observation`; the encoding is here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch

from esper.contracts.actions import Op
from esper.contracts.signals import Signals
from esper.errors import EsperError
from esper.lifecycle import ONE_HOT_ORDER, Stage, stage_index
from esper.rl.features import (
    BASE_FEATURES,
    FRESHNESS_DECAY,
    HISTORY,
    LOSS_CAP,
    NUM_BASE,
    NUM_SLOT,
    PLATEAU_SCALE,
    PP_SCALE,
    SENTINEL,
    SLOT_FEATURES,
    SYMLOG_SCALE,
    TEMPO_SCALE,
    feature_size,
    symlog,
    symlog_tensor,
)
from esper.rl.raw_observation import RAW_BASE, RAW_SLOT, BaseColumn, SlotColumn, gather

# The names that moved to esper.rl.features and esper.rl.raw_observation stay importable here.
__all__ = [
    "BASE_FEATURES",
    "FRESHNESS_DECAY",
    "HISTORY",
    "LOSS_CAP",
    "NUM_BASE",
    "NUM_SLOT",
    "NUM_STAGES",
    "PLATEAU_SCALE",
    "PP_SCALE",
    "RAW_BASE",
    "RAW_SLOT",
    "SENTINEL",
    "SLOT_FEATURES",
    "SYMLOG_SCALE",
    "TEMPO_SCALE",
    "Observation",
    "ObservationBuilder",
    "SlotStates",
    "feature_size",
    "symlog",
    "symlog_tensor",
]

NUM_STAGES = len(ONE_HOT_ORDER)
_DORMANT = stage_index(Stage.DORMANT)
_TRAINING = stage_index(Stage.TRAINING)
_BLENDING = stage_index(Stage.BLENDING)
_HOLDING = stage_index(Stage.HOLDING)
_FOSSILIZED = stage_index(Stage.FOSSILIZED)


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


# -- per slot: each helper gives its columns of the slot block, ``[envs, slots]`` each -------


def _blend_columns(slots: torch.Tensor, max_epochs: torch.Tensor) -> list[torch.Tensor]:
    """alpha .. tempo: where the blend is and where its schedule goes."""
    mode = slots[..., SlotColumn.MODE]
    steps_total = slots[..., SlotColumn.STEPS_TOTAL]
    steps_done = slots[..., SlotColumn.STEPS_DONE]
    moving = mode != 0.0
    return [
        slots[..., SlotColumn.ALPHA],
        slots[..., SlotColumn.TARGET],
        mode / 2.0,
        (steps_total / max_epochs).clamp(0.0, 1.0),
        (steps_done / max_epochs).clamp(0.0, 1.0),
        torch.where(moving, (steps_total - steps_done) / max_epochs, 0.0).clamp(0.0, 1.0),
        (slots[..., SlotColumn.ALGORITHM] - 1.0) / 2.0,
        (slots[..., SlotColumn.TEMPO] / TEMPO_SCALE).clamp(0.0, 1.0),
    ]


def _contribution_columns(slots: torch.Tensor) -> list[torch.Tensor]:
    """contribution_measured .. contribution_freshness."""
    contrib = slots[..., SlotColumn.CONTRIBUTION]
    contrib_flag, contrib_value = _measured(contrib, _pp(contrib))
    velocity = slots[..., SlotColumn.VELOCITY]
    velocity_flag, velocity_value = _measured(velocity, _pp(velocity))
    age_since = slots[..., SlotColumn.CONTRIBUTION_AGE]
    freshness = torch.where(
        torch.isnan(age_since), SENTINEL, torch.pow(FRESHNESS_DECAY, age_since.clamp(min=0))
    )
    return [contrib_flag, contrib_value, velocity_flag, velocity_value, freshness]


def _gradient_columns(slots: torch.Tensor) -> list[torch.Tensor]:
    """gradient_measured .. has_exploding."""
    health = slots[..., SlotColumn.HEALTH]
    health_flag, health_value = _measured(health, health)
    prev_health = slots[..., SlotColumn.PREVIOUS_HEALTH]
    norm = slots[..., SlotColumn.NORM]
    return [
        health_flag,
        health_value,
        torch.nan_to_num(prev_health, nan=SENTINEL),
        torch.where(
            torch.isnan(norm),
            SENTINEL,
            (symlog_tensor(norm.clamp(min=0.0)) / SYMLOG_SCALE).clamp(0.0, 1.0),
        ),
        torch.nan_to_num(slots[..., SlotColumn.VANISHING], nan=SENTINEL),
        torch.nan_to_num(slots[..., SlotColumn.EXPLODING], nan=SENTINEL),
    ]


def _progress_columns(slots: torch.Tensor, max_epochs: torch.Tensor) -> list[torch.Tensor]:
    """epochs_in_stage .. total_improvement: the seed's age and what it has gained."""
    improve_stage = slots[..., SlotColumn.IMPROVEMENT_IN_STAGE]
    improve_total = slots[..., SlotColumn.IMPROVEMENT_TOTAL]
    accuracy_flag, improve_total_value = _measured(improve_total, _pp(improve_total))
    return [
        (slots[..., SlotColumn.IN_STAGE] / max_epochs).clamp(0.0, 1.0),
        (slots[..., SlotColumn.AGE] / max_epochs).clamp(0.0, 1.0),
        accuracy_flag,
        torch.where(torch.isnan(improve_stage), SENTINEL, _pp(improve_stage)),
        improve_total_value,
    ]


def _encode_slots(
    slots: torch.Tensor, stage: torch.Tensor, one_hot: torch.Tensor, max_epochs: torch.Tensor
) -> torch.Tensor:
    """Every slot's block, ``[envs, slots, NUM_SLOT]``; an empty slot's is all zeros."""
    occ = (stage != _DORMANT).to(slots.dtype)
    columns = [
        *_blend_columns(slots, max_epochs),
        *_contribution_columns(slots),
        *_gradient_columns(slots),
        *_progress_columns(slots, max_epochs),
    ]
    per_slot = torch.cat([occ[..., None], one_hot, torch.stack(columns, dim=-1)], dim=-1)
    return per_slot * occ[..., None]  # an empty slot is all zeros


# -- per environment ---------------------------------------------------------------------------


def _encode_run(
    base: torch.Tensor, one_hot: torch.Tensor, max_epochs: torch.Tensor
) -> list[torch.Tensor]:
    """The `BASE_FEATURES` of every env, as consecutive blocks of columns ``[envs, n]``."""
    positions = torch.arange(HISTORY, device=base.device, dtype=base.dtype)
    loss_missing = positions < (HISTORY - base[:, BaseColumn.LOSS_LEN : BaseColumn.LOSS_LEN + 1])
    acc_missing = positions < (
        HISTORY - base[:, BaseColumn.ACCURACY_LEN : BaseColumn.ACCURACY_LEN + 1]
    )
    loss_hist = torch.where(
        loss_missing,
        SENTINEL,
        _loss(base[:, BaseColumn.LOSS_HISTORY : BaseColumn.LOSS_HISTORY + HISTORY]),
    )
    acc_hist = torch.where(
        acc_missing,
        SENTINEL,
        base[:, BaseColumn.ACCURACY_HISTORY : BaseColumn.ACCURACY_HISTORY + HISTORY] / 100.0,
    )
    last_op = base[:, BaseColumn.LAST_OP].long()
    last_op_hot = torch.nn.functional.one_hot(last_op.clamp(min=0), len(Op)).to(base.dtype)
    last_op_hot = last_op_hot * (last_op >= 0).to(base.dtype)[:, None]
    fractions = one_hot.mean(dim=1)  # [envs, NUM_STAGES]
    return [
        torch.stack(
            [
                (base[:, BaseColumn.EPOCH] / max_epochs[:, 0]).clamp(0.0, 1.0),
                _loss(base[:, BaseColumn.LOSS]),
                torch.nan_to_num(base[:, BaseColumn.ACCURACY], nan=0.0) / 100.0,
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
                torch.nan_to_num(base[:, BaseColumn.LAST_OK], nan=0.0),
            ],
            dim=-1,
        ),
        last_op_hot,
        torch.stack(
            [
                (base[:, BaseColumn.PLATEAU] / PLATEAU_SCALE).clamp(0.0, 1.0),
                base[:, BaseColumn.STABLE],
                _pp(torch.nan_to_num(base[:, BaseColumn.ACCURACY_DELTA], nan=0.0)),
            ],
            dim=-1,
        ),
    ]


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
        return gather(signals, self.num_slots, self._index)

    def encode(self, raw: torch.Tensor) -> tuple[Observation, SlotStates]:
        """Features for every env and slot at once (no Python loop over envs or slots)."""
        envs = raw.shape[0]
        base = raw[:, :RAW_BASE]
        slots = raw[:, RAW_BASE:].reshape(envs, self.num_slots, RAW_SLOT)
        stage = slots[..., SlotColumn.STAGE].long()
        one_hot = torch.nn.functional.one_hot(stage, NUM_STAGES).to(raw.dtype)
        max_epochs = base[:, BaseColumn.MAX_EPOCHS].clamp(min=1.0)[:, None]  # [envs, 1]
        per_slot = _encode_slots(slots, stage, one_hot, max_epochs)
        features = torch.cat(
            [*_encode_run(base, one_hot, max_epochs), per_slot.reshape(envs, -1)], dim=-1
        )
        blueprints = slots[..., SlotColumn.BLUEPRINT].long()
        states = SlotStates(
            stage=stage,
            alpha_holding=slots[..., SlotColumn.HOLDING] > 0.5,
            age=slots[..., SlotColumn.AGE].long(),
        )
        return Observation(features=features, blueprints=blueprints), states
