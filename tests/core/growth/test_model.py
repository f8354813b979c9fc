"""MorphogeneticModel: lifecycle operations, fused evaluation, accounting, optimizers, persistence."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from esper.errors import EsperError
from esper.growth.model import MorphogeneticModel
from esper.lifecycle import GateConfig, LifecycleError, QualityGates, Stage

from support.tiny import TinyCNN, TinySeq, catalog

X = torch.randn(6, 3, 8, 8, generator=torch.Generator().manual_seed(0))
Y = torch.tensor([0, 1, 2, 3, 4, 0])


def cnn_model(**kwargs) -> MorphogeneticModel:
    torch.manual_seed(0)
    return MorphogeneticModel(TinyCNN(), catalog("cnn"), **kwargs)


def healthy(model: MorphogeneticModel, slot: str, epochs: int = 10, acc: float = 50.0) -> None:
    """Feed the measurements the permissive G2 gate needs."""
    state = model.records[slot].state
    assert state is not None
    for _ in range(epochs):
        state.record_accuracy(acc)
    state.record_gradient_health(0.9, has_vanishing=False, has_exploding=False, norm=1.0)


def grow_to_blending(model: MorphogeneticModel, slot: str = "r0c0", tempo: int = 3) -> None:
    model.germinate(slot, "conv", tempo=tempo)
    assert model.advance(slot).passed  # -> TRAINING
    healthy(model, slot)
    assert model.advance(slot).passed  # -> BLENDING


def test_dormant_model_is_the_host() -> None:
    model = cnn_model()
    assert torch.equal(model(X), model.host(X))
    assert len(model.host.slots) == 0
    assert sum(1 for _ in model.parameters()) == sum(1 for _ in model.host.parameters())


def test_unknown_slot_and_bad_blueprint_shapes_raise() -> None:
    with pytest.raises(EsperError, match=r"no slot\(s\) \['r9c9'\]"):
        MorphogeneticModel(TinyCNN(), catalog("cnn"), slots=["r9c9"])
    model = cnn_model()
    with pytest.raises(EsperError, match="changed the feature shape"):
        model.germinate("r0c0", "bad")
    assert model.records["r0c0"].free


def test_full_lifecycle_to_fossilized() -> None:
    events = []
    model = cnn_model(emit=events.append)
    grow_to_blending(model, tempo=3)
    alphas = []
    for _ in range(3):
        model.step_epoch()
        alphas.append(float(model.records["r0c0"].module.alpha))
    assert alphas[-1] == 1.0
    assert alphas == sorted(alphas)
    assert model.advance("r0c0").passed  # G3 -> HOLDING
    model.records["r0c0"].state.record_contribution(2.0)
    assert model.fossilize("r0c0").passed
    counts = model.parameter_counts()
    assert counts.fossilized == sum(p.numel() for p in model.records["r0c0"].module.parameters())
    assert counts.active_seeds == 0
    stages = [e.to_stage for e in events if e.type == "seed.stage_changed"]
    assert stages == ["GERMINATED", "TRAINING", "BLENDING", "HOLDING", "FOSSILIZED"]
    with pytest.raises(LifecycleError):
        model.prune("r0c0", "too late")


def test_install_makes_a_seed_part_of_the_architecture_that_trains_with_the_host() -> None:
    model = cnn_model()
    state = model.install("r0c0", "conv")
    record = model.records["r0c0"]
    assert state.stage is Stage.FOSSILIZED
    assert state.alpha == 1.0
    assert float(record.module.alpha) == 1.0
    assert not record.module.isolate
    seed_params = list(record.module.parameters())
    assert model.parameter_counts().fossilized == sum(p.numel() for p in seed_params)
    # Fully in the output (not the host's output), and trained by the loss like the host.
    host_only = cnn_model()
    assert not torch.equal(model(X), host_only(X))
    nn.functional.cross_entropy(model(X), Y).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in seed_params)
    with pytest.raises(LifecycleError, match="not free"):
        model.install("r0c0", "conv")


def test_g2_refuses_unmeasured_gradient_health() -> None:
    model = cnn_model()
    model.germinate("r0c0", "conv")
    model.advance("r0c0")
    for _ in range(12):
        model.record_accuracy(50.0)
    result = model.advance("r0c0")
    assert not result.passed
    assert model.records["r0c0"].state.stage is Stage.TRAINING


def test_prune_frees_module_and_cooldown_returns_slot() -> None:
    model = cnn_model()
    opt = torch.optim.Adam(model.host_parameters(), lr=1e-3)
    model.bind_optimizer(opt, lr=5e-3)
    model.germinate("r0c0", "conv")
    assert len(opt.param_groups) == 2
    assert opt.param_groups[1]["lr"] == 5e-3
    model.advance("r0c0")
    nn.functional.cross_entropy(model(X), Y).backward()
    opt.step()
    seed_params = list(model.records["r0c0"].module.parameters())
    assert all(p in opt.state for p in seed_params)
    model.prune("r0c0", "test")
    assert "r0c0" not in model.host.slots
    assert len(opt.param_groups) == 1
    assert not any(p in opt.state for p in seed_params)
    ticks = 0
    while not model.records["r0c0"].free:
        model.step_epoch()
        ticks += 1
    assert ticks == 1 + 5 + 1  # PRUNED->EMBARGOED, 5 embargo ticks, 1 reset tick
    model.germinate("r0c0", "conv")  # free again


def test_scheduled_prune_blends_out_then_prunes() -> None:
    model = cnn_model()
    grow_to_blending(model, tempo=2)
    model.step_epoch()
    model.step_epoch()
    model.schedule_prune("r0c0", steps=2)
    module = model.records["r0c0"].module
    assert not any(p.requires_grad for p in module.parameters())  # frozen while blending out
    model.step_epoch()
    assert model.records["r0c0"].state.stage is Stage.BLENDING
    assert 0.0 < float(module.alpha) < 1.0
    model.step_epoch()
    assert model.records["r0c0"].state.stage is Stage.PRUNED
    assert model.records["r0c0"].module is None


def test_set_alpha_target_from_holding_reenters_blending() -> None:
    model = cnn_model()
    grow_to_blending(model, tempo=1)
    model.step_epoch()
    model.advance("r0c0")
    model.set_alpha_target("r0c0", 0.5, steps=2)
    assert model.records["r0c0"].state.stage is Stage.BLENDING
    model.step_epoch()
    model.step_epoch()
    assert float(model.records["r0c0"].module.alpha) == 0.5
    with pytest.raises(LifecycleError, match=r"\(0, 1\]"):
        model.set_alpha_target("r0c0", 0.0, steps=1)


def test_fused_forward_equals_sequential_and_leaves_batchnorm_alone() -> None:
    model = cnn_model()
    grow_to_blending(model, "r0c0", tempo=2)
    model.step_epoch()
    model.germinate("r0c1", "conv")
    model.advance("r0c1")
    model.train()
    bn = model.host.stem[1]
    before = (bn.running_mean.clone(), bn.running_var.clone(), int(bn.num_batches_tracked))
    configs = [{}, {"r0c0": 0.0}, {"r0c1": 0.0}, {"r0c0": 0.0, "r0c1": 1.0}]
    fused = model.fused_forward(X, configs)
    assert fused.shape == (4, 6, 5)
    assert model.training
    assert torch.equal(bn.running_mean, before[0])
    assert torch.equal(bn.running_var, before[1])
    assert int(bn.num_batches_tracked) == before[2]
    model.eval()
    blending = model.records["r0c0"].module
    assert blending is not None
    current = float(blending.alpha)
    for i, config in enumerate(configs):
        # r0c1 is in TRAINING: never blended, whatever a config says about its slot.
        with torch.no_grad():
            blending.set_alpha(config.get("r0c0", current))
            expected = model(X)
            blending.set_alpha(current)
        torch.testing.assert_close(fused[i], expected, rtol=1e-5, atol=1e-6)
    assert torch.equal(fused[3], fused[1])
    # With every alpha at its current value, config 0 is the plain eval output.
    with torch.no_grad():
        torch.testing.assert_close(fused[0], model(X), rtol=1e-5, atol=1e-6)
    with pytest.raises(LifecycleError, match="unknown slot"):
        model.fused_forward(X, [{"r5c5": 1.0}])


def test_tied_weights_count_once() -> None:
    model = MorphogeneticModel(TinySeq(), catalog("transformer"))
    counts = model.parameter_counts()
    unique = {id(p): p.numel() for p in model.host.parameters()}
    assert counts.host == sum(unique.values())
    model.germinate("r0c0", "lin")
    assert model.parameter_counts().active_seeds == 8 * 8 + 8
    assert model.parameter_counts().growth_ratio == pytest.approx((counts.host + 72) / counts.host)


def test_transformer_seeds_co_adapt_while_blending() -> None:
    model = MorphogeneticModel(TinySeq(), catalog("transformer"))
    model.germinate("r0c0", "lin")
    model.advance("r0c0")
    assert model.records["r0c0"].module.isolate
    healthy(model, "r0c0")
    model.advance("r0c0")
    assert not model.records["r0c0"].module.isolate
    cnn = cnn_model()
    grow_to_blending(cnn)
    assert cnn.records["r0c0"].module.isolate


def test_gradient_report_records_into_seeds() -> None:
    model = cnn_model()
    model.germinate("r0c0", "conv")
    model.advance("r0c0")
    nn.functional.cross_entropy(model(X), Y).backward()
    report = model.gradient_report()
    state = model.records["r0c0"].state
    assert report.host is not None
    assert state.gradient_health == report.seeds["r0c0"].health
    assert state.gradient_ratio is not None


def test_grown_model_round_trips_exactly(tmp_path) -> None:
    model = cnn_model()
    grow_to_blending(model, "r0c0", tempo=4)
    model.step_epoch()
    model.germinate("r0c1", "conv", algorithm="gate")
    model.advance("r0c1")
    model.eval()
    buffer = io.BytesIO()
    torch.save(model.grown_state(), buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    clone = MorphogeneticModel(TinyCNN(), catalog("cnn"))
    clone.load_grown_state(loaded)
    clone.eval()
    assert torch.equal(clone(X), model(X))
    assert clone.records["r0c0"].state == model.records["r0c0"].state
    # Both continue identically.
    model.step_epoch()
    clone.step_epoch()
    assert torch.equal(clone(X), model(X))
    with pytest.raises(EsperError, match="schema"):
        clone.load_grown_state({**loaded, "schema": 99})


def test_strict_gates_configurable() -> None:
    model = cnn_model(gates=QualityGates(GateConfig(strict=True)))
    model.germinate("r0c0", "conv")
    model.advance("r0c0")
    healthy(model, "r0c0")
    assert not model.advance("r0c0").passed  # strict G2 needs improvement and a gradient ratio


def test_fused_forward_with_identical_configs_and_on_sequences() -> None:
    model = cnn_model()
    model.germinate("r0c1", "conv")
    model.advance("r0c1")
    model.eval()
    fused = model.fused_forward(X, [{}, {}, {}])
    with torch.no_grad():
        plain = model(X)
    for i in range(3):
        assert torch.equal(fused[i], plain)
    seq = MorphogeneticModel(TinySeq(), catalog("transformer"))
    seq.germinate("r0c0", "lin")
    seq.advance("r0c0")
    tokens = torch.randint(0, 11, (3, 5))
    out = seq.fused_forward(tokens, [{"r0c0": 0.0}, {"r0c0": 1.0}])
    seq.eval()
    with torch.no_grad():
        module = seq.records["r0c0"].module
        module.alpha_override = torch.ones(3, 1, 1)
        full = seq(tokens)
        module.alpha_override = None
        host_only = seq(tokens)  # TRAINING incubator: exactly the host
    torch.testing.assert_close(out[0], host_only)
    torch.testing.assert_close(out[1], full)


def test_a_blueprint_from_a_third_party_plugin_grows_in_a_slot(
    esper_manager, register_plugin
) -> None:
    from esper.growth.catalog import BlueprintCatalog
    from esper.plugin import BlueprintSpec, hookimpl
    from esper.registry import Registries

    class ThirdParty:
        @hookimpl
        def esper_blueprints(self):
            yield BlueprintSpec(name="tiny_conv", topology="cnn", factory="support.tiny:conv_seed")

    register_plugin(ThirdParty(), name="thirdparty")
    catalog = BlueprintCatalog(Registries(esper_manager)["blueprints"], "cnn")
    assert "thirdparty:tiny_conv" in catalog.ids  # a valid action for any controller
    model = MorphogeneticModel(TinyCNN(), catalog)
    model.germinate("r0c1", "tiny_conv")
    model.advance("r0c1")
    nn.functional.cross_entropy(model(X), Y).backward()
    seed = model.records["r0c1"].module.seed
    assert seed.conv.weight.grad is not None
    assert seed.conv.weight.grad.abs().sum() > 0
    assert model.records["r0c1"].state.blueprint_id == "thirdparty:tiny_conv"


def test_seed_groups_keep_slot_order_so_optimizer_state_reloads() -> None:
    model = cnn_model()
    opt = torch.optim.SGD(model.host_parameters(), lr=0.1, momentum=0.9)
    model.bind_optimizer(opt)
    model.germinate("r0c1", "conv")  # germinated out of slot order
    model.germinate("r0c0", "conv")
    assert [g.get("esper_slot") for g in opt.param_groups] == [None, "r0c0", "r0c1"]
    for sid in ("r0c0", "r0c1"):
        model.advance(sid)
    nn.functional.cross_entropy(model(X), Y).backward()
    opt.step()
    clone = MorphogeneticModel(TinyCNN(), catalog("cnn"))
    clone_opt = torch.optim.SGD(clone.host_parameters(), lr=0.1, momentum=0.9)
    clone.bind_optimizer(clone_opt)
    clone.load_grown_state(model.grown_state())
    clone_opt.load_state_dict(opt.state_dict())
    clone_params = dict(clone.named_parameters())
    for name, p in model.named_parameters():
        q = clone_params[name]
        assert torch.equal(
            opt.state[p]["momentum_buffer"], clone_opt.state[q]["momentum_buffer"]
        ), name
