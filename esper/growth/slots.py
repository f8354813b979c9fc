"""What the model keeps for each enabled slot (`SlotRecord`), and how a controller sees it.

`enabled_slots` makes an empty record for each slot a run enables. A `SlotRecord` holds the
seed's lifecycle record (`SeedState`, with its alpha controller), the `SeedModule` attached to
the host's slot while the seed has one, and the blend settings chosen at germination, which
the model applies when the seed starts blending. `slot_view` turns a record into the plain
`SlotView` that policies and rewards read.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from esper.contracts.signals import SlotView
from esper.errors import EsperError
from esper.growth.host import InjectionPoint, SlottedHost
from esper.growth.seed_module import SeedModule
from esper.lifecycle import SeedState, Stage
from esper.lifecycle.alpha import AlphaAlgorithm, AlphaCurve, AlphaMode

#: Stages in which a seed has a module in its slot.
STAGES_WITH_MODULE = frozenset(
    {Stage.GERMINATED, Stage.TRAINING, Stage.BLENDING, Stage.HOLDING, Stage.FOSSILIZED}
)


@attrs.define(kw_only=True)
class SlotRecord:
    """Everything the model tracks for one enabled slot."""

    point: InjectionPoint
    state: SeedState | None = None
    module: SeedModule | None = None
    algorithm: AlphaAlgorithm = AlphaAlgorithm.ADD
    alpha_target: float = 1.0
    tempo: int = 5
    curve: AlphaCurve = AlphaCurve.LINEAR
    steepness: float = 12.0
    pending_prune: str | None = None  # reason of a scheduled prune, executed when alpha reaches 0
    seeds_germinated: int = 0

    @property
    def free(self) -> bool:
        return self.state is None

    def sync_alpha(self) -> None:
        """Copy the lifecycle's alpha to the seed module (which blends with it)."""
        if self.module is not None and self.state is not None:
            self.module.set_alpha(self.state.alpha)

    def freeze(self, frozen: bool) -> None:
        """Stop (or resume) training the seed's parameters."""
        if self.module is not None:
            for p in self.module.parameters():
                p.requires_grad_(not frozen)


def enabled_slots(host: SlottedHost, slots: Sequence[str] | None) -> dict[str, SlotRecord]:
    """An empty record for each of ``slots`` (default: every slot of the host), in the order
    of the host's injection points (the action-index order)."""
    points = {p.slot_id: p for p in host.injection_points()}
    chosen = list(points) if slots is None else list(slots)
    unknown = [s for s in chosen if s not in points]
    if unknown:
        raise EsperError(
            f"config.run.slots: host {type(host).__name__} has no slot(s) {unknown}; "
            f"it has {sorted(points)}"
        )
    if len(set(chosen)) != len(chosen):
        raise EsperError(f"config.run.slots: slots listed twice: {chosen}")
    ordered = sorted(chosen, key=lambda s: points[s].order)
    return {s: SlotRecord(point=points[s]) for s in ordered}


def slot_view(slot_id: str, record: SlotRecord) -> SlotView:
    """The slot as the controller sees it (plain data); a free slot is DORMANT."""
    state = record.state
    if state is None:
        return SlotView(slot_id=slot_id, stage=Stage.DORMANT)
    controller = state.alpha_controller
    return SlotView(
        slot_id=slot_id,
        stage=state.stage,
        seed_id=state.seed_id,
        blueprint=state.blueprint_id,
        alpha=state.alpha,
        alpha_target=controller.target,
        alpha_holding=controller.mode is AlphaMode.HOLD,
        epochs_in_stage=state.epochs_in_stage,
        epochs_total=state.epochs_total,
        improvement_since_stage_start=state.improvement_since_stage_start,
        total_improvement=state.total_improvement,
        contribution=state.contribution,
        gradient_health=state.gradient_health,
        contribution_velocity=state.contribution_velocity,
        contribution_age=state.contribution_age,
        previous_gradient_health=state.previous_gradient_health,
        gradient_norm=state.gradient_norm,
        has_vanishing=state.has_vanishing,
        has_exploding=state.has_exploding,
        alpha_mode=controller.mode,
        alpha_steps_total=controller.steps_total,
        alpha_steps_done=controller.steps_done,
        alpha_algorithm=record.algorithm,
        tempo=record.tempo,
    )
