"""Transformer seed blueprints: registration, sizes, identity at birth, causality, FlexAttention."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from esper.registry import Entry, Registries
from esper_plugins.blueprints.transformer import flex as flex_module
from esper_plugins.blueprints.transformer import params
from esper_plugins.blueprints.transformer.config import (
    AttentionSeedConfig,
    FlexAttentionSeedConfig,
    MLPSeedConfig,
)
from esper_plugins.blueprints.transformer.flex import FlexAttentionSeed
from esper_plugins.blueprints.transformer.host import TransformerHost
from esper_plugins.blueprints.transformer.seeds import AttentionSeed

NAMES = [
    "noop",
    "norm",
    "lora",
    "lora_large",
    "attention",
    "flex_attention",
    "mlp_small",
    "mlp",
]

# Eager FlexAttention on CPU warns that it is not compiled; that is expected in these tests.
pytestmark = pytest.mark.filterwarnings("ignore:.*flex_attention called without torch.compile")


@pytest.fixture
def tfm_blueprints(esper_manager: Any) -> dict[str, Entry[Any]]:
    entries = Registries(esper_manager)["blueprints"].filter(lambda s: s.topology == "transformer")
    return {e.name: e for e in entries}


def _build(entries: dict[str, Entry[Any]], name: str, dim: int, config: Any = None) -> nn.Module:
    module = entries[name].build(dim, config)
    assert isinstance(module, nn.Module)
    return module


def _randomize(module: nn.Module) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, 0.2)


def _n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_catalogue_is_registered_and_every_seed_is_identity_at_birth(
    tfm_blueprints: dict[str, Entry[Any]],
) -> None:
    assert sorted(tfm_blueprints) == sorted(NAMES)
    for name, entry in tfm_blueprints.items():
        assert entry.id == f"esper.blueprints.transformer:{name}"
        assert entry.spec.identity_at_birth, name
        assert entry.spec.param_formula.endswith(f":{name}_params")
    assert tfm_blueprints["mlp"].spec.load_config_cls() is MLPSeedConfig
    assert tfm_blueprints["attention"].spec.load_config_cls() is AttentionSeedConfig
    assert tfm_blueprints["flex_attention"].spec.load_config_cls() is FlexAttentionSeedConfig
    assert tfm_blueprints["lora"].spec.config_cls is None


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dim", [16, 64, 384])
def test_param_formula_equals_built_module(
    tfm_blueprints: dict[str, Entry[Any]], name: str, dim: int
) -> None:
    formula: Callable[[int], int] = getattr(params, f"{name}_params")
    assert _n_params(_build(tfm_blueprints, name, dim)) == formula(dim)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("norm", 769),
        ("lora", 6_144),
        ("lora_large", 24_576),
        ("attention", 591_360),
        ("flex_attention", 591_360),
        ("mlp_small", 590_976),
        ("mlp", 1_181_568),
    ],
)
def test_param_formulas_match_the_reference_numbers_at_384(name: str, expected: int) -> None:
    assert getattr(params, f"{name}_params")(384) == expected


@pytest.mark.parametrize("name", NAMES)
def test_seed_shape_dtype_and_exact_identity_at_birth(
    tfm_blueprints: dict[str, Entry[Any]], name: str
) -> None:
    torch.manual_seed(0)
    seed = _build(tfm_blueprints, name, 32)
    x = torch.randn(2, 7, 32)
    y = seed(x)
    assert y.shape == x.shape
    assert torch.equal(y, x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert seed(x).dtype == torch.float32
        assert seed(x.to(torch.bfloat16)).dtype == torch.bfloat16


@pytest.mark.parametrize("name", [n for n in NAMES if n != "noop"])
def test_gradient_reaches_every_seed_parameter(
    tfm_blueprints: dict[str, Entry[Any]], name: str
) -> None:
    torch.manual_seed(0)
    seed = _build(tfm_blueprints, name, 16)
    seed(torch.randn(2, 5, 16)).square().sum().backward()
    grads = [p.grad for p in seed.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)

    _randomize(seed)
    seed.zero_grad(set_to_none=True)
    seed(torch.randn(2, 5, 16)).square().sum().backward()
    for pname, p in seed.named_parameters():
        assert p.grad is not None, pname
        assert p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", ["attention", "flex_attention"])
def test_attention_seeds_are_causal(tfm_blueprints: dict[str, Entry[Any]], name: str) -> None:
    torch.manual_seed(0)
    seed = _build(tfm_blueprints, name, 16)
    _randomize(seed)
    x = torch.randn(1, 9, 16)
    changed = x.clone()
    changed[0, 5] += 1.0
    a, b = seed(x), seed(changed)
    torch.testing.assert_close(a[:, :5], b[:, :5])
    assert not torch.allclose(a[:, 5:], b[:, 5:])


def test_attention_n_head_must_divide_dim(tfm_blueprints: dict[str, Entry[Any]]) -> None:
    with pytest.raises(ValueError, match=r"dim \(30\) must be divisible by n_head \(4\)"):
        _build(tfm_blueprints, "attention", 30)
    seed = _build(tfm_blueprints, "attention", 30, AttentionSeedConfig(n_head=5))
    assert isinstance(seed, AttentionSeed)
    assert seed.n_head == 5


def test_factories_reject_wrong_configs(tfm_blueprints: dict[str, Entry[Any]]) -> None:
    with pytest.raises(TypeError, match="takes no config"):
        _build(tfm_blueprints, "lora", 16, MLPSeedConfig())
    with pytest.raises(TypeError, match="expects a MLPSeedConfig"):
        _build(tfm_blueprints, "mlp", 16, AttentionSeedConfig())
    with pytest.raises(ValueError, match="dim must be a positive int"):
        _build(tfm_blueprints, "norm", 0)


def test_mlp_checkpointing_gives_the_same_gradients(tfm_blueprints: dict[str, Entry[Any]]) -> None:
    torch.manual_seed(0)
    plain = _build(tfm_blueprints, "mlp_small", 16)
    _randomize(plain)
    ckpt = _build(tfm_blueprints, "mlp_small", 16, MLPSeedConfig(checkpoint=True))
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 4, 16)
    for module in (plain, ckpt):
        module.train()
        module(x).square().sum().backward()
    for (name, p), q in zip(plain.named_parameters(), ckpt.parameters(), strict=True):
        assert p.grad is not None
        assert q.grad is not None
        torch.testing.assert_close(p.grad, q.grad, msg=name)


# -- FlexAttention ----------------------------------------------------------------------------


def _flex(dim: int = 16, **kwargs: Any) -> FlexAttentionSeed:
    seed = FlexAttentionSeed(dim, 4, **kwargs)
    _randomize(seed)
    return seed


def test_flex_path_equals_sdpa_fallback_on_cpu_without_grad() -> None:
    torch.manual_seed(0)
    flex = _flex()
    sdpa = AttentionSeed(16, 4)
    sdpa.load_state_dict(flex.state_dict())
    for t in (1, 10, 130):  # 130: not a multiple of FlexAttention's 128-wide blocks
        x = torch.randn(2, t, 16)
        with torch.no_grad():
            assert flex.uses_flex(x)
            torch.testing.assert_close(flex(x), sdpa(x), atol=1e-5, rtol=1e-5)
    assert flex.cache_stats == {"hits": 0, "misses": 3, "evictions": 0}


def test_flex_falls_back_to_sdpa_on_cpu_with_grad_and_matches() -> None:
    torch.manual_seed(0)
    flex = _flex()
    sdpa = AttentionSeed(16, 4)
    sdpa.load_state_dict(flex.state_dict())
    x = torch.randn(2, 6, 16, requires_grad=True)
    assert not flex.uses_flex(x)
    out = flex(x)
    torch.testing.assert_close(out, sdpa(x))
    out.sum().backward()
    assert flex.cache_stats["misses"] == 0  # no block mask was built
    assert flex.cached_mask_keys() == []


def test_flex_on_cpu_can_be_switched_off() -> None:
    flex = _flex(flex_on_cpu=False)
    with torch.no_grad():
        assert not flex.uses_flex(torch.randn(1, 3, 16))
        flex(torch.randn(1, 3, 16))
    assert flex.cache_stats["misses"] == 0


def test_flex_without_flexattention_in_torch_uses_sdpa(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flex_module, "flex_attention", None)
    monkeypatch.setattr(flex_module, "create_block_mask", None)
    torch.manual_seed(0)
    flex = _flex()
    sdpa = AttentionSeed(16, 4)
    sdpa.load_state_dict(flex.state_dict())
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        assert not flex.uses_flex(x)
        torch.testing.assert_close(flex(x), sdpa(x))
    with pytest.raises(RuntimeError, match=r"no torch\.nn\.attention\.flex_attention"):
        flex.causal_block_mask(5, torch.device("cpu"), torch.float32)


def test_block_mask_cache_hits_and_lru_eviction() -> None:
    flex = _flex()
    cpu, f32 = torch.device("cpu"), torch.float32
    first = flex.causal_block_mask(1, cpu, f32)
    assert flex.causal_block_mask(1, cpu, f32) is first
    assert flex.cache_stats == {"hits": 1, "misses": 1, "evictions": 0}
    for t in range(2, 9):
        flex.causal_block_mask(t, cpu, f32)
    assert len(flex.cached_mask_keys()) == FlexAttentionSeed.MAX_CACHED_MASKS == 8
    flex.causal_block_mask(1, cpu, f32)  # touch 1: now 2 is the least recently used
    flex.causal_block_mask(9, cpu, f32)
    keys = [k[0] for k in flex.cached_mask_keys()]
    assert keys == [3, 4, 5, 6, 7, 8, 1, 9]
    assert flex.cache_stats == {"hits": 2, "misses": 9, "evictions": 1}
    # dtype is part of the key
    flex.causal_block_mask(9, cpu, torch.bfloat16)
    assert flex.cached_mask_keys()[-1] == (9, "cpu", "torch.bfloat16")


@pytest.mark.parametrize(
    "move",
    [
        lambda m: m.to("cpu"),
        lambda m: m.double(),
        lambda m: m.to(torch.bfloat16),
        lambda m: m.float(),
    ],
)
def test_block_mask_cache_is_cleared_when_the_module_moves_or_casts(
    move: Callable[[nn.Module], Any],
) -> None:
    flex = _flex()
    flex.precompute_block_masks([4, 8])
    assert len(flex.cached_mask_keys()) == 2
    move(flex)
    assert flex.cached_mask_keys() == []
    # Moving the host that holds the seed clears it too.
    host = TransformerHost(11, n_embd=16, n_layer=1, num_segments=1, block_size=8, dropout=0.0)
    host.attach_slot("r0c0", flex)
    flex.precompute_block_masks([4])
    move(host)
    assert flex.cached_mask_keys() == []


def test_precomputed_masks_are_hits_on_the_first_forward() -> None:
    flex = _flex()
    flex.precompute_block_masks([6], dtype=torch.float32)
    assert flex.cache_stats["misses"] == 1
    with torch.no_grad():
        flex(torch.randn(2, 6, 16))
    assert flex.cache_stats == {"hits": 1, "misses": 1, "evictions": 0}


def test_copies_start_with_an_empty_cache_and_still_work() -> None:
    flex = _flex()
    flex.precompute_block_masks([5])
    for clone in (copy.deepcopy(flex), pickle.loads(pickle.dumps(flex))):
        assert clone.cached_mask_keys() == []
        with torch.no_grad():
            torch.testing.assert_close(clone(torch.ones(1, 5, 16)), flex(torch.ones(1, 5, 16)))
    assert len(flex.cached_mask_keys()) == 1


def test_block_mask_lookup_is_excluded_from_compilation() -> None:
    assert getattr(FlexAttentionSeed.causal_block_mask, "_torchdynamo_disable", False)
    torch.manual_seed(0)
    flex = _flex().eval()
    compiled = torch.compile(flex, backend="eager")
    x = torch.randn(2, 10, 16)
    with torch.no_grad():
        expected = flex(x)
        before = dict(flex.cache_stats)
        for _ in range(3):
            torch.testing.assert_close(compiled(x), expected)
    # The lookup ran in Python on every compiled call: three more hits, no new mask.
    assert flex.cache_stats["misses"] == before["misses"] == 1
    assert flex.cache_stats["hits"] >= before["hits"] + 3


# -- every blueprint in every slot of the host --------------------------------------------------


def _host() -> TransformerHost:
    return TransformerHost(
        40, n_embd=16, n_head=4, n_layer=2, block_size=12, dropout=0.0, num_segments=2
    )


@pytest.mark.parametrize("slot_id", ["r0c0", "r0c1"])
@pytest.mark.parametrize("name", NAMES)
def test_every_blueprint_grows_in_every_slot(
    tfm_blueprints: dict[str, Entry[Any]], name: str, slot_id: str
) -> None:
    torch.manual_seed(0)
    host = _host().eval()
    idx = torch.randint(0, 40, (2, 10))
    baseline = host(idx)
    seed = _build(tfm_blueprints, name, 16)
    host.attach_slot(slot_id, seed)

    out = host(idx)
    assert out.shape == (2, 10, 40)
    assert torch.equal(out, baseline)  # every transformer seed is identity at birth

    host.train()
    host(idx).logsumexp(dim=-1).sum().backward()
    for p in seed.parameters():
        assert p.grad is not None
        assert torch.isfinite(p.grad).all()
    if name != "noop":
        assert sum(float(p.grad.abs().sum()) for p in seed.parameters() if p.grad is not None) > 0

    host.eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert host(idx).shape == (2, 10, 40)
        feats = torch.randn(2, 10, 16, dtype=torch.bfloat16)
        assert seed(feats).dtype == torch.bfloat16
