"""The default governor (``esper.governors.default``): detection, snapshot, rollback, events."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from esper.contracts.governor import Governor
from esper.contracts.task import TaskInfo
from esper.growth.catalog import BlueprintCatalog
from esper.growth.model import MorphogeneticModel
from esper.lifecycle import Stage
from esper.registry import Registries
from esper.telemetry import Event, event_from_dict, event_to_dict
from esper_plugins.blueprints.transformer.config import TransformerHostConfig
from esper_plugins.governors.config import DefaultGovernorConfig
from esper_plugins.governors.default import (
    DefaultGovernor,
    SnapshotMismatchError,
    build_default_governor,
)
from esper_plugins.governors.events import GovernorPanic, GovernorRollback

PLUGIN = "esper.governors.default"


def classification(classes: int) -> TaskInfo:
    return TaskInfo(kind="classification", topology="cnn", num_outputs=classes)


def language_model(vocab: int) -> TaskInfo:
    return TaskInfo(kind="language_model", topology="transformer", num_outputs=vocab)


def governor(task: TaskInfo, **options: float) -> tuple[DefaultGovernor, list[Event]]:
    events: list[Event] = []
    return DefaultGovernor(DefaultGovernorConfig(**options), task=task, emit=events.append), events


def feed(gov: DefaultGovernor, losses: list[float], start: int = 0) -> list[bool]:
    return [gov.check(x, epoch=start + i).panic for i, x in enumerate(losses)]


# -- registration and config ----------------------------------------------------------------


def test_registered_and_built_through_the_registry(registries: Registries) -> None:
    entry = registries["governors"].get("default")
    assert entry.id == f"{PLUGIN}:default"
    assert entry.spec.load_config_cls() is DefaultGovernorConfig
    events: list[Event] = []
    gov = entry.build(DefaultGovernorConfig(), task=classification(10), emit=events.append)
    assert isinstance(gov, DefaultGovernor)
    assert isinstance(gov, Governor)
    assert gov.emit == events.append
    assert build_default_governor(None, task=classification(10)).config == DefaultGovernorConfig()


def test_hook_module_does_not_import_torch() -> None:
    code = "import sys, esper_plugins.governors\nprint('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_config_defaults_are_the_reference_thresholds() -> None:
    cfg = DefaultGovernorConfig()
    assert (cfg.sensitivity, cfg.multiplier, cfg.absolute_floor) == (6.0, 3.0, 12.0)
    assert (cfg.history_window, cfg.min_samples, cfg.min_panics) == (20, 10, 3)
    assert (cfg.lobotomy_mean_fraction, cfg.lobotomy_tolerance) == (0.6, 0.065)
    assert cfg.death_penalty == 10.0


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"sensitivity": 0.0}, ValueError),
        ({"sensitivity": math.nan}, ValueError),
        ({"absolute_floor": -1.0}, ValueError),
        ({"multiplier": 0.5}, ValueError),
        ({"history_window": 1}, ValueError),
        ({"min_samples": 21}, ValueError),  # more than the window holds
        ({"min_panics": 0}, ValueError),
        ({"lobotomy_mean_fraction": 1.0}, ValueError),
        ({"lobotomy_tolerance": 0.4}, ValueError),  # band reaches 0.6 * L_rand
        ({"min_samples": 2.5}, TypeError),
        ({"min_panics": True}, TypeError),
        ({"death_penalty": "10"}, TypeError),
    ],
)
def test_config_rejects_bad_values(options: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        DefaultGovernorConfig(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        (classification(10), 12.0),
        (classification(12), 12.0),
        (language_model(1000), 12.0),  # 1.5 * ln 1000 = 10.36 < 12
        (language_model(50257), 1.5 * math.log(50257)),  # 16.23: GPT-2 vocabulary
    ],
)
def test_absolute_threshold_scales_with_the_random_guess_loss(
    task: TaskInfo, expected: float
) -> None:
    gov, _ = governor(task)
    assert gov.random_guess_loss == pytest.approx(math.log(task.num_outputs))
    assert gov.absolute_threshold == pytest.approx(expected)


# -- detection ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_loss_panics_at_once(bad: float) -> None:
    gov, events = governor(classification(10))
    verdict = gov.check(bad, epoch=0)  # even with an empty history
    assert verdict.panic
    assert verdict.reason == "governor_nan"
    assert len(events) == 1
    assert isinstance(events[0], GovernorPanic)
    assert events[0].reason == "governor_nan"
    assert events[0].epoch == 0
    assert math.isnan(events[0].val_loss) if math.isnan(bad) else events[0].val_loss == bad
    assert len(gov.history) == 0


def test_warm_up_appends_without_judging() -> None:
    gov, events = governor(classification(10))
    assert feed(gov, [100.0] * 9 + [1.0]) == [False] * 10
    assert list(gov.history) == [100.0] * 9 + [1.0]
    assert events == []


@pytest.mark.parametrize(
    ("task", "healthy", "collapsed", "near_miss"),
    [
        # L_rand = ln 12 = 2.485: band +-0.162, healthy means below 1.491
        (classification(12), 1.0, 2.45, 2.30),
        # L_rand = ln 1000 = 6.908: band +-0.449, healthy means below 4.145
        (language_model(1000), 3.0, 7.2, 6.40),
    ],
)
def test_lobotomy_uses_the_tasks_random_guess_loss(
    task: TaskInfo, healthy: float, collapsed: float, near_miss: float
) -> None:
    gov, events = governor(task)
    feed(gov, [healthy] * 10)
    assert not gov.check(near_miss, epoch=10).panic  # outside the band: an ordinary bad epoch
    verdict = gov.check(collapsed, epoch=11)
    assert verdict.panic
    assert verdict.reason == "governor_lobotomy"
    assert [(e.reason, e.epoch, e.val_loss) for e in events] == [
        ("governor_lobotomy", 11, collapsed)
    ]


def test_lobotomy_needs_min_samples_and_a_learned_history() -> None:
    l_rand = math.log(12)
    gov, _ = governor(classification(12))
    feed(gov, [1.0] * 9)
    assert not gov.check(l_rand, epoch=9).panic  # 9 samples: still warming up
    high, _ = governor(classification(12))
    feed(high, [1.6] * 10)  # mean 1.6 > 0.6 * 2.485: the model never learned much
    assert not high.check(l_rand, epoch=10).panic


def test_lobotomy_level_is_not_a_constant() -> None:
    # ln 12 is a collapse for a 12-class task but a fine loss for a vocabulary of 1000.
    small, _ = governor(classification(12))
    large, _ = governor(language_model(1000))
    feed(small, [1.0] * 10)
    feed(large, [1.0] * 10)
    assert small.check(math.log(12), epoch=10).reason == "governor_lobotomy"
    assert not large.check(math.log(12), epoch=10).panic


def test_divergence_after_consecutive_anomalies_and_the_reset() -> None:
    gov, events = governor(classification(10))
    history = [1.0, 1.2] * 5  # mean 1.1, std 0.105
    feed(gov, history)
    assert feed(gov, [13.0, 13.0], start=10) == [False, False]
    assert gov.consecutive_anomalies == 2
    assert list(gov.history) == history  # anomalies stay out of the statistics
    assert not gov.check(1.1, epoch=12).panic  # a normal loss resets the count ...
    assert gov.consecutive_anomalies == 0
    assert list(gov.history) == [*history, 1.1]  # ... and joins the history
    assert feed(gov, [13.0, 13.0], start=13) == [False, False]
    verdict = gov.check(13.0, epoch=15)
    assert verdict.panic
    assert verdict.reason == "governor_divergence"
    assert [(e.reason, e.epoch) for e in events] == [("governor_divergence", 15)]


@pytest.mark.parametrize(
    ("history", "loss", "failing"),
    [
        ([1.0, 1.2] * 5, 11.9, "absolute"),  # 11.9 < 12
        ([1.0, 5.0] * 5, 14.0, "sigma"),  # mean 3, std 2.11: 14 < 3 + 6 * 2.11 = 15.65
        ([4.9, 5.1] * 5, 14.0, "multiplier"),  # 14 < 3 * 5 = 15
    ],
)
def test_divergence_needs_all_three_conditions(
    history: list[float], loss: float, failing: str
) -> None:
    gov, events = governor(classification(10))
    feed(gov, history)
    assert feed(gov, [loss] * 6, start=10) == [False] * 6, failing
    assert gov.consecutive_anomalies == 0
    assert events == []
    # The same history with a loss that clears all three is an anomaly.
    fresh, _ = governor(classification(10))
    feed(fresh, history)
    assert not fresh.check(100.0, epoch=10).panic
    assert fresh.consecutive_anomalies == 1


def test_absolute_level_follows_the_task_for_large_vocabularies() -> None:
    history = [2.9, 3.1] * 5
    scaled, _ = governor(language_model(50257))  # level 16.2
    feed(scaled, history)
    assert feed(scaled, [15.0] * 4, start=10) == [False] * 4
    fixed, _ = governor(language_model(50257), absolute_factor=0.0)  # the reference's 12.0
    feed(fixed, history)
    assert feed(fixed, [15.0] * 3, start=10) == [False, False, True]


def test_a_noisy_run_with_spikes_survives() -> None:
    gen = torch.Generator().manual_seed(3)
    noise = (torch.rand(40, generator=gen) * 0.2 - 0.1).tolist()
    losses = [2.3 * 0.97**i + n for i, n in enumerate(noise)]
    losses[15] = 14.0  # a lone spike
    losses[25] = losses[26] = 20.0  # two in a row, still short of three
    losses[33] = 50.0
    gov, events = governor(classification(10))
    assert feed(gov, losses) == [False] * 40
    assert events == []
    assert max(gov.history) < 3.0  # no spike entered the statistics
    assert gov.consecutive_anomalies == 0


def test_detector_state_round_trips() -> None:
    losses = [1.0, 1.2] * 6 + [13.0, 13.0]
    a, _ = governor(classification(10))
    feed(a, losses)
    b, _ = governor(classification(10))
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    assert list(b.history) == list(a.history)
    assert b.consecutive_anomalies == 2
    assert b.check(13.0, epoch=14).reason == a.check(13.0, epoch=14).reason == "governor_divergence"


# -- snapshot and rollback ---------------------------------------------------------------------


def healthy(model: MorphogeneticModel, slot: str) -> None:
    """Feed the measurements the default G2 gate needs."""
    state = model.records[slot].state
    assert state is not None
    for _ in range(10):
        state.record_accuracy(50.0)
    state.record_gradient_health(0.9, has_vanishing=False, has_exploding=False, norm=1.0)


def fossilize(model: MorphogeneticModel, slot: str, blueprint: str = "conv_light") -> None:
    model.germinate(slot, blueprint, tempo=2)
    assert model.advance(slot).passed  # TRAINING
    healthy(model, slot)
    assert model.advance(slot).passed  # BLENDING
    for _ in range(2):
        model.step_epoch()
    assert model.advance(slot).passed  # HOLDING
    state = model.records[slot].state
    assert state is not None
    state.record_contribution(2.0)
    assert model.fossilize(slot).passed


def train(model: MorphogeneticModel, steps: int = 2, lr: float = 0.5) -> None:
    """Plain SGD steps (by hand: torch.optim's first step imports torch._dynamo, ~2 s)."""
    gen = torch.Generator().manual_seed(1)
    model.train()
    for _ in range(steps):
        x = torch.randn(4, 3, 8, 8, generator=gen)
        y = torch.randint(0, 5, (4,), generator=gen)
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        with torch.no_grad():
            for p in model.parameters():
                if p.grad is not None:
                    p.add_(p.grad, alpha=-lr)


def snapshot_of(
    model: MorphogeneticModel, skip_slots: tuple[str, ...] = ()
) -> dict[str, torch.Tensor]:
    prefixes = tuple(f"host.slots.{s}." for s in skip_slots)
    return {k: v.clone() for k, v in model.state_dict().items() if not k.startswith(prefixes)}


@pytest.fixture
def cnn_model(registries: Registries) -> MorphogeneticModel:
    torch.manual_seed(0)
    host = registries["hosts"].get("cnn").build(None, num_classes=5)
    return MorphogeneticModel(host, BlueprintCatalog(registries["blueprints"], "cnn"))


def test_rollback_restores_host_and_fossils_bit_identically_and_prunes_live_seeds(
    cnn_model: MorphogeneticModel,
) -> None:
    model = cnn_model
    fossilize(model, "r0c1")
    model.germinate("r1c0", "conv_light")
    assert model.advance("r1c0").passed  # TRAINING, alpha 0
    host_params = [id(p) for p in model.host_parameters()]
    fossil_params = [id(p) for p in model.host.slots["r0c1"].parameters()]
    gov, events = governor(classification(5))
    gov.snapshot(model)
    expected = snapshot_of(model, skip_slots=("r1c0",))
    x = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    model.eval()
    with torch.no_grad():
        out_at_snapshot = model(x)

    model.germinate("r0c2", "conv_small")  # a seed born after the snapshot
    train(model)
    current = model.state_dict()
    changed = [k for k, v in expected.items() if not torch.equal(v, current[k])]
    assert "host.blocks.0.conv.weight" in changed
    assert "host.blocks.0.bn.running_mean" in changed
    assert any(k.startswith("host.slots.r0c1.") for k in changed)  # the fossil trained too

    assert gov.check(math.nan, epoch=7).panic
    gov.rollback(model, reason="governor_nan", epoch=7)

    restored = model.state_dict()
    assert set(restored) == set(expected)  # the live seeds' tensors are gone
    for key, value in expected.items():
        assert torch.equal(restored[key], value), key
        assert restored[key].dtype == value.dtype
    fossil = model.records["r0c1"].state
    assert fossil is not None
    assert fossil.stage is Stage.FOSSILIZED
    for slot in ("r1c0", "r0c2"):
        state = model.records[slot].state
        assert state is not None
        assert state.stage is Stage.PRUNED
        assert (state.prune_reason, state.prune_initiator) == ("governor_nan", "governor")
        assert slot not in model.host.slots
    # In-place restore: the same Parameter objects, so optimizers stay bound to the model.
    assert [id(p) for p in model.host_parameters()] == host_params
    assert [id(p) for p in model.host.slots["r0c1"].parameters()] == fossil_params
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), out_at_snapshot)

    rollback = events[-1]
    assert isinstance(rollback, GovernorRollback)
    assert [type(e) for e in events] == [GovernorPanic, GovernorRollback]
    assert rollback.reason == "governor_nan"
    assert rollback.epoch == 7
    assert rollback.val_loss is not None
    assert math.isnan(rollback.val_loss)
    assert rollback.seeds_pruned == ["r0c2", "r1c0"]  # action order: r0* before r1*
    assert rollback.seeds_unrestored == []
    assert gov.consecutive_anomalies == 0


