"""``esper.blueprints.cnn``: the cnn host and its seed blueprints.

This module holds only hook implementations and must not import torch; the modules are
named by "package.module:attr" strings and imported when built.
"""

from __future__ import annotations

from collections.abc import Iterator

from esper.plugin import BlueprintSpec, HostSpec, hookimpl

_SEEDS = "esper_plugins.blueprints.cnn.seeds"
_PARAMS = "esper_plugins.blueprints.cnn.params"

# name, identity at birth, summary (parameter formulas in C = channels)
_CATALOGUE: tuple[tuple[str, bool, str], ...] = (
    ("noop", True, "Identity placeholder (0 params)."),
    ("norm", True, "x + tanh(s)*(GroupNorm(x) - x), s=0 at birth (2C+1)."),
    (
        "attention",
        False,
        "Squeeze-excitation channel gate, reduction 4; scales by ~0.95 at birth (2Cr+C).",
    ),
    ("depthwise", False, "x + ReLU(GN(pointwise1x1(depthwise3x3(x)))) (C^2+11C)."),
    (
        "bottleneck",
        True,
        "x + GN(up1x1(ReLU(conv3x3(ReLU(down1x1(x)))))), b=max(8,C/4), GN weight 0 at "
        "birth (2Cb+9b^2+2C).",
    ),
    ("conv_small", True, "x + g*ReLU(GN(conv1x1(x))), scalar gate g=0 at birth (C^2+2C+1)."),
    ("conv_light", False, "x + conv3x3-GN-ReLU(x) (9C^2+2C)."),
    ("conv_heavy", False, "x + two stacked conv3x3-GN-ReLU blocks (2(9C^2+2C))."),
)


@hookimpl
def esper_blueprints() -> Iterator[BlueprintSpec]:
    for name, identity, summary in _CATALOGUE:
        yield BlueprintSpec(
            name=name,
            topology="cnn",
            factory=f"{_SEEDS}:create_{name}",
            param_formula=f"{_PARAMS}:{name}_params",
            identity_at_birth=identity,
            summary=summary,
        )


@hookimpl
def esper_hosts() -> Iterator[HostSpec]:
    yield HostSpec(
        name="cnn",
        topology="cnn",
        factory="esper_plugins.blueprints.cnn.host:build_cnn_host",
        config_cls="esper_plugins.blueprints.cnn.config:CNNHostConfig",
        feature_width=32,  # base 8, 3 blocks: slots of 8, 16 and 32 channels (tested)
        summary=(
            "Conv-BN-ReLU blocks with 2x2 max-pools, GAP + linear head; slots r0c<i> "
            "before and r1c<i> after each pool. Called as factory(config, num_classes=N)."
        ),
    )
