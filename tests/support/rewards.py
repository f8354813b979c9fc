"""Builders of `RewardContext` records for the reward tests (no tests here).

`step` makes one context from slot views (epoch 3 of 100 unless given): by default nothing changes during the step
(stages and alphas after = before), the seed in each slot germinated ``epochs_total`` epochs
ago, and ``cf`` (the counterfactual total) sets ``all_off_accuracy``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from esper.contracts.actions import Action, Op
from esper.contracts.reward import RewardContext
from esper.contracts.signals import SlotView
from esper.lifecycle import Stage

from support.signals import signals, view

__all__ = ["act", "seed", "step", "view"]


def seed(stage: Stage, slot_id: str = "r0c0", **kwargs: Any) -> SlotView:
    """A seed in ``stage`` (alpha 1 from BLENDING on unless given)."""
    if stage in (Stage.BLENDING, Stage.HOLDING, Stage.FOSSILIZED):
        kwargs.setdefault("alpha", 1.0)
    kwargs.setdefault("epochs_total", kwargs.get("epochs_in_stage", 0) + 5)
    return view(slot_id, stage, **kwargs)


def act(op: Op, slot: str | None = "r0c0") -> Action:
    if op is Op.WAIT:
        return Action()
    if op is Op.GERMINATE:
        return Action(op=op, slot=slot, blueprint="conv_light")
    return Action(op=op, slot=slot)


def step(
    slots: Sequence[SlotView] = (),
    *,
    action: Action | None = None,
    ok: bool = True,
    cf: float | None = None,
    host_params: int = 100_000,
    seed_params: Mapping[str, int] | None = None,
    alphas_before: Mapping[str, float] | None = None,
    alphas_after: Mapping[str, float] | None = None,
    stages_after: Mapping[str, Stage] | None = None,
    germinated_at: Mapping[str, int] | None = None,
    initial_loss: float | None = None,
    **signal_kwargs: Any,
) -> RewardContext:
    signal_kwargs.setdefault("max_epochs", 100)
    sig = signals(slots, **signal_kwargs)
    seeded = [v for v in slots if v.stage is not Stage.DORMANT]
    after = {v.slot_id: v.stage for v in seeded}
    after.update(stages_after or {})
    alphas = {v.slot_id: v.alpha for v in seeded}
    return RewardContext(
        signals=sig,
        action=action or Action(),
        action_ok=ok,
        host_params=host_params,
        seed_params=dict(seed_params or dict.fromkeys(after, 1_000)),
        alphas_before=dict(alphas_before if alphas_before is not None else alphas),
        alphas_after=dict(alphas_after if alphas_after is not None else alphas),
        stages_after={sid: s.name for sid, s in after.items() if s is not Stage.DORMANT},
        germinated_at=dict(
            germinated_at
            if germinated_at is not None
            else {v.slot_id: sig.epoch - v.epochs_total for v in seeded}
        ),
        all_off_accuracy=None if cf is None else sig.val_accuracy - cf,
        initial_accuracy=None,
        initial_loss=initial_loss,
    )
