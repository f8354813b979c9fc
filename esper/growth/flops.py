"""Floating-point operations of a model's passes, counted with torch's own counter.

`torch.utils.flop_counter.FlopCounterMode` counts every matmul, convolution and attention
kernel that a pass dispatches, forward and backward. Counting on every batch would slow
training, and the count depends only on the model's structure and one sample's shape. So
`count_pass` runs one sample through the real module code with **meta** stand-ins for its
parameters, buffers and input (`torch.func.functional_call`). That uses no memory, does no
arithmetic, draws no random numbers and changes no state of the model (its hooks are set
aside for the pass): a run's numbers are the same whether it counts or not. `FlopMeter`
caches the counts per model structure (which seeds sit in which slots, at which stage), so a
run pays for one count per structural change.

The counter counts multiply-adds as two FLOPs. Elementwise work (activations, normalisation,
the loss) is not counted: as in the literature that compares training compute, the matmuls
and convolutions dominate.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import attrs
import torch
from torch import nn
from torch.func import functional_call
from torch.utils.flop_counter import FlopCounterMode

from esper.growth.slots import SlotRecord


@attrs.frozen
class PassFlops:
    """One sample's FLOPs through a pass: the forward and, when trained, the backward."""

    forward: int
    backward: int = 0

    @property
    def total(self) -> int:
        return self.forward + self.backward


class _Pass(nn.Module):
    """Runs ``call(module, x)`` as its forward, so that `functional_call` can swap the tensors
    of a pass that is not the module's own ``forward`` (the fused evaluation)."""

    def __init__(
        self, module: nn.Module, call: Callable[[nn.Module, torch.Tensor], torch.Tensor]
    ) -> None:
        super().__init__()
        self.module = module
        self.call = call

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.call(self.module, x)


#: The per-module hook tables a counting pass must not trigger: a user's hook would see meta
#: tensors of one sample and could not read them.
_HOOK_TABLES = ("_forward_pre_hooks", "_forward_hooks", "_backward_pre_hooks", "_backward_hooks")


@contextmanager
def _without_hooks(module: nn.Module) -> Iterator[None]:
    """Run with every submodule's hooks set aside (restored afterwards, whatever happens)."""
    saved = [(m, name, getattr(m, name)) for m in module.modules() for name in _HOOK_TABLES]
    try:
        for m, name, _ in saved:
            setattr(m, name, OrderedDict())
        yield
    finally:
        for m, name, table in saved:
            setattr(m, name, table)


def _meta_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """Meta copies of the module's parameters (keeping requires_grad, so the backward counts
    exactly the weight gradients training computes) and buffers."""
    state: dict[str, torch.Tensor] = {
        name: torch.empty_like(p, device="meta").requires_grad_(p.requires_grad)
        for name, p in module.named_parameters()
    }
    state.update((name, torch.empty_like(b, device="meta")) for name, b in module.named_buffers())
    return state


def count_pass(
    module: nn.Module,
    sample: torch.Tensor,
    *,
    backward: bool,
    call: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
) -> PassFlops:
    """FLOPs of ``module`` on ``sample`` (batch dimension first), run on the meta device: the
    forward pass, and the backward pass of a scalar loss when ``backward``.

    ``call`` runs the pass (default: ``module(x)``). A compiled module is counted as its
    eager code, which does the same arithmetic.
    """
    runner = module if call is None else _Pass(module, call)
    x = torch.empty_like(sample, device="meta")
    with (
        _without_hooks(runner),
        torch.compiler.set_stance("force_eager"),
        torch.enable_grad() if backward else torch.no_grad(),
        FlopCounterMode(display=False) as counter,
    ):
        out = functional_call(runner, _meta_state(runner), (x,))
        forward = counter.get_total_flops()
        if backward:
            out.float().sum().backward()
        total = counter.get_total_flops()
    return PassFlops(forward, total - forward)


def forward_flops(module: nn.Module, *inputs: torch.Tensor | tuple[torch.Tensor, ...]) -> int:
    """FLOPs of one ``module(*inputs)`` call without autograd, counted on the meta device.

    ``inputs`` are tensors or tuples of tensors (an LSTM's state); only their shapes and
    dtypes matter. For a plugin's own networks, such as a controller's.
    """

    def meta(value: torch.Tensor | tuple[torch.Tensor, ...]) -> Any:
        if isinstance(value, tuple):
            return tuple(torch.empty_like(t, device="meta") for t in value)
        return torch.empty_like(value, device="meta")

    state = {name: torch.empty_like(p, device="meta") for name, p in module.named_parameters()}
    state.update((name, torch.empty_like(b, device="meta")) for name, b in module.named_buffers())
    with (
        _without_hooks(module),
        torch.compiler.set_stance("force_eager"),
        torch.no_grad(),
        FlopCounterMode(display=False) as counter,
    ):
        functional_call(module, state, tuple(meta(x) for x in inputs))
    return int(counter.get_total_flops())


@attrs.define
class FlopMeter:
    """Per-sample FLOPs of a model's training step and evaluation, cached by structure.

    ``structure`` is anything hashable that changes exactly when the model's arithmetic does
    (for a growing model, `growth_structure`: which slots hold a seed, of which blueprint, at
    which stage).
    """

    _train: dict[Hashable, PassFlops] = attrs.field(factory=dict)
    _evaluate: dict[Hashable, int] = attrs.field(factory=dict)

    def train_step(self, model: nn.Module, sample: torch.Tensor, structure: Hashable) -> PassFlops:
        """Forward and backward FLOPs of one training sample."""
        key = (structure, tuple(sample.shape), sample.dtype)
        if key not in self._train:
            self._train[key] = count_pass(model, sample, backward=True)
        return self._train[key]

    def evaluate(
        self,
        model: nn.Module,
        sample: torch.Tensor,
        structure: Hashable,
        call: Callable[[nn.Module, torch.Tensor], torch.Tensor],
    ) -> int:
        """Forward FLOPs of one sample through ``call`` (for the engine, the fused evaluation
        of every alpha configuration)."""
        key = (structure, tuple(sample.shape), sample.dtype)
        if key not in self._evaluate:
            self._evaluate[key] = count_pass(model, sample, backward=False, call=call).forward
        return self._evaluate[key]


def growth_structure(records: Mapping[str, SlotRecord]) -> tuple[tuple[str, str, int], ...]:
    """A growing model's structure: (slot, blueprint, stage) of every seed with a module."""
    return tuple(
        (slot_id, record.state.blueprint_id, int(record.state.stage))
        for slot_id, record in sorted(records.items())
        if record.module is not None and record.state is not None
    )