def test_rollback_resets_the_panic_state(cnn_model: MorphogeneticModel) -> None:
    gov, events = governor(classification(5))
    gov.snapshot(cnn_model)
    feed(gov, [1.0, 1.2] * 5)
    assert feed(gov, [13.0] * 3, start=10) == [False, False, True]
    gov.rollback(cnn_model, reason="governor_divergence", epoch=12)
    assert gov.consecutive_anomalies == 0
    assert events[-1].val_loss == 13.0  # type: ignore[attr-defined]
    assert feed(gov, [13.0] * 2, start=13) == [False, False]  # counting starts over
    gov.rollback(cnn_model, reason="governor_rollback", epoch=15)  # no panic pending
    assert events[-1].val_loss is None  # type: ignore[attr-defined]


def test_snapshot_reuses_its_buffers(cnn_model: MorphogeneticModel) -> None:
    # Review T3-7: the old snapshot ran .detach().cpu().clone() and allocated new tensors each
    # time; esper copies into persistent buffers, so their storage never moves.
    model = cnn_model
    gov, _ = governor(classification(5))
    gov.snapshot(model)
    first = {k: t.data_ptr() for k, t in gov.snapshot_buffers().items()}
    assert set(first) == set(model.state_dict())
    with torch.no_grad():
        model.host.head.weight.add_(1.0)
    gov.snapshot(model)
    second = gov.snapshot_buffers()
    assert {k: t.data_ptr() for k, t in second.items()} == first
    assert torch.equal(second["host.head.weight"], model.host.head.weight)  # refreshed in place
    fossilize(model, "r0c0")  # new keys: only they get new buffers
    gov.snapshot(model)
    third = gov.snapshot_buffers()
    assert {k: third[k].data_ptr() for k in first} == first
    fossil_keys = [k for k in third if k.startswith("host.slots.r0c0.")]
    assert fossil_keys
    assert gov.snapshot_nbytes == sum(
        t.numel() * t.element_size() for t in model.state_dict().values()
    )
    # Channels-last conv weights keep their layout in the buffer.
    assert third["host.blocks.1.conv.weight"].stride() == model.host.blocks[1].conv.weight.stride()


