"""The factored action space of learned controllers: heads, masks, causal relevance, conversion.

A learned controller picks one index per head (`HEADS`):

========== ===================================== ==========================================
head       size                                  values
========== ===================================== ==========================================
op         6                                     `esper.contracts.actions.Op`
slot       enabled slots                         the slot's position in slot order
blueprint  catalogue size                        index into ``BlueprintCatalog.ids``
style      4                                     `esper.contracts.actions.Style`
tempo      3                                     `esper.contracts.actions.TEMPO_EPOCHS` (3, 5, 8)
alpha_*    3 / 4 / 5                             `ALPHA_TARGETS`, `ALPHA_SPEEDS`, `ALPHA_CURVES`
========== ===================================== ==========================================

Head sizes come from the slot count and the catalogue, so a blueprint registered by a
third-party plugin is a valid action without any constant changing.

**Masks** (`ActionSpace.masks`) remove only physically impossible actions, never "unwise"
ones: WAIT is always valid; GERMINATE needs an empty slot (and, if ``max_seeds`` is set,
fewer seeds alive or fossilized than that); FOSSILIZE a HOLDING seed; PRUNE a seed in
GERMINATED..HOLDING at least `MIN_PRUNE_AGE` epochs old whose alpha is not ramping;
ADVANCE a seed in GERMINATED, TRAINING or BLENDING (whether the gate passes is the gate's
business); SET_ALPHA_TARGET a BLENDING or HOLDING seed whose alpha holds. ``slot_by_op``
says which slots each op may act on. The NOOP blueprint is never a valid choice.

**Causal relevance** (`RELEVANT_HEADS`): which heads influence the outcome of each op. A head
that does not matter for the chosen op is *canonicalised*: its mask collapses onto one
`CANONICAL` value, so its sampled index is fixed and its log-probability is exactly 0. Rollout
and update apply the same `ActionSpace.head_masks`, so their log-probabilities agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from esper.contracts.actions import (
    ALPHA_CURVES,
    ALPHA_SPEEDS,
    ALPHA_TARGETS,
    TEMPO_EPOCHS,
    Action,
    Op,
    Style,
)
from esper.errors import EsperError
from esper.lifecycle import Stage, stage_index
from esper.rl.observation import SlotStates

HEADS: tuple[str, ...] = (
    "op",
    "slot",
    "blueprint",
    "style",
    "tempo",
    "alpha_target",
    "alpha_speed",
    "alpha_curve",
)
HEAD_INDEX: dict[str, int] = {name: i for i, name in enumerate(HEADS)}
NUM_OPS = len(Op)
#: A seed younger than this (epochs since germination) cannot be pruned.
MIN_PRUNE_AGE = 5

#: Heads whose value changes what an op does (spec: causal masks).
RELEVANT_HEADS: dict[Op, frozenset[str]] = {
    Op.WAIT: frozenset({"op"}),
    Op.GERMINATE: frozenset({"op", "slot", "blueprint", "style", "tempo", "alpha_target"}),
    Op.SET_ALPHA_TARGET: frozenset(
        {"op", "slot", "style", "alpha_target", "alpha_speed", "alpha_curve"}
    ),
    Op.PRUNE: frozenset({"op", "slot", "alpha_speed", "alpha_curve"}),
    Op.FOSSILIZE: frozenset({"op", "slot"}),
    Op.ADVANCE: frozenset({"op", "slot"}),
}

#: Index an irrelevant head collapses to (blueprint: NOOP; slot: the op's first valid slot).
CANONICAL: dict[str, int] = {
    "style": int(Style.SIGMOID_ADD),
    "tempo": TEMPO_EPOCHS.index(5),
    "alpha_target": ALPHA_TARGETS.index(1.0),
    "alpha_speed": ALPHA_SPEEDS.index(0),
    "alpha_curve": 0,  # LINEAR
}

_FIXED_SIZES: dict[str, int] = {
    "op": NUM_OPS,
    "style": len(Style),
    "tempo": len(TEMPO_EPOCHS),
    "alpha_target": len(ALPHA_TARGETS),
    "alpha_speed": len(ALPHA_SPEEDS),
    "alpha_curve": len(ALPHA_CURVES),
}

_FREE = stage_index(Stage.DORMANT)
_GERMINATED = stage_index(Stage.GERMINATED)
_TRAINING = stage_index(Stage.TRAINING)
_BLENDING = stage_index(Stage.BLENDING)
_HOLDING = stage_index(Stage.HOLDING)
_FOSSILIZED = stage_index(Stage.FOSSILIZED)


class ActionSpaceError(EsperError):
    """Head indices or an `Action` that the action space cannot represent."""


class ActionMasks(NamedTuple):
    """Valid choices per head, each ``[..., size]`` bool (``slot_by_op``: ``[..., ops, slots]``)."""

    op: torch.Tensor
    slot_by_op: torch.Tensor
    blueprint: torch.Tensor
    style: torch.Tensor
    tempo: torch.Tensor
    alpha_target: torch.Tensor
    alpha_speed: torch.Tensor
    alpha_curve: torch.Tensor


def _is_any(op: torch.Tensor, ops: Sequence[Op]) -> torch.Tensor:
    result = torch.zeros_like(op, dtype=torch.bool)
    for member in ops:
        result = result | (op == int(member))
    return result


class ActionSpace:
    """The heads for ``num_slots`` slots and one blueprint catalogue (``ids`` and ``names``)."""

    def __init__(
        self,
        num_slots: int,
        blueprint_ids: Sequence[str],
        blueprint_names: Sequence[str] | None = None,
    ) -> None:
        if num_slots < 1:
            raise ActionSpaceError("the action space needs at least one enabled slot")
        if not blueprint_ids:
            raise ActionSpaceError("the action space needs at least one blueprint")
        self.num_slots = num_slots
        self.blueprint_ids = tuple(blueprint_ids)
        names = (
            tuple(blueprint_names)
            if blueprint_names is not None
            else tuple(bp.split(":")[-1] for bp in self.blueprint_ids)
        )
        if len(names) != len(self.blueprint_ids):
            raise ActionSpaceError("blueprint_ids and blueprint_names differ in length")
        self.blueprint_names = names
        self.noop = tuple(i for i, name in enumerate(names) if name == "noop")
        self.germinable = tuple(i for i in range(len(names)) if i not in self.noop)
        #: Blueprint index of non-GERMINATE actions.
        self.canonical_blueprint = self.noop[0] if self.noop else 0
        self.sizes: dict[str, int] = {
            **_FIXED_SIZES,
            "slot": num_slots,
            "blueprint": len(self.blueprint_ids),
        }

    @classmethod
    def from_catalog(cls, catalog: object, num_slots: int) -> ActionSpace:
        """From an `esper.growth.catalog.BlueprintCatalog` (anything with ``ids`` and ``names``)."""
        return cls(num_slots, list(catalog.ids), list(catalog.names))  # type: ignore[attr-defined]

    # -- masks ------------------------------------------------------------------------------

    def masks(self, states: SlotStates, *, max_seeds: int | None = None) -> ActionMasks:
        """Availability masks for ``[envs, slots]`` slot states (see the module docstring)."""
        stage, holding, age = states.stage, states.alpha_holding, states.age
        envs, slots = stage.shape
        if slots != self.num_slots:
            raise ActionSpaceError(
                f"slot states have {slots} slot(s); the action space has {self.num_slots}"
            )
        device = stage.device
        free = stage == _FREE
        if max_seeds is not None:
            seeds = ((stage >= _GERMINATED) & (stage <= _FOSSILIZED)).sum(dim=1, keepdim=True)
            free = free & (seeds < max_seeds)
        if not self.germinable:
            free = torch.zeros_like(free)
        live = (stage >= _GERMINATED) & (stage <= _HOLDING)
        advance = (stage >= _GERMINATED) & (stage <= _BLENDING)
        fossilize = stage == _HOLDING
        prune = live & (age >= MIN_PRUNE_AGE) & holding
        retarget = ((stage == _BLENDING) | (stage == _HOLDING)) & holding
        wait = torch.ones_like(free)
        by_op = [wait, free, retarget, prune, fossilize, advance]  # Op order
        slot_by_op = torch.stack(by_op, dim=1)  # [envs, ops, slots]
        op = slot_by_op.any(dim=-1)
        can_style = op[:, int(Op.GERMINATE)] | op[:, int(Op.SET_ALPHA_TARGET)]

        def head(name: str, valid_when: torch.Tensor | None = None) -> torch.Tensor:
            size = self.sizes[name]
            full = torch.ones(envs, size, dtype=torch.bool, device=device)
            if valid_when is None:
                return full
            only = torch.arange(size, device=device) == CANONICAL[name]
            return torch.where(valid_when[:, None], full, only)

        blueprint = torch.zeros(envs, self.sizes["blueprint"], dtype=torch.bool, device=device)
        blueprint[:, list(self.germinable)] = True
        return ActionMasks(
            op=op,
            slot_by_op=slot_by_op,
            blueprint=blueprint,
            style=head("style", can_style),
            tempo=head("tempo"),
            alpha_target=head("alpha_target", can_style),
            alpha_speed=head("alpha_speed"),
            alpha_curve=head("alpha_curve"),
        )

    def head_masks(self, masks: ActionMasks, op: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Masks of the heads after ``op`` (slot .. alpha_curve, in `HEADS` order), canonicalised.

        Any leading shape (``[envs]`` at rollout, ``[envs, steps]`` at update): ``op`` has the
        leading shape and each mask the leading shape plus its head size. A head irrelevant to
        ``op`` keeps exactly one valid value; the slot head becomes the ``slot_by_op`` row of
        ``op``, or its first valid slot when the slot does not matter (WAIT).
        """
        slots = self.num_slots
        index = op.long()[..., None, None].expand(*op.shape, 1, slots)
        slot_row = masks.slot_by_op.gather(-2, index).squeeze(-2)
        first = torch.nn.functional.one_hot(slot_row.to(torch.int8).argmax(dim=-1), slots).bool()
        slot_mask = torch.where(self._relevant(op, "slot")[..., None], slot_row, first)
        result = [slot_mask]
        for name in HEADS[2:]:
            base: torch.Tensor = getattr(masks, name)
            size = self.sizes[name]
            canonical = self.canonical_blueprint if name == "blueprint" else CANONICAL[name]
            only = torch.arange(size, device=op.device) == canonical
            result.append(torch.where(self._relevant(op, name)[..., None], base, only))
        return tuple(result)

    def _relevant(self, op: torch.Tensor, head: str) -> torch.Tensor:
        return _is_any(op, [member for member in Op if head in RELEVANT_HEADS[member]])

    def relevance(self, op: torch.Tensor) -> torch.Tensor:
        """Causal relevance ``[..., heads]`` bool of each head for the taken ``op``."""
        return torch.stack([self._relevant(op, name) for name in HEADS], dim=-1)

    def availability(self, masks: ActionMasks) -> torch.Tensor:
        """Which heads *could* have mattered at a step, ``[..., heads]`` bool.

        op always; slot if any op but WAIT is valid; blueprint and tempo if GERMINATE is;
        style and alpha_target if GERMINATE or SET_ALPHA_TARGET is; alpha_speed and alpha_curve
        if SET_ALPHA_TARGET or PRUNE is. (For entropy floors of heads that stop being used.)
        """
        op = masks.op
        germ = op[..., int(Op.GERMINATE)]
        retarget = op[..., int(Op.SET_ALPHA_TARGET)]
        prune = op[..., int(Op.PRUNE)]
        return torch.stack(
            [
                torch.ones_like(germ),
                op[..., 1:].any(dim=-1),
                germ,
                germ | retarget,
                germ,
                germ | retarget,
                retarget | prune,
                retarget | prune,
            ],
            dim=-1,
        )

    # -- conversion ---------------------------------------------------------------------------

    def canonicalize(self, row: Sequence[int]) -> list[int]:
        """``row`` with every head irrelevant to its op set to its canonical index.

        The slot of an op that ignores it is set to 0 (the first slot; WAIT may use any).
        """
        values = [int(v) for v in row]
        self._check_row(values)
        op = Op(values[0])
        for i, name in enumerate(HEADS[1:], start=1):
            if name in RELEVANT_HEADS[op]:
                continue
            if name == "slot":
                values[i] = 0
            elif name == "blueprint":
                values[i] = self.canonical_blueprint
            else:
                values[i] = CANONICAL[name]
        return values

    def _check_row(self, row: Sequence[int]) -> None:
        if len(row) != len(HEADS):
            raise ActionSpaceError(f"an action row has {len(HEADS)} head indices, got {len(row)}")
        for name, value in zip(HEADS, row, strict=True):
            if not 0 <= value < self.sizes[name]:
                raise ActionSpaceError(
                    f"head {name!r}: index {value} is outside [0, {self.sizes[name]})"
                )

    def to_action(self, row: Sequence[int], slot_ids: Sequence[str], reason: str = "") -> Action:
        """The `Action` meant by one row of head indices (`HEADS` order)."""
        if len(slot_ids) != self.num_slots:
            raise ActionSpaceError(
                f"{len(slot_ids)} slot id(s) given; the action space has {self.num_slots}"
            )
        values = self.canonicalize(row)
        op = Op(values[0])
        curve, steepness = ALPHA_CURVES[values[7]]
        blueprint = None
        if op is Op.GERMINATE:
            if values[2] in self.noop:
                raise ActionSpaceError("GERMINATE cannot grow the NOOP blueprint")
            blueprint = self.blueprint_ids[values[2]]
        return Action(
            op=op,
            slot=None if op is Op.WAIT else slot_ids[values[1]],
            blueprint=blueprint,
            style=Style(values[3]),
            tempo=TEMPO_EPOCHS[values[4]],
            alpha_target=ALPHA_TARGETS[values[5]],
            alpha_speed=ALPHA_SPEEDS[values[6]],
            alpha_curve=curve,
            steepness=steepness,
            reason=reason,
        )

    def from_action(self, action: Action, slot_ids: Sequence[str]) -> list[int]:
        """Head indices of ``action``, canonical where a head does not matter for its op.

        Raises `ActionSpaceError` when a relevant value is not on the head's table (e.g. a
        tempo of 4 epochs) or names an unknown slot or blueprint.
        """
        op = action.op
        relevant = RELEVANT_HEADS[op]
        row = [int(op), 0, 0, 0, 0, 0, 0, 0]
        if "slot" in relevant:
            slot = action.slot
            if slot is None or slot not in slot_ids:
                raise ActionSpaceError(f"unknown slot {slot!r} (slots: {list(slot_ids)})")
            row[1] = list(slot_ids).index(slot)
        if "blueprint" in relevant:
            row[2] = self._blueprint_index(action.blueprint)
        row[3] = int(action.style)
        row[4] = _lookup("tempo", TEMPO_EPOCHS, action.tempo) if "tempo" in relevant else 0
        row[5] = (
            _lookup("alpha_target", ALPHA_TARGETS, action.alpha_target)
            if "alpha_target" in relevant
            else 0
        )
        row[6] = (
            _lookup("alpha_speed", ALPHA_SPEEDS, action.alpha_speed)
            if "alpha_speed" in relevant
            else 0
        )
        row[7] = (
            _lookup("alpha_curve", ALPHA_CURVES, (action.alpha_curve, action.steepness))
            if "alpha_curve" in relevant
            else 0
        )
        return self.canonicalize(row)

    def _blueprint_index(self, blueprint: str | None) -> int:
        if blueprint in self.blueprint_ids:
            return self.blueprint_ids.index(blueprint)
        matches = [i for i, name in enumerate(self.blueprint_names) if name == blueprint]
        if len(matches) != 1:
            what = "ambiguous" if matches else "unknown"
            raise ActionSpaceError(f"{what} blueprint {blueprint!r}")
        if matches[0] in self.noop:
            raise ActionSpaceError("GERMINATE cannot grow the NOOP blueprint")
        return matches[0]


def _lookup(head: str, table: Sequence[object], value: object) -> int:
    try:
        return list(table).index(value)
    except ValueError:
        raise ActionSpaceError(
            f"{head} {value!r} is not a value of the {head} head (values: {list(table)})"
        ) from None
