"""Slot benchmarks: dormant overhead, TRAINING-seed overhead, fused evaluation, compile recompiles.

Each ratio compares two variants timed interleaved in this process:

* dormant overhead: forward+backward of a `MorphogeneticModel` whose slots are all dormant vs
  the bare host module (goal <= 1.02x);
* TRAINING seed: a model with one seed in the straight-through incubator vs the host with the
  same blueprint module placed in the slot and called plainly (goal <= 1.10x);
* fused evaluation: one `fused_forward` over 4 alpha configurations vs 4 sequential passes
  (goal >= 1.5x faster);
* recompiles: graph compilations of a ``torch.compile``d model across a whole lifecycle
  (germinate -> TRAINING -> BLENDING ramp -> HOLDING -> FOSSILIZED), goal <= 5;
* compile speed: a training step of the compiled model (inductor) vs the eager one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from esper.growth.catalog import BlueprintCatalog
from esper.growth.host import SlottedHost
from esper.growth.model import MorphogeneticModel
from esper.lifecycle import Stage
from esper.registry import Registries
from esper.registry.manager import build_manager
from torch import nn

from esper_bench.suite import Figure, benchmark
from esper_bench.timing import compare, ratio


def _registries() -> Registries:
    return Registries(build_manager(autoload=False))


def _cnn(reg: Registries) -> tuple[SlottedHost, BlueprintCatalog, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    host = reg["hosts"].get("cnn").build(None, num_classes=10)
    x = torch.randn(64, 3, 32, 32).to(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (64,))
    return host, BlueprintCatalog(reg["blueprints"], "cnn"), x, y


def _transformer(
    reg: Registries,
) -> tuple[SlottedHost, BlueprintCatalog, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    host = reg["hosts"].get("transformer").build(None, vocab_size=256)
    x = torch.randint(0, 256, (16, 64))
    y = torch.randint(0, 256, (16, 64))
    return host, BlueprintCatalog(reg["blueprints"], "transformer"), x, y


def _step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        out = model(x)
        loss = nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        loss.backward()
        model.zero_grad(set_to_none=True)

    return run


def _repeats(quick: bool) -> int:
    return 7 if quick else 31


@benchmark("dormant_slots")
def dormant_slots(quick: bool) -> list[Figure]:
    reg = _registries()
    figures = []
    for label, make in (("cnn", _cnn), ("transformer", _transformer)):
        host, catalog, x, y = make(reg)
        model = MorphogeneticModel(host, catalog)
        timings = compare(
            {"grown": _step(model, x, y), "plain": _step(host, x, y)}, repeats=3 * _repeats(quick)
        )
        figures.append(
            Figure(
                name=f"{label}: all slots dormant vs bare host (fwd+bwd; ratio of minimums)",
                value=ratio(timings, "grown", "plain", stat="min"),
                unit="x",
                goal="<= 1.02",
                detail={
                    "median_ratio": ratio(timings, "grown", "plain"),
                    "plain_min_s": timings["plain"].min_s,
                    "slots": len(model.slot_ids),
                },
            )
        )
    return figures


@benchmark("training_seed")
def training_seed(quick: bool) -> list[Figure]:
    reg = _registries()
    figures = []
    for label, make, slot, blueprint in (
        ("cnn", _cnn, "r0c1", "conv_light"),
        ("transformer", _transformer, "r0c1", "mlp_small"),
    ):
        host, catalog, x, y = make(reg)
        model = MorphogeneticModel(host, catalog, slots=[slot])
        model.germinate(slot, blueprint)
        model.advance(slot)  # -> TRAINING: straight-through incubator
        seed_module = model.records[slot].module
        if seed_module is None or model.records[slot].state is None:
            raise RuntimeError("germination failed in the benchmark")
        torch.manual_seed(1)
        plain_host, _, _, _ = make(reg)
        plain_host.load_state_dict(host.state_dict(), strict=False)
        plain_host.slots[slot] = seed_module.seed  # the same module, called plainly
        timings = compare(
            {"incubator": _step(model, x, y), "plain": _step(plain_host, x, y)},
            repeats=3 * _repeats(quick),
        )
        figures.append(
            Figure(
                name=f"{label}: one TRAINING seed ({blueprint}) vs host + same module called plainly"
                " (ratio of minimums)",
                value=ratio(timings, "incubator", "plain", stat="min"),
                unit="x",
                goal="<= 1.10",
                detail={
                    "median_ratio": ratio(timings, "incubator", "plain"),
                    "plain_min_s": timings["plain"].min_s,
                },
            )
        )
    return figures


@benchmark("fused_evaluation")
def fused_evaluation(quick: bool) -> list[Figure]:
    reg = _registries()
    host, catalog, _, _ = _cnn(reg)
    # The engine evaluates in batches of at least 256.
    x = torch.randn(256, 3, 32, 32).to(memory_format=torch.channels_last)
    model = MorphogeneticModel(host, catalog)
    for slot in ("r0c0", "r0c1", "r0c2"):
        model.germinate(slot, "conv_light")
        model.advance(slot)
    # Fully blended seeds (what the engine ablates); set directly, the lifecycle is not timed here.
    for _, module in model.seed_modules():
        module.stage = Stage.HOLDING
        module.set_alpha(1.0)
    # The usual counterfactual set: everything on, and each seed removed in turn.
    configs: list[dict[str, float]] = [{}, {"r0c0": 0.0}, {"r0c1": 0.0}, {"r0c2": 0.0}]
    model.eval()

    def fused() -> None:
        model.fused_forward(x, configs)

    def sequential() -> None:
        # One whole forward per configuration, each seed's alpha set to the configuration's.
        with torch.no_grad():
            for config in configs:
                for sid, module in model.seed_modules():
                    module.set_alpha(config.get(sid, 1.0))
                model(x)
            for _, module in model.seed_modules():
                module.set_alpha(1.0)

    timings = compare({"fused": fused, "sequential": sequential}, repeats=_repeats(quick))
    return [
        Figure(
            name="cnn: 4 alpha configurations, sequential / fused (speed-up)",
            value=ratio(timings, "sequential", "fused"),
            unit="x",
            goal=">= 1.5",
            detail={"fused_median_s": timings["fused"].median_s, "batch": int(x.shape[0])},
        )
    ]


def _must(ok: bool, stage: str) -> None:
    if not ok:
        raise RuntimeError(f"lifecycle benchmark: the gate into {stage} did not pass")


def _count_compiles(run: Callable[[], Any]) -> int:
    import torch._dynamo

    torch._dynamo.reset()
    from torch._dynamo.utils import counters

    counters.clear()
    run()
    return int(counters["stats"]["unique_graphs"])


@benchmark("compile_lifecycle")
def compile_lifecycle(quick: bool) -> list[Figure]:
    reg = _registries()
    host, catalog, x, y = _cnn(reg)
    x, y = x[:8], y[:8]
    model = MorphogeneticModel(host, catalog, slots=["r0c1"])
    compiled = torch.compile(model)
    epochs_per_stage = 3 if quick else 5
    slot = "r0c1"

    def lifecycle() -> None:
        def epoch() -> None:
            out = compiled(x)
            nn.functional.cross_entropy(out, y).backward()
            model.gradient_report()
            model.zero_grad(set_to_none=True)
            model.record_accuracy(50.0)

        epoch()  # dormant
        model.germinate(slot, "conv_light", tempo=epochs_per_stage)
        epoch()
        model.advance(slot)  # TRAINING
        state = model.records[slot].state
        if state is None:
            raise RuntimeError("germination failed in the benchmark")
        for _ in range(10):
            epoch()
        _must(model.advance(slot).passed, "BLENDING")  # alpha ramps over several epochs
        for _ in range(epochs_per_stage):
            model.step_epoch()
            epoch()
        _must(model.advance(slot).passed, "HOLDING")
        epoch()
        state.record_contribution(1.0)
        _must(model.fossilize(slot).passed, "FOSSILIZED")
        for _ in range(3):
            epoch()
        if state.stage is not Stage.FOSSILIZED:
            raise RuntimeError(f"lifecycle benchmark stalled in {state.stage.name}")

    graphs = _count_compiles(lifecycle)
    return [
        Figure(
            name="cnn: compiled graphs over dormant -> fossilized (alpha ramp included)",
            value=float(graphs),
            unit="graphs",
            # dormant, GERMINATED (the slot holds a module), TRAINING, BLENDING = HOLDING
            # (alpha is a buffer), FOSSILIZED (isolation off): one graph per configuration.
            goal="<= 5",
            detail={"blending_epochs": epochs_per_stage, "stages_visited": 5},
        )
    ]


@benchmark("compile_speed")
def compile_speed(quick: bool) -> list[Figure]:
    """Training step (forward + backward) of a CNN host with a TRAINING seed: eager vs ``--compile``."""
    import copy
    import time

    from esper.engine.compilation import mark_batch_dynamic

    reg = _registries()
    host, catalog, _, _ = _cnn(reg)
    eager = MorphogeneticModel(host, catalog, slots=["r0c1"])
    eager.germinate("r0c1", "conv_light")
    eager.advance("r0c1")  # TRAINING: the straight-through incubator
    compiled = copy.deepcopy(eager)
    torch._dynamo.reset()
    compiled.compile()  # inductor, as `--compile` does
    x = torch.randn(128, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (128,))

    def step(model: MorphogeneticModel) -> Callable[[], None]:
        def run() -> None:
            mark_batch_dynamic(x)
            nn.functional.cross_entropy(model(x), y).backward()
            model.zero_grad(set_to_none=True)

        return run

    start = time.perf_counter()
    step(compiled)()  # compiles forward and backward
    compile_s = time.perf_counter() - start
    timings = compare(
        {"eager": step(eager), "compiled": step(compiled)}, repeats=_repeats(quick) // 2 or 3
    )
    return [
        Figure(
            name="cnn + TRAINING seed: train step eager / compiled (speed-up)",
            value=ratio(timings, "eager", "compiled"),
            unit="x",
            detail={
                "compile_s": round(compile_s, 2),
                "compiled_median_s": timings["compiled"].median_s,
                "batch": int(x.shape[0]),
            },
        )
    ]