def test_snapshot_excludes_seeds_that_can_still_be_pruned(cnn_model: MorphogeneticModel) -> None:
    model = cnn_model
    model.germinate("r0c0", "conv_light")
    gov, _ = governor(classification(5))
    gov.snapshot(model)
    assert not any(".slots." in k for k in gov.snapshot_buffers())
    assert len(gov.snapshot_buffers()) == len(model.host.state_dict()) - len(
        model.host.slots["r0c0"].state_dict()
    )


def test_seed_fossilized_after_the_snapshot_is_kept(cnn_model: MorphogeneticModel) -> None:
    model = cnn_model
    gov, events = governor(classification(5))
    gov.snapshot(model)
    fossilize(model, "r1c1")
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.25)
    weights = snapshot_of(model)
    gov.rollback(model, reason="governor_divergence", epoch=3)
    state = model.records["r1c1"].state
    assert state is not None
    assert state.stage is Stage.FOSSILIZED
    now = model.state_dict()
    seed_keys = [k for k in weights if k.startswith("host.slots.r1c1.")]
    assert seed_keys
    assert all(torch.equal(now[k], weights[k]) for k in seed_keys)  # as at rollback time
    assert not torch.equal(now["host.head.weight"], weights["host.head.weight"])  # restored
    assert events[-1].seeds_unrestored == ["r1c1"]  # type: ignore[attr-defined]
    assert events[-1].seeds_pruned == []  # type: ignore[attr-defined]


