"""Options of the heuristic controller (defaults from the prior system's tuned values). No torch."""

from __future__ import annotations

import attrs
from attrs import validators as v


def _non_empty(
    _inst: object, attribute: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]
) -> None:
    if not value:
        raise ValueError(f"'{attribute.name}' must name at least one blueprint")


@attrs.frozen(kw_only=True)
class HeuristicConfig:
    """Defaults suit esper's short CPU runs (40 epochs). The prior system's values, tuned for
    75-150 epoch episodes: plateau_epochs 3, min_epoch 5, tempo 5, wait_for_stabilization true.
    """

    plateau_epochs: int = attrs.field(default=2, validator=v.ge(1))
    min_epoch: int = attrs.field(default=3, validator=v.ge(0))
    #: Prune a seed whose accuracy fell this many points since its stage began...
    prune_drop_pp: float = attrs.field(default=2.0, validator=v.gt(0))
    #: ...after at least this many epochs in the stage.
    prune_after_epochs: int = attrs.field(default=5, validator=v.ge(1))
    #: Fossilize a holding seed whose measured contribution exceeds this (percent points).
    fossilize_min_contribution: float = attrs.field(default=0.5)
    embargo_epochs: int = attrs.field(default=5, validator=v.ge(0))
    #: Blueprints to try, in order (names valid for the host's topology).
    blueprints: tuple[str, ...] = attrs.field(
        default=("conv_light", "conv_heavy", "attention", "norm", "depthwise"),
        converter=tuple,
        validator=_non_empty,
    )
    prune_penalty: float = attrs.field(default=2.0, validator=v.ge(0))
    penalty_decay: float = attrs.field(default=0.5, validator=[v.ge(0), v.le(1)])
    penalty_threshold: float = attrs.field(default=3.0, validator=v.gt(0))
    max_seeds: int | None = attrs.field(default=None)
    tempo: int = attrs.field(default=3, validator=v.ge(0))
    #: Wait for the host to stabilise before the first germination.
    wait_for_stabilization: bool = False
