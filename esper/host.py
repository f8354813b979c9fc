"""The host protocol: how a host network declares where seeds may grow.

A host is an ordinary ``nn.Module`` that subclasses `SlottedHost`. It lists its injection
points (`injection_points`) and, in ``forward``, passes the features at each point through
``self.slot(slot_id, x)``. No graph tracing is involved: the host says where its slots are.

``slot`` is the identity for a slot that holds nothing (a dormant slot): no module call, no
parameters, no hooks, so a host with every slot dormant costs the same as the plain network.
`esper.model.MorphogeneticModel` attaches seed slots through `attach_slot`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs
import torch
from torch import nn

SLOT_ID_RE = re.compile(r"^r(\d+)c(\d+)$")
SURFACES = ("block_end", "pre_pool", "post_pool", "post_attn", "post_mlp")


def parse_slot_id(slot_id: str) -> tuple[int, int]:
    """``"r0c2"`` -> ``(0, 2)``; anything else (including legacy ``early``/``mid``/``late``) raises."""
    match = SLOT_ID_RE.match(slot_id)
    if match is None:
        raise ValueError(f"slot id {slot_id!r} is not of the form r<row>c<col> (e.g. r0c1)")
    return int(match.group(1)), int(match.group(2))


def _check_slot_id(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
    parse_slot_id(value)


@attrs.frozen(kw_only=True)
class InjectionPoint:
    """One place in a host where a seed can grow.

    ``channels`` is the feature width at that point (conv channels or model dim);
    ``order`` drives the slot's index in the controller's action head; ``position`` in [0, 1]
    is for display only.
    """

    slot_id: str = attrs.field(validator=_check_slot_id)
    channels: int = attrs.field(validator=attrs.validators.gt(0))
    surface: str = attrs.field(validator=attrs.validators.in_(SURFACES))
    order: int = attrs.field(validator=attrs.validators.ge(0))
    position: float = attrs.field(
        default=0.0, validator=[attrs.validators.ge(0.0), attrs.validators.le(1.0)]
    )

    @property
    def row(self) -> int:
        return parse_slot_id(self.slot_id)[0]

    @property
    def col(self) -> int:
        return parse_slot_id(self.slot_id)[1]


class SlottedHost(nn.Module):
    """Base class for hosts. Subclasses set ``topology`` and implement `injection_points`."""

    topology: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.slots = nn.ModuleDict()

    def injection_points(self) -> Sequence[InjectionPoint]:
        raise NotImplementedError

    def slot(self, slot_id: str, x: torch.Tensor) -> torch.Tensor:
        # A dormant slot is simply absent from the ModuleDict: identity, nothing called.
        if slot_id in self.slots:
            out: torch.Tensor = self.slots[slot_id](x)
            return out
        return x

    def attach_slot(self, slot_id: str, module: nn.Module) -> None:
        if slot_id not in {p.slot_id for p in self.injection_points()}:
            raise KeyError(f"{type(self).__name__} has no slot {slot_id!r}")
        self.slots[slot_id] = module

    def detach_slot(self, slot_id: str) -> None:
        if slot_id in self.slots:
            del self.slots[slot_id]

    def validate_injection_points(self) -> None:
        """Raise ValueError if ids or orders repeat (call from a host's tests)."""
        points = list(self.injection_points())
        ids = [p.slot_id for p in points]
        orders = [p.order for p in points]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{type(self).__name__}: duplicate slot ids {ids}")
        if len(set(orders)) != len(orders):
            raise ValueError(f"{type(self).__name__}: duplicate slot orders {orders}")