def test_rollback_refuses_without_a_snapshot_or_on_a_changed_host(
    cnn_model: MorphogeneticModel,
) -> None:
    model = cnn_model
    gov, _ = governor(classification(5))
    with pytest.raises(RuntimeError, match="before any snapshot"):
        gov.rollback(model, reason="governor_nan", epoch=0)
    model.germinate("r0c0", "conv_light")
    gov.snapshot(model)
    model.host.register_buffer("extra", torch.zeros(3))
    with pytest.raises(
        SnapshotMismatchError, match=r"host tensors not in the snapshot: host\.extra"
    ):
        gov.rollback(model, reason="governor_nan", epoch=1)
    state = model.records["r0c0"].state
    assert state is not None
    assert state.stage is Stage.GERMINATED  # nothing was touched


def test_transformer_rollback_keeps_tied_weights(registries: Registries) -> None:
    torch.manual_seed(0)
    config = TransformerHostConfig(n_embd=16, n_head=2, n_layer=2, block_size=8, num_segments=2)
    host = registries["hosts"].get("transformer").build(config, vocab_size=50)
    model = MorphogeneticModel(host, BlueprintCatalog(registries["blueprints"], "transformer"))
    tied = {id(p) for p in model.parameters()}
    gov, _ = governor(language_model(50))
    gov.snapshot(model)
    expected = snapshot_of(model)
    assert len(gov.snapshot_buffers()) < len(expected)  # the tied embedding is copied once
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.5)
    gov.rollback(model, reason="governor_divergence", epoch=1)
    now = model.state_dict()
    assert all(torch.equal(now[k], v) for k, v in expected.items())
    assert {id(p) for p in model.parameters()} == tied


def test_events_round_trip_through_json() -> None:
    for event in (
        GovernorPanic(reason="governor_nan", val_loss=math.nan, epoch=4),
        GovernorRollback(reason="governor_nan", val_loss=math.inf, epoch=4, seeds_pruned=["r0c0"]),
    ):
        line = json.dumps(event_to_dict(event), allow_nan=True)
        back = event_from_dict(json.loads(line))
        assert type(back) is type(event)
        assert back.type in {"governor.panic", "governor.rollback"}
        assert event_to_dict(back).keys() == event_to_dict(event).keys()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_snapshot_is_pinned_and_rollback_is_exact(cnn_model: MorphogeneticModel) -> None:
    model = cnn_model.cuda()
    fossilize(model, "r0c1")
    gov, _ = governor(classification(5))
    gov.snapshot(model)
    assert all(t.is_pinned() for t in gov.snapshot_buffers().values())
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()
    gov.rollback(model, reason="governor_nan", epoch=0)
    now = model.state_dict()
    assert all(torch.equal(now[k], v) for k, v in expected.items())
