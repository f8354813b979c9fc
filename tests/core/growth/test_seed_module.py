"""SeedModule forward semantics: incubator, isolation, blending, dtype; and gradient health."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from esper.growth.gradient_health import measure
from esper.growth.seed_module import GatedBlend, SeedModule
from esper.lifecycle import Stage
from esper.lifecycle.alpha import AlphaAlgorithm

from support.tiny import SlotNet


class Residual(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x)


def _grads(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    net.zero_grad()
    nn.functional.cross_entropy(net(x), y).backward()
    return {
        n: p.grad.clone()
        for n, p in net.named_parameters()
        if p.grad is not None and not n.startswith("slot")
    }


def _seed_module(
    stage: Stage, algorithm: AlphaAlgorithm = AlphaAlgorithm.ADD, alpha: float = 0.0
) -> SeedModule:
    torch.manual_seed(1)
    module = SeedModule(Residual(4), channels=4, algorithm=algorithm)
    module.stage = stage
    module.set_alpha(alpha)
    return module


X = torch.randn(6, 3, 8, 8, generator=torch.Generator().manual_seed(2))
Y = torch.tensor([0, 1, 2, 3, 4, 0])


def test_training_incubator_keeps_output_and_host_gradients_bit_identical() -> None:
    plain = SlotNet()
    seeded = SlotNet(_seed_module(Stage.TRAINING))
    assert torch.equal(plain(X), seeded(X))
    plain_grads = _grads(plain, X, Y)
    seeded_grads = _grads(seeded, X, Y)
    assert plain_grads.keys() == seeded_grads.keys()
    for name in plain_grads:
        assert torch.equal(plain_grads[name], seeded_grads[name]), name
    seed_grad = seeded.slot.seed.conv.weight.grad
    assert seed_grad is not None
    assert seed_grad.abs().sum() > 0  # the seed still learns from the host's loss


def test_without_isolation_the_host_sees_the_seed_path() -> None:
    module = _seed_module(Stage.TRAINING)
    module.isolate = False
    plain_grads = _grads(SlotNet(), X, Y)
    seeded_grads = _grads(SlotNet(module), X, Y)
    assert not torch.equal(plain_grads["a.weight"], seeded_grads["a.weight"])


@pytest.mark.parametrize(
    "stage", [Stage.GERMINATED, Stage.PRUNED, Stage.EMBARGOED, Stage.RESETTING, Stage.DORMANT]
)
def test_inactive_stages_do_not_run_the_seed(stage: Stage) -> None:
    module = _seed_module(stage, alpha=1.0)
    calls: list[int] = []
    module.seed.register_forward_hook(lambda *_: calls.append(1))
    h = torch.randn(2, 4, 3, 3)
    assert module(h) is h
    assert calls == []


def test_add_blend_is_lerp() -> None:
    module = _seed_module(Stage.BLENDING, alpha=0.3)
    h = torch.randn(2, 4, 5, 5)
    s = module.seed(h)
    assert torch.allclose(module(h), h + 0.3 * (s - h), atol=1e-6)
    module.set_alpha(0.0)
    assert torch.equal(module(h), h)


def test_multiply_valve_is_identity_at_zero_and_bounded() -> None:
    module = _seed_module(Stage.BLENDING, AlphaAlgorithm.MULTIPLY, alpha=0.0)
    h = torch.randn(2, 4, 5, 5)
    assert torch.equal(module(h), h)
    module.set_alpha(0.5)
    ratio = module(h) / h
    assert ratio.min() >= 0.5 - 1e-6
    assert ratio.max() <= 1.5 + 1e-6


def test_gate_blend_uses_a_per_sample_gate() -> None:
    module = _seed_module(Stage.BLENDING, AlphaAlgorithm.GATE, alpha=1.0)
    assert isinstance(module.gate, GatedBlend)
    h = torch.randn(3, 4, 5, 5)
    g = module.gate(h)
    assert g.shape == (3, 1, 1, 1)
    s = module.seed(h)
    assert torch.allclose(module(h), torch.lerp(h, s, g), atol=1e-6)
    module.set_algorithm(AlphaAlgorithm.ADD)
    assert module.gate is None


def test_seed_output_is_cast_to_the_host_dtype() -> None:
    class Float64Out(nn.Module):  # what an autocast region can hand back: another dtype
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (x * 2).to(torch.float64)

    module = SeedModule(Float64Out(), channels=4)
    module.stage = Stage.BLENDING
    module.set_alpha(0.5)
    h = torch.randn(2, 4, 3, 3, dtype=torch.float32)
    out = module(h)
    assert out.dtype == torch.float32
    assert torch.allclose(out, 1.5 * h)
    module.stage = Stage.TRAINING
    assert module(h).dtype == torch.float32


def test_incubator_under_bf16_autocast_keeps_dtype_and_value() -> None:
    module = _seed_module(Stage.TRAINING)
    h = torch.randn(2, 4, 3, 3, dtype=torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = module(h)
    assert out.dtype == torch.bfloat16
    assert torch.equal(out, h)


def test_gradient_health_measures_groups_with_one_report() -> None:
    net = SlotNet(_seed_module(Stage.TRAINING))
    _grads(net, X, Y)
    host = [p for n, p in net.named_parameters() if not n.startswith("slot")]
    report = measure(host, {"r0c0": net.slot.parameters(), "empty": []})
    assert report.host is not None
    expected = math.sqrt(sum(float(p.grad.double().pow(2).sum()) for p in host))
    assert report.host.norm == pytest.approx(expected, rel=1e-6)  # per-tensor norms are float32
    assert report.host.health == 1.0
    assert report.seeds["empty"] is None  # unmeasured, not healthy
    ratio = report.ratio("r0c0")
    assert ratio is not None
    assert 0.0 < ratio <= 10.0


def test_gradient_health_flags_exploding_and_non_finite() -> None:
    p = nn.Parameter(torch.zeros(3))
    q = nn.Parameter(torch.zeros(3))
    p.grad = torch.tensor([100.0, 0.0, 0.0])
    q.grad = torch.tensor([1e-9, 0.0, 0.0])
    report = measure([p, q], {})
    assert report.host is not None
    assert report.host.exploding
    assert report.host.vanishing
    assert report.host.health == pytest.approx(1.0 - 0.5 * 0.5 - 0.8 * 0.5)
    p.grad = torch.tensor([float("nan"), 0.0, 0.0])
    nan_report = measure([p], {})
    assert nan_report.host is not None
    assert nan_report.host.health == 0.0


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(alpha=st.just(0.0) | st.floats(1e-4, 1.0), seed=st.integers(0, 2**16))
def test_blend_endpoints_and_gradients_for_any_alpha(alpha: float, seed: int) -> None:
    # Spec invariant 11: alpha 0 -> host only, 1 -> seed only, both learn in between.
    torch.manual_seed(seed)
    module = SeedModule(Residual(4), channels=4)
    module.stage = Stage.BLENDING
    module.isolate = False
    module.set_alpha(alpha)
    h = torch.randn(2, 4, 3, 3, requires_grad=True)
    out = module(h)
    assert out.shape == h.shape
    s = module.seed(h)
    torch.testing.assert_close(out, torch.lerp(h, s, torch.tensor(alpha)), rtol=1e-5, atol=1e-5)
    out.sum().backward()
    seed_grad = module.seed.conv.weight.grad
    if alpha == 0.0:
        assert seed_grad is None or torch.count_nonzero(seed_grad) == 0
    else:
        assert seed_grad is not None
        assert torch.count_nonzero(seed_grad) > 0
    assert h.grad is not None
    assert torch.count_nonzero(h.grad) > 0


@settings(max_examples=40, deadline=None)
@given(alpha=st.floats(0.0, 1.0), scale=st.floats(0.0, 50.0), seed=st.integers(0, 2**16))
def test_multiply_valve_stays_within_its_bounds(alpha: float, scale: float, seed: int) -> None:
    # Spec invariant 3: identity at alpha 0, multiplier within [1 - alpha, 1 + alpha].
    torch.manual_seed(seed)
    module = SeedModule(Residual(4), channels=4, algorithm=AlphaAlgorithm.MULTIPLY)
    with torch.no_grad():
        module.seed.conv.weight.mul_(scale)
    module.stage = Stage.HOLDING
    module.set_alpha(alpha)
    h = torch.rand(2, 4, 3, 3) + 0.5  # positive, so out / h is the multiplier
    with torch.no_grad():
        ratio = module(h) / h
    assert float(ratio.min()) >= 1.0 - alpha - 1e-5
    assert float(ratio.max()) <= 1.0 + alpha + 1e-5
    if alpha == 0.0:
        assert torch.equal(module(h), h)
