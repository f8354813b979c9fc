"""Each record of `esper.report.records` made from the checked fields of one event.

`esper.report.events` (the event log) and `esper.report.summary` (``summary.json``'s history,
whose records have the fields of a ``train.update`` event) share these.
"""

from __future__ import annotations

from esper.report.fields import EventFields, is_int, is_number
from esper.report.records import (
    EpochPoint,
    Rollback,
    SeedMark,
    SeedMarkKind,
    StageChange,
    UpdatePoint,
)

#: Event type -> the kind of seed mark it draws.
SEED_KINDS: dict[str, SeedMarkKind] = {
    "seed.germinated": "germinated",
    "seed.fossilized": "fossilized",
    "seed.pruned": "pruned",
}


def epoch_point(f: EventFields) -> EpochPoint:
    """An ``engine.epoch`` event."""
    return EpochPoint(
        arm=f.text("arm"),
        epoch=f.integer("epoch"),
        train_loss=f.num("train_loss"),
        train_accuracy=f.num("train_accuracy"),
        val_loss=f.num("val_loss"),
        val_accuracy=f.num("val_accuracy"),
        params_total=f.integer("params_total"),
        params_host=f.integer("params_host"),
        action=f.text("action", "WAIT"),
        action_slot=f.opt_text("action_slot") if "action_slot" in f.data else None,
        action_ok=f.flag("action_ok", True),
        stages=f.mapping("stages", lambda v: isinstance(v, str), "strings"),
        alphas={k: float(v) for k, v in f.mapping("alphas", is_number, "numbers").items()},
    )


def update_point(f: EventFields, *, with_actions: bool) -> UpdatePoint:
    """A ``train.update`` event or, ``with_actions``, a record of ``summary.json``'s history."""
    return UpdatePoint(
        update=f.integer("update"),
        episodes=f.integer("episodes"),
        mean_reward=f.num("mean_reward"),
        mean_accuracy=f.num("mean_accuracy"),
        rollbacks=f.integer("rollbacks"),
        actions=f.mapping("actions", is_int, "integers") if with_actions else {},
        metrics={k: float(v) for k, v in f.mapping("metrics", is_number, "numbers").items()},
    )


def seed_mark(f: EventFields) -> SeedMark:
    """A ``seed.germinated``, ``seed.fossilized`` or ``seed.pruned`` event, with no arm yet."""
    return SeedMark(
        kind=SEED_KINDS[f.type],
        epoch=f.opt_integer("epoch"),
        arm=None,
        slot_id=f.text("slot_id"),
        seed_id=f.text("seed_id"),
        blueprint_id=f.text("blueprint_id"),
        reason=f.text("reason") if f.type == "seed.pruned" else "",
    )


def stage_change(f: EventFields) -> StageChange:
    """A ``seed.stage_changed`` event, with no arm yet."""
    return StageChange(
        epoch=f.opt_integer("epoch"),
        arm=None,
        slot_id=f.text("slot_id"),
        seed_id=f.text("seed_id"),
        from_stage=f.text("from_stage"),
        to_stage=f.text("to_stage"),
    )


def rollback(f: EventFields) -> Rollback:
    """A ``governor.rollback`` event, with no arm yet."""
    return Rollback(
        epoch=f.opt_integer("epoch"),
        arm=None,
        reason=f.text("reason"),
        val_loss=f.opt_num("val_loss"),
        seeds_pruned=f.str_list("seeds_pruned"),
    )
