"""The built-in hosts: slots, shapes, parameter counts, memory format, weight tying, errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from esper.growth.host import SlottedHost
from esper.registry import Registries
from esper_plugins.blueprints.cnn import params as cnn_params
from esper_plugins.blueprints.cnn.config import CNNHostConfig
from esper_plugins.blueprints.cnn.host import CNNHost, build_cnn_host
from esper_plugins.blueprints.transformer import params as tfm_params
from esper_plugins.blueprints.transformer.config import TransformerHostConfig
from esper_plugins.blueprints.transformer.host import TransformerHost, build_transformer_host


class Recorder(nn.Module):
    """Identity that logs (slot id, input) for every call."""

    def __init__(self, slot_id: str, log: list[tuple[str, torch.Tensor]]) -> None:
        super().__init__()
        self.slot_id = slot_id
        self.log = log

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.log.append((self.slot_id, x.detach().clone(memory_format=torch.preserve_format)))
        return x


def _attach_recorders(host: SlottedHost) -> list[tuple[str, torch.Tensor]]:
    log: list[tuple[str, torch.Tensor]] = []
    for point in host.injection_points():
        host.attach_slot(point.slot_id, Recorder(point.slot_id, log))
    return log


def _n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# -- CNN host ---------------------------------------------------------------------------------


def test_cnn_baseline_slots_ids_orders_surfaces_channels() -> None:
    host = CNNHost(10)
    host.validate_injection_points()
    points = sorted(host.injection_points(), key=lambda p: p.order)
    assert [(p.slot_id, p.order, p.surface, p.channels) for p in points] == [
        ("r0c0", 0, "pre_pool", 8),
        ("r0c1", 1, "pre_pool", 16),
        ("r0c2", 2, "pre_pool", 32),
        ("r1c0", 3, "post_pool", 8),
        ("r1c1", 4, "post_pool", 16),
        ("r1c2", 5, "post_pool", 32),
    ]
    assert all(0.0 <= p.position <= 1.0 for p in points)


def test_cnn_slots_run_interleaved_with_the_feature_shapes_they_declare() -> None:
    host = CNNHost(10).eval()
    log = _attach_recorders(host)
    host(torch.randn(2, 3, 32, 32))
    assert [(sid, tuple(x.shape)) for sid, x in log] == [
        ("r0c0", (2, 8, 32, 32)),
        ("r1c0", (2, 8, 16, 16)),
        ("r0c1", (2, 16, 16, 16)),
        ("r1c1", (2, 16, 8, 8)),
        ("r0c2", (2, 32, 8, 8)),
        ("r1c2", (2, 32, 4, 4)),
    ]
    declared = {p.slot_id: p.channels for p in host.injection_points()}
    assert all(x.shape[1] == declared[sid] for sid, x in log)


def test_cnn_pool_layers_limits_post_pool_slots() -> None:
    host = CNNHost(3, n_blocks=4, pool_layers=1, base_channels=2)
    ids = {p.slot_id: p.order for p in host.injection_points()}
    assert ids == {"r0c0": 0, "r0c1": 1, "r0c2": 2, "r0c3": 3, "r1c0": 4}
    log = _attach_recorders(host.eval())
    assert host(torch.randn(1, 3, 8, 8)).shape == (1, 3)
    assert [(sid, x.shape[-1]) for sid, x in log] == [
        ("r0c0", 8),
        ("r1c0", 4),
        ("r0c1", 4),
        ("r0c2", 4),
        ("r0c3", 4),
    ]


@pytest.mark.parametrize("num_classes", [2, 7, 100])
def test_cnn_output_has_the_task_s_number_of_classes(num_classes: int) -> None:
    host = CNNHost(num_classes).eval()
    assert host(torch.randn(3, 3, 32, 32)).shape == (3, num_classes)


@pytest.mark.parametrize(
    ("options", "num_classes", "expected"),
    [
        ({}, 10, 6_418),  # cifar_baseline
        ({"base_channels": 1, "kernel_size": 1}, 10, 77),  # cifar_impaired
        ({"base_channels": 2, "kernel_size": 1, "pool_layers": 0}, 10, 164),  # cifar_minimal
        ({"base_channels": 2, "kernel_size": 1, "n_blocks": 5}, 10, 1_140),  # deep_impaired
        ({"n_blocks": 5}, 10, 99_922),  # cifar_scale
        ({}, 100, 6_418 + 32 * 90 + 90),
    ],
)
def test_cnn_parameter_counts(options: dict[str, int], num_classes: int, expected: int) -> None:
    host = CNNHost(num_classes, **options)  # type: ignore[arg-type]
    assert _n_params(host) == expected
    formula_options = {k: v for k, v in options.items() if k != "pool_layers"}
    assert cnn_params.host_params(num_classes, **formula_options) == expected


def test_cnn_channels_last_by_default_and_contiguous_on_request() -> None:
    host = CNNHost(4).eval()
    conv = host.blocks[0].conv
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not conv.weight.is_contiguous()
    log = _attach_recorders(host)
    host(torch.randn(2, 3, 16, 16))  # a contiguous batch is converted on entry
    for _, x in log:
        assert x.is_contiguous(memory_format=torch.channels_last)
        if x.shape[-1] > 1:
            assert not x.is_contiguous()

    plain = CNNHost(4, memory_format="contiguous").eval()
    log = _attach_recorders(plain)
    plain(torch.randn(2, 3, 16, 16).contiguous(memory_format=torch.channels_last))
    assert all(x.is_contiguous() for _, x in log)


def test_cnn_dormant_slots_are_free_and_attached_identity_changes_nothing() -> None:
    torch.manual_seed(0)
    host = CNNHost(5).eval()
    x = torch.randn(2, 3, 16, 16)
    before = host(x)
    n_before = _n_params(host)
    _attach_recorders(host)
    assert torch.equal(host(x), before)
    for point in host.injection_points():
        host.detach_slot(point.slot_id)
    assert len(host.slots) == 0
    assert _n_params(host) == n_before


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_blocks": 1}, "n_blocks"),
        ({"pool_layers": 4}, r"pool_layers \(4\) must be <= n_blocks \(3\)"),
        ({"kernel_size": 4}, "kernel_size must be odd"),
        ({"memory_format": "nhwc"}, "memory_format"),
        ({"base_channels": 0}, "base_channels"),
    ],
)
def test_cnn_rejects_bad_options(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CNNHost(10, **kwargs)  # type: ignore[arg-type]


def test_cnn_requires_a_positive_number_of_classes() -> None:
    with pytest.raises(ValueError, match="num_classes"):
        CNNHost(0)
    with pytest.raises(TypeError):
        CNNHost()  # type: ignore[call-arg]


def test_cnn_rejects_non_image_input() -> None:
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        CNNHost(10)(torch.randn(3, 32, 32))


# -- transformer host -------------------------------------------------------------------------


def _small_tfm(**kwargs: object) -> TransformerHost:
    options: dict[str, object] = {
        "n_embd": 32,
        "n_head": 4,
        "n_layer": 4,
        "block_size": 16,
        "dropout": 0.0,
        "num_segments": 2,
    }
    options.update(kwargs)
    return TransformerHost(50, **options)  # type: ignore[arg-type]


def test_transformer_defaults_are_cpu_sized_and_slots_follow_each_layer() -> None:
    cfg = TransformerHostConfig()
    assert (cfg.n_embd, cfg.n_head, cfg.n_layer, cfg.block_size, cfg.num_segments) == (
        128,
        4,
        4,
        128,
        4,
    )
    host = TransformerHost(65)
    host.validate_injection_points()
    points = list(host.injection_points())
    assert [(p.slot_id, p.order, p.surface, p.channels) for p in points] == [
        (f"r0c{i}", i, "block_end", 128) for i in range(4)
    ]
    assert [p.position for p in points] == [0.25, 0.5, 0.75, 1.0]
    assert _n_params(host) == tfm_params.host_params(65, n_embd=128, n_layer=4, block_size=128)


def test_transformer_slot_inputs_are_the_residual_stream_after_each_segment() -> None:
    torch.manual_seed(0)
    host = _small_tfm().eval()
    log = _attach_recorders(host)
    idx = torch.randint(0, 50, (2, 9))
    logits = host(idx)
    assert logits.shape == (2, 9, 50)
    x = host.tok_emb(idx) + host.pos_emb(torch.arange(9))
    blocks = list(host.blocks)
    after_2 = blocks[1](blocks[0](x))
    after_4 = blocks[3](blocks[2](after_2))
    assert [sid for sid, _ in log] == ["r0c0", "r0c1"]
    torch.testing.assert_close(log[0][1], after_2)
    torch.testing.assert_close(log[1][1], after_4)
    torch.testing.assert_close(logits, host.lm_head(host.ln_f(after_4)))


@pytest.mark.parametrize("ratio", [0, 1, 4])
def test_transformer_mlp_ratio_sets_each_layers_mlp_and_zero_leaves_attention_only(
    ratio: int,
) -> None:
    torch.manual_seed(0)
    host = _small_tfm(mlp_ratio=ratio).eval()
    assert _n_params(host) == tfm_params.host_params(
        50, n_embd=32, n_layer=4, block_size=16, mlp_ratio=ratio
    )
    for block in host.blocks:
        if ratio == 0:
            assert block.mlp is None
            assert block.ln2 is None
        else:
            assert block.mlp is not None
            assert block.mlp.fc.out_features == ratio * 32
    if ratio == 0:
        # An attention-only layer is x + attn(ln1(x)), nothing more.
        x = torch.randn(2, 5, 32)
        block = host.blocks[0]
        torch.testing.assert_close(block(x), x + block.attn(block.ln1(x)))


def test_transformer_full_size_matches_the_reference_parameter_count() -> None:
    with torch.device("meta"):
        host = TransformerHost(
            50257, n_embd=384, n_head=6, n_layer=6, block_size=256, num_segments=3
        )
    assert _n_params(host) == 30_044_544
    assert tfm_params.host_params(50257, n_embd=384, n_layer=6, block_size=256) == 30_044_544
    assert [p.slot_id for p in host.injection_points()] == ["r0c0", "r0c1", "r0c2"]


def test_transformer_lm_head_is_tied_to_the_token_embedding() -> None:
    host = _small_tfm()
    assert host.lm_head.weight is host.tok_emb.weight
    names = [name for name, _ in host.named_parameters()]
    assert "tok_emb.weight" in names
    assert "lm_head.weight" not in names  # one parameter, listed once
    logits = host(torch.randint(0, 50, (2, 5)))
    logits.sum().backward()
    assert host.tok_emb.weight.grad is not None
    # The tie survives a state-dict round trip.
    clone = _small_tfm()
    clone.load_state_dict(host.state_dict())
    assert clone.lm_head.weight is clone.tok_emb.weight
    assert torch.equal(clone.tok_emb.weight, host.tok_emb.weight)


def test_transformer_is_causal() -> None:
    torch.manual_seed(0)
    host = _small_tfm().eval()
    idx = torch.randint(0, 50, (1, 12))
    changed = idx.clone()
    changed[0, 7] = (changed[0, 7] + 1) % 50
    a, b = host(idx), host(changed)
    torch.testing.assert_close(a[:, :7], b[:, :7])
    assert not torch.allclose(a[:, 7:], b[:, 7:])


def test_transformer_sequence_longer_than_block_size_raises() -> None:
    host = _small_tfm(block_size=8)
    assert host(torch.randint(0, 50, (2, 8))).shape == (2, 8, 50)
    with pytest.raises(ValueError, match=r"sequence length 9 exceeds the host's block_size 8"):
        host(torch.randint(0, 50, (2, 9)))


def test_transformer_dropout_only_in_training() -> None:
    torch.manual_seed(0)
    host = _small_tfm(dropout=0.5)
    idx = torch.randint(0, 50, (2, 10))
    host.eval()
    assert torch.equal(host(idx), host(idx))
    host.train()
    assert not torch.equal(host(idx), host(idx))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_layer": 4, "num_segments": 3}, r"n_layer \(4\) must be divisible by num_segments"),
        ({"n_embd": 30, "n_head": 4}, r"n_embd \(30\) must be divisible by n_head"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_transformer_rejects_bad_options(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _small_tfm(**kwargs)


def test_transformer_requires_vocab_size() -> None:
    with pytest.raises(ValueError, match="vocab_size"):
        TransformerHost(0)
    with pytest.raises(TypeError):
        TransformerHost()  # type: ignore[call-arg]


# -- registration -----------------------------------------------------------------------------


def test_hosts_are_registered_with_config_classes(esper_manager: object) -> None:
    hosts = Registries(esper_manager)["hosts"]  # type: ignore[arg-type]
    cnn = hosts.get("cnn")
    tfm = hosts.get("transformer")
    assert (cnn.id, tfm.id) == (
        "esper.blueprints.cnn:cnn",
        "esper.blueprints.transformer:transformer",
    )
    assert cnn.spec.topology == CNNHost.topology == "cnn"
    assert tfm.spec.topology == TransformerHost.topology == "transformer"
    assert cnn.spec.load_config_cls() is CNNHostConfig
    assert tfm.spec.load_config_cls() is TransformerHostConfig
    assert cnn.spec.load_factory() is build_cnn_host
    assert tfm.spec.load_factory() is build_transformer_host

    host = cnn.build(CNNHostConfig(base_channels=4, n_blocks=2), num_classes=6)
    assert isinstance(host, CNNHost)
    assert host(torch.randn(1, 3, 8, 8)).shape == (1, 6)
    assert isinstance(cnn.build(None, num_classes=10), CNNHost)
    lm = tfm.build(TransformerHostConfig(n_embd=16, n_layer=2, num_segments=1), vocab_size=11)
    assert lm(torch.randint(0, 11, (1, 4))).shape == (1, 4, 11)


def test_hook_modules_formulas_and_configs_do_not_import_torch() -> None:
    code = (
        "import sys\n"
        "import esper_plugins.blueprints.cnn, esper_plugins.blueprints.transformer\n"
        "import esper_plugins.blueprints.cnn.params, esper_plugins.blueprints.cnn.config\n"
        "import esper_plugins.blueprints.transformer.params\n"
        "import esper_plugins.blueprints.transformer.config\n"
        "list(esper_plugins.blueprints.cnn.esper_blueprints())\n"
        "list(esper_plugins.blueprints.transformer.esper_hosts())\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"
