"""Options the engine takes from a run's config: plain attrs records, no torch.

`esper.config` structures the ``[compile]`` table of a config file into `CompileSection`; the
engine reads it (`esper.engine.compilation`).
"""

from __future__ import annotations

import attrs
from attrs import validators as v

#: ``torch.compile`` modes a run may ask for (``default`` passes no mode).
COMPILE_MODES: tuple[str, ...] = (
    "default",
    "reduce-overhead",
    "max-autotune",
    "max-autotune-no-cudagraphs",
)


@attrs.frozen(kw_only=True)
class CompileSection:
    """``torch.compile`` of the host with its seeds and of the policy network (``--compile``)."""

    enabled: bool = attrs.field(default=False, validator=v.instance_of(bool))
    #: A torch.compile backend: inductor (the default), or aot_eager / eager to debug.
    backend: str = attrs.field(default="inductor", validator=v.min_len(1))
    mode: str = attrs.field(default="default", validator=v.in_(COMPILE_MODES))
    #: Graphs one compiled function may accumulate; configurations seen after that run
    #: eagerly (torch's ``recompile_limit``). A seed's lifecycle costs five graphs.
    limit: int = attrs.field(default=64, validator=[v.instance_of(int), v.gt(0), v.le(4096)])


__all__ = ["COMPILE_MODES", "CompileSection"]
