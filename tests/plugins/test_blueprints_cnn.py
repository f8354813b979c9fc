"""CNN seed blueprints: registration, exact sizes, identity at birth, dtype, memory format, grads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from esper.registry import Entry, Registries
from esper_plugins.blueprints.cnn import params
from esper_plugins.blueprints.cnn.host import CNNHost

NAMES = [
    "noop",
    "norm",
    "attention",
    "depthwise",
    "bottleneck",
    "conv_small",
    "conv_light",
    "conv_heavy",
]
IDENTITY = {"noop", "norm", "bottleneck", "conv_small"}


@pytest.fixture
def cnn_blueprints(esper_manager: Any) -> dict[str, Entry[Any]]:
    entries = Registries(esper_manager)["blueprints"].filter(lambda s: s.topology == "cnn")
    return {e.name: e for e in entries}


def _build(entries: dict[str, Entry[Any]], name: str, dim: int) -> nn.Module:
    module = entries[name].build(dim)
    assert isinstance(module, nn.Module)
    return module


def _randomize(module: nn.Module) -> None:
    # Move every parameter off its birth value so each one is exercised.
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, 0.3)


def _n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_catalogue_is_registered_with_the_promised_birth_behaviour(
    cnn_blueprints: dict[str, Entry[Any]],
) -> None:
    assert sorted(cnn_blueprints) == sorted(NAMES)
    for name, entry in cnn_blueprints.items():
        assert entry.id == f"esper.blueprints.cnn:{name}"
        assert entry.spec.identity_at_birth == (name in IDENTITY), name
        assert entry.spec.summary
        assert entry.spec.param_formula == f"esper_plugins.blueprints.cnn.params:{name}_params"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dim", [1, 3, 16, 24, 64, 384])
def test_param_formula_equals_built_module(
    cnn_blueprints: dict[str, Entry[Any]], name: str, dim: int
) -> None:
    formula: Callable[[int], int] = getattr(params, f"{name}_params")
    assert _n_params(_build(cnn_blueprints, name, dim)) == formula(dim)


@pytest.mark.parametrize(
    ("name", "dim", "expected"),
    [
        ("norm", 64, 129),
        ("attention", 64, 2 * 64 * 16 + 64),
        ("depthwise", 64, 4_800),
        ("bottleneck", 64, 4_480),
        ("conv_small", 64, 4_224 + 1),  # + the zero-init gate that keeps it trainable
        ("conv_light", 64, 36_992),
        ("conv_heavy", 64, 73_984),
        ("attention", 2, 2 * 2 * 1 + 2),  # r = max(1, C/4)
        ("bottleneck", 16, 2 * 16 * 8 + 9 * 64 + 32),  # b = max(8, C/4)
    ],
)
def test_param_formulas_match_the_reference_numbers(name: str, dim: int, expected: int) -> None:
    assert getattr(params, f"{name}_params")(dim) == expected


@pytest.mark.parametrize(
    ("channels", "groups"),
    [
        (1, 1),
        (6, 2),
        (7, 1),
        (8, 8),
        (12, 4),
        (16, 1),
        (24, 1),
        (32, 2),
        (48, 2),
        (64, 4),
        (128, 8),
        (512, 32),
        (1024, 32),
    ],
)
def test_group_norm_group_choice(channels: int, groups: int) -> None:
    assert params.num_groups(channels) == groups


@pytest.mark.parametrize("name", NAMES)
def test_seed_keeps_shape_and_memory_format_both_ways(
    cnn_blueprints: dict[str, Entry[Any]], name: str
) -> None:
    seed = _build(cnn_blueprints, name, 16).eval()
    x = torch.randn(2, 16, 6, 6)
    channels_last = x.contiguous(memory_format=torch.channels_last)
    y = seed(channels_last)
    assert y.shape == x.shape
    assert y.is_contiguous(memory_format=torch.channels_last)
    assert not y.is_contiguous()
    # Weights in channels_last must not turn a contiguous input channels_last.
    seed.to(memory_format=torch.channels_last)
    y = seed(x)
    assert y.shape == x.shape
    assert y.is_contiguous()


@pytest.mark.parametrize("name", NAMES)
def test_seed_keeps_dtype_under_bf16_autocast(
    cnn_blueprints: dict[str, Entry[Any]], name: str
) -> None:
    seed = _build(cnn_blueprints, name, 8)
    x = torch.randn(2, 8, 5, 5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert seed(x).dtype == torch.float32
        assert seed(x.to(torch.bfloat16)).dtype == torch.bfloat16


@pytest.mark.parametrize("name", NAMES)
def test_identity_at_birth_is_exact_where_promised(
    cnn_blueprints: dict[str, Entry[Any]], name: str
) -> None:
    torch.manual_seed(0)
    seed = _build(cnn_blueprints, name, 16)
    x = torch.randn(3, 16, 7, 7)
    y = seed(x)
    if name in IDENTITY:
        assert torch.equal(y, x)
    else:
        assert not torch.equal(y, x)


def test_squeeze_excitation_starts_as_a_uniform_095_scale(
    cnn_blueprints: dict[str, Entry[Any]],
) -> None:
    seed = _build(cnn_blueprints, "attention", 12)
    x = torch.randn(2, 12, 4, 4)
    torch.testing.assert_close(seed(x), x * torch.sigmoid(torch.tensor(3.0)))


@pytest.mark.parametrize("name", sorted(IDENTITY - {"noop"}))
def test_identity_seeds_grow_smoothly_from_birth(
    cnn_blueprints: dict[str, Entry[Any]], name: str
) -> None:
    # One small SGD step must move the seed off the identity, and only a little: a seed whose
    # gradients are all zero at birth never grows, and one that jumps to full size after the
    # first step is identity at birth in name only.
    torch.manual_seed(0)
    seed = _build(cnn_blueprints, name, 16)
    x = torch.randn(4, 16, 6, 6)
    target = torch.randn_like(x)
    (seed(x) * target).sum().backward()
    with torch.no_grad():
        for p in seed.parameters():
            if p.grad is not None:
                p -= 1e-4 * p.grad
        moved = (seed(x) - x).abs().max().item()
    assert 0 < moved < 0.05 * x.abs().max().item()


@pytest.mark.parametrize("name", [n for n in NAMES if n != "noop"])
def test_gradient_reaches_every_seed_parameter(
    cnn_blueprints: dict[str, Entry[Any]], name: str
) -> None:
    torch.manual_seed(0)
    seed = _build(cnn_blueprints, name, 8)
    x = torch.randn(2, 8, 5, 5, requires_grad=True)
    seed(x).square().sum().backward()
    grads = [p.grad for p in seed.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    assert x.grad is not None
    assert x.grad.abs().sum() > 0

    _randomize(seed)
    seed.zero_grad(set_to_none=True)
    seed(torch.randn(2, 8, 5, 5)).square().sum().backward()
    for pname, p in seed.named_parameters():
        assert p.grad is not None, pname
        assert p.grad.abs().sum() > 0, pname


def test_factories_reject_configs_and_bad_widths(cnn_blueprints: dict[str, Entry[Any]]) -> None:
    with pytest.raises(TypeError, match="takes no config"):
        cnn_blueprints["norm"].build(16, object())
    with pytest.raises(ValueError, match="dim must be a positive int"):
        cnn_blueprints["conv_light"].build(0)
    with pytest.raises(TypeError):
        cnn_blueprints["conv_light"].build(16, reduction=2)


# -- every blueprint in every slot of the host --------------------------------------------------


def _host() -> CNNHost:
    # Small: channels 4, 8, 16 on a 12x12 input; all six slots.
    return CNNHost(5, base_channels=4, n_blocks=3)


SLOTS = [f"r{r}c{c}" for r in (0, 1) for c in range(3)]


@pytest.mark.parametrize("slot_id", SLOTS)
@pytest.mark.parametrize("name", NAMES)
def test_every_blueprint_grows_in_every_slot(
    cnn_blueprints: dict[str, Entry[Any]], name: str, slot_id: str
) -> None:
    torch.manual_seed(0)
    host = _host()
    host.eval()
    x = torch.randn(2, 3, 12, 12)
    baseline = host(x)
    channels = {p.slot_id: p.channels for p in host.injection_points()}[slot_id]
    seed = _build(cnn_blueprints, name, channels)
    host.attach_slot(slot_id, seed)

    out = host(x)
    assert out.shape == (2, 5)
    if name in IDENTITY:
        assert torch.equal(out, baseline)

    host.train()
    host(x).logsumexp(dim=1).sum().backward()
    for p in seed.parameters():
        assert p.grad is not None
        assert torch.isfinite(p.grad).all()
    if name != "noop":
        assert sum(float(p.grad.abs().sum()) for p in seed.parameters() if p.grad is not None) > 0

    host.eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert host(x).shape == (2, 5)
        feats = torch.randn(2, channels, 3, 3, dtype=torch.bfloat16)
        assert seed(feats).dtype == torch.bfloat16


_DETACHED_BACKWARD = """
import torch
from esper.registry.manager import build_manager
from esper.registry import Registries

registries = Registries(build_manager(autoload=False))
for entry in registries["blueprints"]:
    if entry.spec.topology != "cnn" or entry.spec.name == "noop":
        continue
    for dim in (8, 16):
        seed = entry.build(dim)
        x = torch.randn(4, dim, 8, 8).contiguous(memory_format=torch.channels_last)
        out = seed(x)  # the input carries no grad: a TRAINING seed's detached host features
        params = [p for p in seed.parameters() if p.requires_grad]
        if params:
            (out * torch.randn_like(out)).sum().backward()
print("ok")
"""


def test_every_cnn_seed_backpropagates_from_detached_channels_last_input() -> None:
    # In a subprocess: the bug this guards against (PyTorch's CPU GroupNorm backward with a
    # channels-last input that needs no grad) is a segfault, which would kill the test run.
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", _DETACHED_BACKWARD], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ok"
