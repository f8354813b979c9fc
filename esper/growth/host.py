"""The host protocol: how a host network declares where seeds may grow.

A host is an ordinary ``nn.Module`` that subclasses `SlottedHost`. It lists its injection
points (`injection_points`) and, in ``forward``, passes the features at each point through
``self.slot(slot_id, x)``. No graph tracing is involved: the host says where its slots are.

``slot`` is the identity for a slot that holds nothing (a dormant slot): no module call, no
parameters, no hooks, so a host with every slot dormant costs the same as the plain network.
`esper.growth.model.MorphogeneticModel` attaches seed slots through `attach_slot`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs
import torch
from torch import nn

from esper.errors import EsperError

SLOT_ID_RE = re.compile(r"^r(\d+)c(\d+)$")
#: Surfaces the built-in hosts use; a host may name its own (the surface is for display only).
SURFACES = ("block_end", "pre_pool", "post_pool", "post_attn", "post_mlp")
_SURFACE_RE = re.compile(r"^[a-z][a-z0-9_]*$")

#: Memory formats a host may declare, by name (config files and records stay plain data).
MEMORY_FORMATS: dict[str, torch.memory_format] = {
    "contiguous": torch.contiguous_format,
    "channels_last": torch.channels_last,
    "channels_last_3d": torch.channels_last_3d,
}
#: The rank each channels-last format applies to.
_FORMAT_RANK = {"channels_last": 4, "channels_last_3d": 5}


def parse_slot_id(slot_id: str) -> tuple[int, int]:
    """``"r0c2"`` -> ``(0, 2)``; anything else (including legacy ``early``/``mid``/``late``) raises."""
    match = SLOT_ID_RE.match(slot_id)
    if match is None:
        raise ValueError(f"slot id {slot_id!r} is not of the form r<row>c<col> (e.g. r0c1)")
    return int(match.group(1)), int(match.group(2))


def memory_format(name: str) -> torch.memory_format:
    """The torch memory format named ``name`` (one of `MEMORY_FORMATS`)."""
    try:
        return MEMORY_FORMATS[name]
    except KeyError:
        raise ValueError(
            f"unknown memory format {name!r}; known: {', '.join(MEMORY_FORMATS)}"
        ) from None


def input_memory_format(host: SlottedHost) -> torch.memory_format:
    """The memory format ``host`` declares for its input; an unknown one names the host."""
    try:
        return memory_format(host.input_memory_format)
    except ValueError as exc:
        raise EsperError(f"host {type(host).__name__}: input_memory_format: {exc}") from None


def _check_slot_id(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
    parse_slot_id(value)


def _check_surface(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
    if not _SURFACE_RE.match(value):
        raise ValueError(f"surface must be a lower-case name like 'block_end', got {value!r}")


def _shape(value: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(n) for n in value)


@attrs.frozen(kw_only=True)
class InjectionPoint:
    """One place in a host where a seed can grow, and what the core must know about it.

    ``channels`` is the feature width at that point (conv channels, model width, hidden
    units); ``order`` drives the slot's index in the controller's action head; ``surface``
    and ``position`` in [0, 1] are for display only.

    The layout of the features, which the core never guesses from the host's kind:

    * ``probe_shape``: the shape of a small batch of features there, batch first, with the
      spatial or sequence sizes at any small value (``(2, 64, 8, 8)``, ``(2, 8, 128)``). A new
      seed is run once on zeros of this shape and must return the same shape. Default
      ``(2, channels)``: ``[B, C]`` features.
    * ``channel_dim``: the dimension that holds the ``channels`` features (1 for ``[B, C]``
      and ``[B, C, H, W]``, -1 for ``[B, T, C]``). The gated blend pools over every other
      non-batch dimension.
    * ``memory_format``: ``"contiguous"``, ``"channels_last"`` (4-D) or
      ``"channels_last_3d"`` (5-D); new seeds are put in this format.
    * ``isolate_while_blending``: whether a blending seed still sees detached features (its
      gradients never reach the host: isolation until fossilization) or co-adapts with the
      host. Seeds in TRAINING are isolated either way.
    """

    slot_id: str = attrs.field(validator=_check_slot_id)
    channels: int = attrs.field(validator=attrs.validators.gt(0))
    surface: str = attrs.field(validator=_check_surface)
    order: int = attrs.field(validator=attrs.validators.ge(0))
    position: float = attrs.field(
        default=0.0, validator=[attrs.validators.ge(0.0), attrs.validators.le(1.0)]
    )
    probe_shape: tuple[int, ...] = attrs.field(default=(), converter=_shape)
    channel_dim: int = attrs.field(default=1, validator=attrs.validators.instance_of(int))
    memory_format: str = attrs.field(
        default="contiguous", validator=attrs.validators.in_(tuple(MEMORY_FORMATS))
    )
    isolate_while_blending: bool = attrs.field(
        default=True, validator=attrs.validators.instance_of(bool)
    )

    def __attrs_post_init__(self) -> None:
        if not self.probe_shape:
            object.__setattr__(self, "probe_shape", (2, self.channels))
        shape, where = self.probe_shape, f"injection point {self.slot_id}"
        if len(shape) < 2 or any(n < 1 for n in shape):
            raise ValueError(
                f"{where}: probe_shape must be a batch-first shape of positive sizes with at "
                f"least a feature dimension, got {shape}"
            )
        if not -len(shape) < self.channel_dim < len(shape) or self.channel_dim % len(shape) == 0:
            raise ValueError(
                f"{where}: channel_dim {self.channel_dim} is not a non-batch dimension of "
                f"probe_shape {shape}"
            )
        if shape[self.channel_dim] != self.channels:
            raise ValueError(
                f"{where}: probe_shape {shape} has {shape[self.channel_dim]} features in "
                f"channel_dim {self.channel_dim}, but channels is {self.channels}"
            )
        rank = _FORMAT_RANK.get(self.memory_format)
        if rank is not None and len(shape) != rank:
            raise ValueError(
                f"{where}: memory_format {self.memory_format!r} needs {rank}-D features, "
                f"probe_shape {shape} has {len(shape)}"
            )

    @property
    def feature_dim(self) -> int:
        """`channel_dim` as a non-negative index into the features' shape."""
        return self.channel_dim % len(self.probe_shape)

    @property
    def torch_memory_format(self) -> torch.memory_format:
        return memory_format(self.memory_format)


class SlottedHost(nn.Module):
    """Base class for hosts. Subclasses set ``topology`` and implement `injection_points`.

    ``topology`` only matches blueprints to hosts (a blueprint grows in hosts of its
    topology); everything the core needs to know about the features at a slot comes from the
    host's `InjectionPoint` records. ``input_memory_format`` names the memory format the host
    wants its input batches in: the engine converts the task's data to it once, when the
    data moves to the device.
    """

    topology: str = ""
    input_memory_format: str = "contiguous"

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
