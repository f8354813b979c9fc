"""``esper.blueprints.transformer``: the transformer host and its seed blueprints.

This module holds only hook implementations and must not import torch; the modules are
named by "package.module:attr" strings and imported when built.
"""

from __future__ import annotations

from collections.abc import Iterator

from esper.plugin import BlueprintSpec, HostSpec, hookimpl

_PKG = "esper_plugins.blueprints.transformer"
_CONFIG = f"{_PKG}.config"

# name, identity at birth, config class, summary (parameter formulas in d = embedding width)
_CATALOGUE: tuple[tuple[str, bool, str | None, str], ...] = (
    ("noop", True, None, "Identity placeholder (0 params)."),
    ("norm", True, None, "x + tanh(s)*(LayerNorm(x) - x), s=0 at birth (2d+1)."),
    ("lora", True, None, "x + up(down(x)), rank 8, no biases, up zero at birth (16d)."),
    ("lora_large", True, None, "x + up(down(x)), rank 32, no biases, up zero at birth (64d)."),
    (
        "attention",
        True,
        f"{_CONFIG}:AttentionSeedConfig",
        "x + proj(causal SDPA(QKV(x))), 4 heads, proj zero at birth (4d^2+4d).",
    ),
    (
        "flex_attention",
        True,
        f"{_CONFIG}:FlexAttentionSeedConfig",
        "Causal attention via FlexAttention with a cached block mask; SDPA where Flex "
        "cannot run (4d^2+4d).",
    ),
    (
        "mlp_small",
        True,
        f"{_CONFIG}:MLPSeedConfig",
        "x + fc2(GELU(fc1(x))), 2x expansion, fc2 zero at birth (4d^2+3d).",
    ),
    (
        "mlp",
        True,
        f"{_CONFIG}:MLPSeedConfig",
        "x + fc2(GELU(fc1(x))), 4x expansion, fc2 zero at birth (8d^2+5d).",
    ),
)


@hookimpl
def esper_blueprints() -> Iterator[BlueprintSpec]:
    for name, identity, config_cls, summary in _CATALOGUE:
        yield BlueprintSpec(
            name=name,
            topology="transformer",
            # flex_attention has a module of its own (it imports the compiler)
            factory=f"{_PKG}.{'flex' if name == 'flex_attention' else 'seeds'}:create_{name}",
            config_cls=config_cls,
            param_formula=f"{_PKG}.params:{name}_params",
            identity_at_birth=identity,
            summary=summary,
        )


@hookimpl
def esper_hosts() -> Iterator[HostSpec]:
    yield HostSpec(
        name="transformer",
        topology="transformer",
        factory=f"{_PKG}.host:build_transformer_host",
        config_cls=f"{_CONFIG}:TransformerHostConfig",
        feature_width=128,  # n_embd of the default configuration (tested)
        summary=(
            "Pre-norm GPT (tied LM head, causal SDPA); slots r0c<i> after each group of "
            "layers. Called as factory(config, vocab_size=N)."
        ),
    )
