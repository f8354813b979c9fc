"""MorphogeneticModel: a host plus the seeds growing in its slots.

The model owns one `SlotRecord` per enabled slot: the seed's lifecycle record (`SeedState`,
which also holds its alpha controller) and, while the seed has a module, the `SeedModule`
attached to the host's slot. A slot without a seed has nothing attached, so the host runs as
the plain network.

Operations (each validates the lifecycle and raises `LifecycleError` / `IllegalTransition`):
``germinate``, ``advance`` (gated), ``set_alpha_target``, ``prune`` (instant),
``schedule_prune`` (blend out, then prune), ``fossilize``, and ``step_epoch`` (the per-epoch
tick: alpha schedules, scheduled prunes, cooldowns). ``fused_forward`` evaluates several alpha
configurations in one batched pass for counterfactual contributions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs
import torch
from torch import nn

from esper.contracts.signals import SlotView
from esper.errors import EsperError
from esper.growth.catalog import BlueprintCatalog
from esper.growth.gradient_health import GradientReport, PendingGradients, launch
from esper.growth.host import InjectionPoint, SlottedHost
from esper.growth.seed_module import FusedPlan, SeedModule
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

#: Version of `MorphogeneticModel.grown_state`; loading another version raises.
GROWN_STATE_SCHEMA = 1

#: Stages in which a seed has a module in its slot.
_HAS_MODULE = frozenset(
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


@attrs.frozen(kw_only=True)
class ParamCounts:
    """Trainable parameters; tied weights count once."""

    host: int
    active_seeds: int
    fossilized: int

    @property
    def total(self) -> int:
        return self.host + self.active_seeds + self.fossilized

    @property
    def growth_ratio(self) -> float:
        return self.total / self.host if self.host else math.inf


def _zero_last_layer(module: nn.Module) -> None:
    last = None
    for sub in module.modules():
        if isinstance(sub, nn.Linear | nn.Conv1d | nn.Conv2d):
            last = sub
    if last is not None:
        with torch.no_grad():
            last.weight.zero_()
            if last.bias is not None:
                last.bias.zero_()


class MorphogeneticModel(nn.Module):
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
        self.records: dict[str, SlotRecord] = {s: SlotRecord(point=points[s]) for s in ordered}
        self._optimizers: list[tuple[torch.optim.Optimizer, dict[str, Any]]] = []

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

    def _reference(self) -> torch.Tensor:
        for p in self.host.parameters():
            return p
        return torch.zeros(())

    def _probe(self, module: nn.Module, point: InjectionPoint) -> None:
        """Run a new seed once on zeros shaped like the slot's features: it must keep the shape."""
        ref = self._reference()
        x = torch.zeros(point.probe_shape, device=ref.device, dtype=ref.dtype)
        x = x.contiguous(memory_format=point.torch_memory_format)
        was_training = module.training
        module.eval()
        with torch.no_grad():
            y = module(x)
        module.train(was_training)
        if not isinstance(y, torch.Tensor) or y.shape != x.shape:
            got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise EsperError(
                f"blueprint changed the feature shape {tuple(x.shape)} -> {got} at slot "
                f"{point.slot_id}; seeds must keep it"
            )

    def _build_seed(
        self, record: SlotRecord, blueprint: str, algorithm: AlphaAlgorithm
    ) -> SeedModule:
        """The blueprint's module for this slot, on the host's device and dtype, in the slot's
        memory format, wrapped in its `SeedModule`."""
        point = record.point
        ref = self._reference()
        seed = self.catalog.build(blueprint, point.channels)
        seed = seed.to(device=ref.device, dtype=ref.dtype)
        if point.memory_format != "contiguous":
            # (torch's stubs lack the memory_format overload of Module.to)
            seed = seed.to(memory_format=point.torch_memory_format)  # type: ignore[call-overload,unused-ignore]
        return SeedModule(seed, point.channels, algorithm, channel_dim=point.channel_dim).to(
            device=ref.device
        )

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
        module = self._build_seed(record, blueprint, algo)
        if algo is AlphaAlgorithm.MULTIPLY:
            _zero_last_layer(module.seed)  # the valve starts as the identity
        self._probe(module.seed, record.point)
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
        record.curve, record.steepness, record.pending_prune = (
            parse_curve(curve),
            float(steepness),
            None,
        )
        self.host.attach_slot(slot_id, module)
        self._add_to_optimizers(slot_id, module)
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
        self._sync_alpha(record)

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
        self._freeze(record, True)  # blending out: the seed stops learning, the graph stays intact

    def step_epoch(self, *, epoch: int | None = None) -> None:
        """The per-epoch tick: alpha schedules, scheduled prunes, cooldowns."""
        for record in self.records.values():
            state = record.state
            if state is None:
                continue
            if state.stage is Stage.BLENDING:
                state.alpha_controller.step()
                self._sync_alpha(record)
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

    def launch_nonfinite(self) -> tuple[tuple[str, ...], torch.Tensor | None]:
        """Each seed's count of training batches with a non-finite output since the last call.

        The counts stay on the device (read them with the epoch's other figures); each seed's
        count starts again from zero.
        """
        modules = list(self.seed_modules())
        if not modules:
            return (), None
        counts = torch.stack([m.take_nonfinite() for _, m in modules])
        return tuple(sid for sid, _ in modules), counts

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
        views = []
        for sid, record in self.records.items():
            state = record.state
            if state is None:
                views.append(SlotView(slot_id=sid, stage=Stage.DORMANT))
                continue
            controller = state.alpha_controller
            views.append(
                SlotView(
                    slot_id=sid,
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
            )
        return tuple(views)

    def record_accuracy(self, val_acc: float) -> None:
        """Record this epoch's validation accuracy (percent) for every live seed."""
        for record in self.records.values():
            if record.state is not None:
                record.state.record_accuracy(val_acc)

    def _sync_alpha(self, record: SlotRecord) -> None:
        if record.module is not None and record.state is not None:
            record.module.set_alpha(record.state.alpha)

    def _freeze(self, record: SlotRecord, frozen: bool) -> None:
        if record.module is not None:
            for p in record.module.parameters():
                p.requires_grad_(not frozen)

    def _free_module(self, record: SlotRecord) -> None:
        if record.module is not None:
            self._remove_from_optimizers(record.module)
            self.host.detach_slot(record.point.slot_id)
            record.module = None

    # -- counterfactual evaluation -----------------------------------------------------------

    def fused_forward(
        self, x: torch.Tensor, configs: Sequence[Mapping[str, float]]
    ) -> torch.Tensor:
        """Outputs for K alpha configurations in one pass: shape ``[K, B, ...]``.

        Each config maps slot ids to the alpha to evaluate with (slots not named keep their
        current alpha). A seed in TRAINING is never blended: it is the identity here, whatever
        a config says about its slot. The pass runs in eval mode
        without gradients, so BatchNorm statistics are untouched and every sample sees
        exactly what a sequential evaluation with that config would. The host computes the
        part before the first slot whose alpha differs between configs once, then fans out
        only where configurations start to differ (see `FusedPlan`).
        """
        if not configs:
            raise ValueError("fused_forward needs at least one configuration")
        for config in configs:
            unknown = set(config) - set(self.records)
            if unknown:
                raise LifecycleError(f"alpha config names unknown slot(s) {sorted(unknown)}")
        k, batch = len(configs), x.shape[0]
        modules = {sid: r.module for sid, r in self.records.items() if r.module is not None}
        plan = FusedPlan(
            {sid: [float(c[sid]) if sid in c else None for c in configs] for sid in modules},
            k,
            batch,
        )
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                for sid, module in modules.items():
                    module.slot_id = sid
                    module.fused = plan
                out: torch.Tensor = self.host(x)
        finally:
            for module in modules.values():
                module.fused = None
            self.train(was_training)
        return plan.gather(out, k)

    # -- accounting, gradients, optimizers ----------------------------------------------------

    def seed_modules(self) -> Iterator[tuple[str, SeedModule]]:
        for sid, record in self.records.items():
            if record.module is not None:
                yield sid, record.module

    def host_parameters(self) -> list[nn.Parameter]:
        """The host's own parameters (no seed parameters), each once even if tied."""
        seed_ids = {id(p) for _, m in self.seed_modules() for p in m.parameters()}
        seen: set[int] = set()
        params = []
        for p in self.host.parameters():  # parameters() already de-duplicates tied weights
            if id(p) not in seed_ids and id(p) not in seen:
                seen.add(id(p))
                params.append(p)
        return params

    def parameter_counts(self) -> ParamCounts:
        host = sum(p.numel() for p in self.host_parameters() if p.requires_grad)
        active = fossil = 0
        for sid, module in self.seed_modules():
            state = self.records[sid].state
            n = sum(p.numel() for p in module.parameters())
            if state is not None and state.stage is Stage.FOSSILIZED:
                fossil += n
            else:
                active += n
        return ParamCounts(host=host, active_seeds=active, fossilized=fossil)

    def gradient_report(self, *, record: bool = True) -> GradientReport:
        """Gradient health of host and seeds (one device sync); optionally recorded into the seeds."""
        report = self.launch_gradient_report().resolve()
        if record:
            self.record_gradient_report(report)
        return report

    def launch_gradient_report(self) -> PendingGradients:
        """Launch the gradient-health kernels; read them later with ``.resolve()``."""
        return launch(
            self.host_parameters(), {sid: list(m.parameters()) for sid, m in self.seed_modules()}
        )

    def record_gradient_report(self, report: GradientReport) -> None:
        """Record each seed's gradient health and seed/host ratio into its lifecycle state."""
        for sid, health in report.seeds.items():
            record = self.records.get(sid)
            state = record.state if record is not None else None
            if state is None or health is None:
                continue
            state.record_gradient_health(
                health.health,
                has_vanishing=health.vanishing,
                has_exploding=health.exploding,
                norm=health.norm if math.isfinite(health.norm) else None,
            )
            ratio = report.ratio(sid)
            if ratio is not None:
                state.record_gradient_ratio(ratio)

    def bind_optimizer(self, optimizer: torch.optim.Optimizer, **group_options: Any) -> None:
        """Give every seed (now and future) its own param group in ``optimizer``.

        The group is added at germination and removed, with its moments, at prune.
        """
        self._optimizers.append((optimizer, group_options))
        for sid, module in self.seed_modules():
            self._add_group(optimizer, group_options, sid, module)

    def _add_group(
        self,
        optimizer: torch.optim.Optimizer,
        options: dict[str, Any],
        sid: str,
        module: SeedModule,
    ) -> None:
        optimizer.add_param_group(
            {"params": list(module.parameters()), "esper_slot": sid, **options}
        )
        # Keep one canonical order (other groups first, then seeds by slot), whatever the order of
        # germination, so a saved optimizer state loads into a rebuilt model's optimizer.
        order = {slot: i for i, slot in enumerate(self.records)}
        optimizer.param_groups.sort(key=lambda g: order.get(g.get("esper_slot", ""), -1))

    def _add_to_optimizers(self, sid: str, module: SeedModule) -> None:
        for optimizer, options in self._optimizers:
            self._add_group(optimizer, options, sid, module)

    def _remove_from_optimizers(self, module: SeedModule) -> None:
        ids = {id(p) for p in module.parameters()}
        for optimizer, _ in self._optimizers:
            for group in list(optimizer.param_groups):
                if any(id(p) in ids for p in group["params"]):
                    for p in group["params"]:
                        optimizer.state.pop(p, None)
                    # By identity: list.remove would compare the groups' tensors with ==.
                    optimizer.param_groups[:] = [
                        g for g in optimizer.param_groups if g is not group
                    ]

    def clear_optimizer_moments(self, slot_id: str | None = None) -> None:
        """Forget optimizer state (e.g. Adam moments) for one seed, or for everything."""
        params: list[nn.Parameter]
        if slot_id is None:
            params = list(self.parameters())
        else:
            record = self._record(slot_id)
            params = list(record.module.parameters()) if record.module is not None else []
        for optimizer, _ in self._optimizers:
            for p in params:
                optimizer.state.pop(p, None)

    # -- persistence ---------------------------------------------------------------------------

    def grown_state(self) -> dict[str, Any]:
        """Topology, lifecycle and weights; `load_grown_state` rebuilds an identical model.

        Contains only tensors and plain containers, so it loads with ``weights_only=True``.
        """
        slots: dict[str, Any] = {}
        for sid, record in self.records.items():
            if record.state is None:
                continue
            slots[sid] = {
                "state": record.state.to_dict(),
                "algorithm": record.algorithm.name,
                "alpha_target": record.alpha_target,
                "tempo": record.tempo,
                "curve": record.curve.name,
                "steepness": record.steepness,
                "pending_prune": record.pending_prune,
                "seeds_germinated": record.seeds_germinated,
                "isolate": record.module.isolate if record.module is not None else None,
                "frozen": (
                    record.module is not None
                    and not any(p.requires_grad for p in record.module.parameters())
                ),
            }
        return {
            "schema": GROWN_STATE_SCHEMA,
            "topology": self.host.topology,
            "slots": slots,
            # Every slot's count, also of slots whose last seed is gone: seed ids and the
            # run's germination figures continue from it after a resume.
            "germinated": {sid: r.seeds_germinated for sid, r in self.records.items()},
            "weights": self.state_dict(),
        }

    def load_grown_state(self, data: Mapping[str, Any]) -> None:
        """Restore a `grown_state` into this model (same host class and slot set)."""
        if data.get("schema") != GROWN_STATE_SCHEMA:
            raise EsperError(
                f"grown-model state has schema {data.get('schema')!r}, expected {GROWN_STATE_SCHEMA}"
            )
        if data.get("topology") != self.host.topology:
            raise EsperError(
                f"state is for a {data.get('topology')!r} host, this host is {self.host.topology!r}"
            )
        unknown = set(data["slots"]) - set(self.records)
        if unknown:
            raise EsperError(
                f"state has seeds in slot(s) {sorted(unknown)} that this model does not enable"
            )
        for sid in list(self.records):
            record = self.records[sid]
            self._free_module(record)
            self.records[sid] = SlotRecord(point=record.point)
        for sid, count in data.get("germinated", {}).items():
            if sid in self.records:
                self.records[sid].seeds_germinated = int(count)
        for sid, saved in data["slots"].items():
            record = self.records[sid]
            state = SeedState.from_dict(saved["state"], emit=self.emit)
            record.state = state
            record.algorithm = parse_algorithm(saved["algorithm"])
            record.alpha_target = float(saved["alpha_target"])
            record.tempo = int(saved["tempo"])
            record.curve = parse_curve(saved["curve"])
            record.steepness = float(saved["steepness"])
            record.pending_prune = saved["pending_prune"]
            record.seeds_germinated = int(saved["seeds_germinated"])
            if state.stage in _HAS_MODULE:
                module = self._build_seed(record, state.blueprint_id, record.algorithm)
                module.stage = state.stage
                module.isolate = bool(saved["isolate"])
                record.module = module
                self.host.attach_slot(sid, module)
                self._add_to_optimizers(sid, module)
                self._sync_alpha(record)
                self._freeze(record, bool(saved["frozen"]))
        self.load_state_dict(data["weights"], strict=True)
