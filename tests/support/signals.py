"""Hand-made `Signals` and `SlotView` records (and hypothesis strategies) for controller tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from esper.contracts.signals import Signals, SlotView
from esper.lifecycle import Stage

#: Stages a slot can really be in (UNKNOWN never reaches a controller).
SLOT_STAGES = [
    Stage.DORMANT,
    Stage.GERMINATED,
    Stage.TRAINING,
    Stage.BLENDING,
    Stage.HOLDING,
    Stage.FOSSILIZED,
    Stage.PRUNED,
    Stage.EMBARGOED,
    Stage.RESETTING,
]


def view(slot_id: str, stage: Stage = Stage.DORMANT, **kwargs: Any) -> SlotView:
    if stage is not Stage.DORMANT:
        kwargs.setdefault("seed_id", f"{slot_id}-seed")
        kwargs.setdefault("blueprint", "esper.blueprints.cnn:conv_light")
    return SlotView(slot_id=slot_id, stage=stage, **kwargs)


def signals(slots: Sequence[SlotView], **kwargs: Any) -> Signals:
    values: dict[str, Any] = {
        "epoch": 3,
        "max_epochs": 20,
        "train_loss": 1.5,
        "train_accuracy": 40.0,
        "val_loss": 1.4,
        "val_accuracy": 45.0,
        "loss_delta": 0.1,
        "accuracy_delta": 1.0,
        "plateau_epochs": 0,
        "host_stabilized": False,
        "best_val_accuracy": 45.0,
        "loss_history": (1.6, 1.5, 1.4),
        "accuracy_history": (40.0, 43.0, 45.0),
    }
    values.update(kwargs)
    return Signals(slots=tuple(slots), **values)


@st.composite
def slot_views(draw: st.DrawFn, slot_id: str, blueprints: Sequence[str]) -> SlotView:
    stage = draw(st.sampled_from(SLOT_STAGES))
    if stage is Stage.DORMANT:
        return SlotView(slot_id=slot_id, stage=stage)
    maybe = st.none() | st.floats(-30.0, 30.0)
    measured_health = draw(st.none() | st.floats(0.0, 1.0))
    return SlotView(
        slot_id=slot_id,
        stage=stage,
        seed_id=f"{slot_id}-seed",
        blueprint=draw(st.sampled_from(list(blueprints))),
        alpha=draw(st.floats(0.0, 1.0)),
        alpha_target=draw(st.floats(0.0, 1.0)),
        alpha_holding=draw(st.booleans()),
        epochs_in_stage=draw(st.integers(0, 40)),
        epochs_total=draw(st.integers(0, 40)),
        improvement_since_stage_start=draw(maybe),
        total_improvement=draw(maybe),
        contribution=draw(maybe),
        contribution_velocity=draw(maybe),
        contribution_age=draw(st.none() | st.integers(0, 40)),
        gradient_health=measured_health,
        previous_gradient_health=draw(st.none() | st.floats(0.0, 1.0)),
        gradient_norm=draw(st.none() | st.floats(0.0, 1e6)),
        has_vanishing=draw(st.none() | st.booleans()),
        has_exploding=draw(st.none() | st.booleans()),
        alpha_steps_total=draw(st.integers(0, 10)),
        alpha_steps_done=draw(st.integers(0, 10)),
        tempo=draw(st.sampled_from([3, 5, 8])),
    )


@st.composite
def signal_batches(
    draw: st.DrawFn, blueprints: Sequence[str], *, max_envs: int = 4, max_slots: int = 4
) -> list[Signals]:
    """Several envs with the same slot count, random stages and measurements."""
    num_slots = draw(st.integers(1, max_slots))
    envs = draw(st.integers(1, max_envs))
    batch = []
    for _ in range(envs):
        views = [draw(slot_views(f"r0c{i}", blueprints)) for i in range(num_slots)]
        history = draw(st.integers(0, 5))
        batch.append(
            signals(
                views,
                epoch=draw(st.integers(0, 200)),
                max_epochs=draw(st.integers(1, 200)),
                val_loss=draw(st.floats(0.0, 1e4) | st.just(float("inf"))),
                val_accuracy=draw(st.floats(0.0, 100.0)),
                loss_history=tuple(draw(st.floats(0.0, 50.0)) for _ in range(history)),
                accuracy_history=tuple(draw(st.floats(0.0, 100.0)) for _ in range(history)),
                plateau_epochs=draw(st.integers(0, 30)),
                host_stabilized=draw(st.booleans()),
            )
        )
    return batch
