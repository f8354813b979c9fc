"""Building the module of a new seed for one slot of the host.

`build_seed` makes a blueprint's module on the host's device and dtype, in the slot's memory
format, and wraps it in its `SeedModule`; `probe_seed` runs it once on zeros to check that it
keeps the slot's feature shape; `zero_last_layer` makes a multiplicative seed start as the
identity. The model calls them at germination and when it rebuilds seeds from a saved state.
"""

from __future__ import annotations

import torch
from torch import nn

from esper.errors import EsperError
from esper.growth.catalog import BlueprintCatalog
from esper.growth.host import InjectionPoint
from esper.growth.seed_module import SeedModule
from esper.lifecycle.alpha import AlphaAlgorithm


def host_reference(host: nn.Module) -> torch.Tensor:
    """A tensor with the host's device and dtype (its first parameter; a CPU scalar if none)."""
    for p in host.parameters():
        return p
    return torch.zeros(())


def zero_last_layer(module: nn.Module) -> None:
    """Zero the weights and bias of the module's last linear or convolution layer."""
    last = None
    for sub in module.modules():
        if isinstance(sub, nn.Linear | nn.Conv1d | nn.Conv2d):
            last = sub
    if last is not None:
        with torch.no_grad():
            last.weight.zero_()
            if last.bias is not None:
                last.bias.zero_()


def probe_seed(module: nn.Module, point: InjectionPoint, reference: torch.Tensor) -> None:
    """Run a new seed once on zeros shaped like the slot's features: it must keep the shape."""
    x = torch.zeros(point.probe_shape, device=reference.device, dtype=reference.dtype)
    x = x.contiguous(memory_format=point.torch_memory_format)
    was_training = module.training
    module.eval()
    with torch.no_grad():
        y = module(x)
    module.train(was_training)
    if not isinstance(y, torch.Tensor) or y.shape != x.shape:
        got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise EsperError(
            f"blueprint changed the feature shape {tuple(x.shape)} -> {got} at slot "
            f"{point.slot_id}; seeds must keep it"
        )


def build_seed(
    catalog: BlueprintCatalog,
    point: InjectionPoint,
    blueprint: str,
    algorithm: AlphaAlgorithm,
    reference: torch.Tensor,
) -> SeedModule:
    """The blueprint's module for the slot at ``point``, on the device and dtype of
    ``reference``, in the slot's memory format, wrapped in its `SeedModule`."""
    seed = catalog.build(blueprint, point.channels)
    seed = seed.to(device=reference.device, dtype=reference.dtype)
    if point.memory_format != "contiguous":
        # (torch's stubs lack the memory_format overload of Module.to)
        seed = seed.to(memory_format=point.torch_memory_format)  # type: ignore[call-overload,unused-ignore]
    return SeedModule(seed, point.channels, algorithm, channel_dim=point.channel_dim).to(
        device=reference.device
    )
