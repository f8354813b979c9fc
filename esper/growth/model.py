"""MorphogeneticModel: a host plus the seeds growing in its slots, and the lifecycle operations.

The model owns one `SlotRecord` per enabled slot (`esper.growth.slots`): the seed's lifecycle
record (`SeedState`, which also holds its alpha controller) and, while the seed has a module,
the `SeedModule` attached to the host's slot. A slot without a seed has nothing attached, so
the host runs as the plain network.

Operations (each validates the lifecycle and raises `LifecycleError` / `IllegalTransition`):
``germinate``, ``advance`` (gated), ``set_alpha_target``, ``prune`` (instant),
``schedule_prune`` (blend out, then prune), ``fossilize``, and ``step_epoch`` (the per-epoch
tick: alpha schedules, scheduled prunes, cooldowns). The model's other concerns have modules of
their own: `esper.growth.counterfactual` (``fused_forward``), `esper.growth.accounting`
(parameters, gradient health), `esper.growth.optimizers`, `esper.growth.persistence`
(``grown_state``) and `esper.growth.seeding` (building a seed's module).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from esper.contracts.signals import SlotView
from esper.errors import EsperError
from esper.growth import persistence
from esper.growth.accounting import ParamCounts, ParameterAccounting
from esper.growth.catalog import BlueprintCatalog
from esper.growth.counterfactual import FusedEvaluation
from esper.growth.host import SlottedHost
from esper.growth.optimizers import OptimizerBinding
from esper.growth.persistence import GROWN_STATE_SCHEMA
from esper.growth.seeding import build_seed, host_reference, probe_seed, zero_last_layer
from esper.growth.slots import STAGES_WITH_MODULE, SlotRecord, enabled_slots, slot_view
from esper.lifecycle import (
    GateResult,
    LifecycleError,
    QualityGates,
    SeedNonFinite,
    SeedState,
    Stage,
    is_legal_transition,
)
from esper.lifecycle.alpha import (
    AlphaAlgorithm,
    AlphaCurve,
    AlphaMode,
    parse_algorithm,
    parse_curve,
)
from esper.telemetry import Event

# Names that moved to the modules above stay importable from here (and from esper.model).
__all__ = ["GROWN_STATE_SCHEMA", "MorphogeneticModel", "ParamCounts", "SlotRecord"]


class MorphogeneticModel(ParameterAccounting, FusedEvaluation, nn.Module):
    def __init__(
        self,
        host: SlottedHost,
        catalog: BlueprintCatalog,
        *,
        slots: Sequence[str] | None = None,
        gates: QualityGates | None = None,
        emit: Callable[[Event], None] | None = None,
        isolate_while_blending: bool | None = None,
        embargo_ticks: int = 5,
    ) -> None:
        super().__init__()
        if not isinstance(host, SlottedHost):
            raise TypeError(
                f"host must be an esper.growth.host.SlottedHost, got {type(host).__name__}"
            )
        if catalog.topology != host.topology:
            raise EsperError(
                f"blueprint catalogue is for {catalog.topology!r}, host is {host.topology!r}"
            )
        self.host = host
        self.catalog = catalog
        self.gates = gates or QualityGates()
        self.emit = emit
        self.embargo_ticks = embargo_ticks
        # None: each injection point's own rule (`InjectionPoint.isolate_while_blending`).
        self.isolate_while_blending = isolate_while_blending
        self.records: dict[str, SlotRecord] = enabled_slots(host, slots)
        self._optimizers = OptimizerBinding(self.records)

    # -- forward ---------------------------------------------------------------------------

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.host(x)
        return out

    @property
    def slot_ids(self) -> list[str]:
        """Enabled slots in action-index order."""
        return list(self.records)

    def _record(self, slot_id: str) -> SlotRecord:
        try:
            return self.records[slot_id]
        except KeyError:
            raise LifecycleError(
                f"slot {slot_id!r} is not enabled; enabled: {self.slot_ids}"
            ) from None

    def _state(self, slot_id: str) -> tuple[SlotRecord, SeedState]:
        record = self._record(slot_id)
        if record.state is None:
            raise LifecycleError(f"slot {slot_id!r} holds no seed")
        return record, record.state

    def _isolates_while_blending(self, record: SlotRecord) -> bool:
        if self.isolate_while_blending is not None:
            return self.isolate_while_blending
        return record.point.isolate_while_blending

    # -- lifecycle operations --------------------------------------------------------------

    def germinate(
        self,
        slot_id: str,
        blueprint: str,
        *,
        seed_id: str | None = None,
        algorithm: AlphaAlgorithm | str = AlphaAlgorithm.ADD,
        alpha_target: float = 1.0,
        tempo: int = 5,
        curve: AlphaCurve | str = AlphaCurve.LINEAR,
        steepness: float = 12.0,
        epoch: int | None = None,
    ) -> SeedState:
        """Grow a new seed from ``blueprint`` in a free slot (DORMANT -> GERMINATED)."""
        record = self._record(slot_id)
        if not record.free:
            held = record.state.stage.name if record.state else "?"
            raise LifecycleError(f"slot {slot_id!r} is not free (its seed is {held})")
        if not 0.0 < alpha_target <= 1.0:
            raise LifecycleError(f"alpha_target must be in (0, 1], got {alpha_target}")
        if tempo < 0:
            raise LifecycleError(f"tempo must be >= 0 epochs, got {tempo}")
        algo = parse_algorithm(algorithm)
        entry = self.catalog.entry(blueprint)
        module = build_seed(self.catalog, record.point, blueprint, algo, host_reference(self.host))
        if algo is AlphaAlgorithm.MULTIPLY:
            zero_last_layer(module.seed)  # the valve starts as the identity
        probe_seed(module.seed, record.point, host_reference(self.host))
        record.seeds_germinated += 1
        sid = seed_id or f"{slot_id}-{entry.name}-{record.seeds_germinated}"
        state = SeedState.germinate(
            seed_id=sid,
            slot_id=slot_id,
            blueprint_id=entry.id,
            gates=self.gates,
            emit=self.emit,
            epoch=epoch,
            seed_params=sum(p.numel() for p in module.parameters()),
            embargo_ticks=self.embargo_ticks,
        )
        module.stage = Stage.GERMINATED
        record.state, record.module = state, module
        record.algorithm, record.alpha_target, record.tempo = algo, float(alpha_target), int(tempo)
        record.curve, record.steepness = parse_curve(curve), float(steepness)
        record.pending_prune = None
        self.host.attach_slot(slot_id, module)
        self._optimizers.add(slot_id, module)
        return state

    def install(
        self,
        slot_id: str,
        blueprint: str,
        *,
        algorithm: AlphaAlgorithm | str = AlphaAlgorithm.ADD,
        epoch: int | None = None,
    ) -> SeedState:
        """Make ``blueprint`` part of the architecture in a free slot: a freshly initialised
        seed, fossilized at alpha 1 without the gates, that trains with the host from now on.

        A host with seeds installed is a larger static model (``esper eval``'s larger-static
        baseline: the grown model's final architecture trained from scratch)."""
        state = self.germinate(slot_id, blueprint, algorithm=algorithm, tempo=0, epoch=epoch)
        record = self.records[slot_id]
        for stage in (Stage.TRAINING, Stage.BLENDING, Stage.HOLDING, Stage.FOSSILIZED):
            source = state.stage
            state.transition(stage, epoch=epoch)
            self._enter(record, state, source)
        record.sync_alpha()
        return state

    def advance(
        self, slot_id: str, target: Stage | str | None = None, *, epoch: int | None = None
    ) -> GateResult:
        """Try the gated move to ``target`` (default: the next stage); returns the gate result."""
        record, state = self._state(slot_id)
        source = state.stage
        result = state.advance(self.gates, target, epoch=epoch)
        if result.passed:
            self._enter(record, state, source)
        return result

    def fossilize(self, slot_id: str, *, epoch: int | None = None) -> GateResult:
        return self.advance(slot_id, Stage.FOSSILIZED, epoch=epoch)

    def _enter(self, record: SlotRecord, state: SeedState, source: Stage) -> None:
        module = record.module
        if module is None:
            raise LifecycleError(
                f"slot {record.point.slot_id!r}: seed has no module in stage {state.stage.name}"
            )
        stage = state.stage
        if stage is Stage.TRAINING:
            module.isolate = True
        elif stage is Stage.BLENDING and source is Stage.TRAINING:
            module.isolate = self._isolates_while_blending(record)
            # A gated blend follows a linear schedule so that the gate is not starved early.
            curve = AlphaCurve.LINEAR if record.algorithm is AlphaAlgorithm.GATE else record.curve
            state.alpha_controller.retarget(
                record.alpha_target, record.tempo, curve, record.steepness
            )
        elif stage is Stage.FOSSILIZED:
            module.isolate = False
        module.stage = stage
        module.set_alpha(state.alpha)

    def set_alpha_target(
        self,
        slot_id: str,
        target: float,
        *,
        steps: int,
        curve: AlphaCurve | str = AlphaCurve.LINEAR,
        steepness: float = 12.0,
        algorithm: AlphaAlgorithm | str | None = None,
        epoch: int | None = None,
    ) -> None:
        """Move a blending or holding seed's alpha to a new target (> 0; removal is prune)."""
        record, state = self._state(slot_id)
        if state.stage not in (Stage.BLENDING, Stage.HOLDING):
            raise LifecycleError(
                f"slot {slot_id!r}: alpha can be retargeted only while BLENDING or HOLDING, not {state.stage.name}"
            )
        if not 0.0 < target <= 1.0:
            raise LifecycleError(f"alpha target must be in (0, 1], got {target}")
        if state.alpha_controller.mode is not AlphaMode.HOLD:
            raise LifecycleError(f"slot {slot_id!r}: alpha is still moving; retarget once it holds")
        if algorithm is not None and record.module is not None:
            record.algorithm = parse_algorithm(algorithm)
            record.module.set_algorithm(record.algorithm)
        if state.stage is Stage.HOLDING and target < 1.0:
            state.transition(Stage.BLENDING, epoch=epoch)
            if record.module is not None:
                record.module.stage = Stage.BLENDING
        record.alpha_target = float(target)
        state.alpha_controller.retarget(target, steps, curve, steepness)
        record.sync_alpha()

    def prune(
        self, slot_id: str, reason: str, *, initiator: str = "policy", epoch: int | None = None
    ) -> None:
        """Remove the seed now: free its module and start the slot's cooldown."""
        record, state = self._state(slot_id)
        state.prune(reason, initiator=initiator, epoch=epoch)
        self._free_module(record)

    def schedule_prune(
        self,
        slot_id: str,
        *,
        steps: int,
        curve: AlphaCurve | str = AlphaCurve.LINEAR,
        steepness: float = 12.0,
        reason: str = "policy",
        epoch: int | None = None,
    ) -> None:
        """Blend the seed out over ``steps`` epochs, then prune it (instantly when that is moot)."""
        record, state = self._state(slot_id)
        if state.stage is Stage.FOSSILIZED:
            raise LifecycleError(
                f"slot {slot_id!r}: a fossilized seed is permanent and cannot be pruned"
            )
        if steps <= 0 or state.alpha <= 0.0 or state.stage not in (Stage.BLENDING, Stage.HOLDING):
            self.prune(slot_id, reason, epoch=epoch)
            return
        if state.alpha_controller.mode is not AlphaMode.HOLD:
            raise LifecycleError(
                f"slot {slot_id!r}: alpha is still moving; schedule the prune once it holds"
            )
        if state.stage is Stage.HOLDING:
            state.transition(Stage.BLENDING, epoch=epoch)
            if record.module is not None:
                record.module.stage = Stage.BLENDING
        state.alpha_controller.retarget(0.0, steps, curve, steepness)
        record.pending_prune = reason
        record.freeze(True)  # blending out: the seed stops learning, the graph stays intact

    def step_epoch(self, *, epoch: int | None = None) -> None:
        """The per-epoch tick: alpha schedules, scheduled prunes, cooldowns."""
        for record in self.records.values():
            state = record.state
            if state is None:
                continue
            if state.stage is Stage.BLENDING:
                state.alpha_controller.step()
                record.sync_alpha()
                if (
                    record.pending_prune is not None
                    and state.alpha_controller.mode is AlphaMode.HOLD
                    and state.alpha <= 0.0
                ):
                    reason, record.pending_prune = record.pending_prune, None
                    state.prune(reason, initiator="schedule", epoch=epoch)
                    self._free_module(record)
            elif (
                state.stage in (Stage.PRUNED, Stage.EMBARGOED, Stage.RESETTING)
                and state.tick(epoch=epoch) is Stage.DORMANT
            ):
                record.state = None
                record.pending_prune = None

    def prune_non_finite(self, causes: Mapping[str, str], *, epoch: int | None = None) -> list[str]:
        """Report each seed whose output or gradients went non-finite, and prune it.

        ``causes`` maps slot ids to ``"output"`` or ``"gradients"``. The seed is pruned
        (reason ``non_finite``, then embargoed like any pruned seed) unless the lifecycle
        forbids it (a fossilized seed is permanent). Returns the slots pruned.
        """
        pruned = []
        for sid, cause in causes.items():
            record = self.records.get(sid)
            state = record.state if record is not None else None
            if record is None or state is None:
                continue
            stage = state.stage
            prunable = is_legal_transition(stage, Stage.PRUNED)
            if self.emit is not None:
                self.emit(
                    SeedNonFinite(
                        epoch=epoch,
                        seed_id=state.seed_id,
                        slot_id=sid,
                        blueprint_id=state.blueprint_id,
                        stage=stage.name,
                        cause=cause,
                        pruned=prunable,
                    )
                )
            if prunable:
                self.prune(sid, "non_finite", initiator="engine", epoch=epoch)
                pruned.append(sid)
        return pruned

    def slot_views(self) -> tuple[SlotView, ...]:
        """Every enabled slot as the controller sees it (plain data), in action-index order."""
        return tuple(slot_view(sid, record) for sid, record in self.records.items())

    def record_accuracy(self, val_acc: float) -> None:
        """Record this epoch's validation accuracy (percent) for every live seed."""
        for record in self.records.values():
            if record.state is not None:
                record.state.record_accuracy(val_acc)

    def _free_module(self, record: SlotRecord) -> None:
        if record.module is not None:
            self._optimizers.remove(record.module)
            self.host.detach_slot(record.point.slot_id)
            record.module = None

    # -- optimizers --------------------------------------------------------------------------

    def bind_optimizer(self, optimizer: torch.optim.Optimizer, **group_options: Any) -> None:
        """Give every seed (now and future) its own param group in ``optimizer``.

        The group is added at germination and removed, with its moments, at prune.
        """
        self._optimizers.bind(optimizer, group_options, self.seed_modules())

    def clear_optimizer_moments(self, slot_id: str | None = None) -> None:
        """Forget optimizer state (e.g. Adam moments) for one seed, or for everything."""
        params: list[nn.Parameter]
        if slot_id is None:
            params = list(self.parameters())
        else:
            record = self._record(slot_id)
            params = list(record.module.parameters()) if record.module is not None else []
        self._optimizers.forget(params)

    # -- persistence (the layout: esper.growth.persistence) ----------------------------------

    def grown_state(self) -> dict[str, Any]:
        """Topology, lifecycle and weights; `load_grown_state` rebuilds an identical model.

        Contains only tensors and plain containers, so it loads with ``weights_only=True``.
        """
        return persistence.grown_state(self.host.topology, self.records, self.state_dict())

    def load_grown_state(self, data: Mapping[str, Any]) -> None:
        """Restore a `grown_state` into this model (same host class and slot set)."""
        persistence.check_grown_state(data, self.host.topology, self.records)
        for record in self.records.values():
            self._free_module(record)
        persistence.clear_records(self.records, data.get("germinated", {}))
        for sid, saved in data["slots"].items():
            record = self.records[sid]
            state = persistence.restore_slot(record, saved, emit=self.emit)
            if state.stage in STAGES_WITH_MODULE:
                module = build_seed(
                    self.catalog,
                    record.point,
                    state.blueprint_id,
                    record.algorithm,
                    host_reference(self.host),
                )
                module.stage = state.stage
                module.isolate = bool(saved["isolate"])
                record.module = module
                self.host.attach_slot(sid, module)
                self._optimizers.add(sid, module)
                record.sync_alpha()
                record.freeze(bool(saved["frozen"]))
        self.load_state_dict(data["weights"], strict=True)
