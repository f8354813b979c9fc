"""The optimizers a growing model's seeds join and leave.

`OptimizerBinding` remembers every optimizer bound with
`esper.growth.model.MorphogeneticModel.bind_optimizer` and the param-group options given for
seeds. Each seed gets a param group of its own, tagged with its slot, when it is germinated
(or rebuilt from a saved state); at prune the group and the optimizer's state for its
parameters (e.g. Adam moments) go with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from esper.growth.seed_module import SeedModule


class OptimizerBinding:
    """Bound optimizers, and the param group of each seed in them."""

    def __init__(self, slots: Mapping[str, object]) -> None:
        # The model's slot records: their order is the canonical order of the seeds' groups.
        self._slots = slots
        self._bound: list[tuple[torch.optim.Optimizer, dict[str, Any]]] = []

    def bind(
        self,
        optimizer: torch.optim.Optimizer,
        options: dict[str, Any],
        seeds: Iterable[tuple[str, SeedModule]],
    ) -> None:
        """Remember ``optimizer`` and give each of the current ``seeds`` its group in it."""
        self._bound.append((optimizer, options))
        for sid, module in seeds:
            self._add_group(optimizer, options, sid, module)

    def add(self, sid: str, module: SeedModule) -> None:
        """Give a new seed its group in every bound optimizer."""
        for optimizer, options in self._bound:
            self._add_group(optimizer, options, sid, module)

    def remove(self, module: SeedModule) -> None:
        """Drop the seed's groups, and the state of their parameters, from every optimizer."""
        ids = {id(p) for p in module.parameters()}
        for optimizer, _ in self._bound:
            for group in list(optimizer.param_groups):
                if any(id(p) in ids for p in group["params"]):
                    for p in group["params"]:
                        optimizer.state.pop(p, None)
                    # By identity: list.remove would compare the groups' tensors with ==.
                    optimizer.param_groups[:] = [
                        g for g in optimizer.param_groups if g is not group
                    ]

    def forget(self, params: list[nn.Parameter]) -> None:
        """Drop every bound optimizer's state (e.g. Adam moments) for ``params``."""
        for optimizer, _ in self._bound:
            for p in params:
                optimizer.state.pop(p, None)

    def _add_group(
        self,
        optimizer: torch.optim.Optimizer,
        options: dict[str, Any],
        sid: str,
        module: SeedModule,
    ) -> None:
        optimizer.add_param_group(
            {"params": list(module.parameters()), "esper_slot": sid, **options}
        )
        # Keep one canonical order (other groups first, then seeds by slot), whatever the order of
        # germination, so a saved optimizer state loads into a rebuilt model's optimizer.
        order = {slot: i for i, slot in enumerate(self._slots)}
        optimizer.param_groups.sort(key=lambda g: order.get(g.get("esper_slot", ""), -1))
