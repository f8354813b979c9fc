"""``torch.compile`` for a run (``--compile``): the host with its seeds, and the policy network.

What is compiled: the model's training forward (host plus every seed), through
``nn.Module.compile`` so that parameter names, checkpoints and optimizers do not change, and
the policy network's forward. Evaluation's fused counterfactual forward stays eager: its
alpha configurations are Python data that change from epoch to epoch, and it runs once per
epoch under ``no_grad``.

Why the number of graphs stays small:

* parameters are graph inputs (dynamo inlines built-in modules), so model instances of the
  same structure share graphs: the static and grown arms of ``esper run``, the K environments
  of ``esper train``;
* the batch dimension is marked dynamic (`mark_batch_dynamic`), so an epoch's shorter last
  batch reuses the graph instead of compiling a second one;
* alpha lives in a 0-dim buffer (`esper.growth.seed_module`), so the blend ramp never recompiles.

A new graph is compiled only when a model's *structure* changes: a seed germinates into a
slot, or changes stage in a way that changes its forward. One seed's whole lifecycle, dormant
to fossilized, costs 5 graphs (``esper bench`` figure ``compile_lifecycle``): dormant,
germinated, TRAINING, blending (HOLDING shares it), fossilized. A run costs one graph per
distinct slot configuration it visits, and one more per configuration if an epoch's last
batch has fewer than 16 rows (torch's convolution picks another kernel below that). `CompileSection.limit` bounds the graphs
of any one compiled function (torch's ``recompile_limit``): configurations beyond it run
eagerly, and `CompileWatch` reports the count so a run shows when that happened.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from esper.engine.options import CompileSection


def configure(settings: CompileSection) -> None:
    """Apply the run's graph limit to torch (process-wide, like the compiler's caches)."""
    if settings.enabled:
        import torch._dynamo

        torch._dynamo.config.recompile_limit = settings.limit


def compile_module(module: nn.Module, settings: CompileSection, *, dynamic: bool | None) -> None:
    """Compile ``module``'s forward in place (its state dict and parameters stay as they are)."""
    if not settings.enabled:
        return
    options: dict[str, Any] = {"backend": settings.backend, "dynamic": dynamic}
    if settings.mode != "default" and settings.backend == "inductor":  # others take no mode
        options["mode"] = settings.mode
    module.compile(**options)


def is_compiled(module: nn.Module) -> bool:
    """Whether ``module.compile()`` has been called on ``module``."""
    return getattr(module, "_compiled_call_impl", None) is not None


def mark_batch_dynamic(x: torch.Tensor) -> None:
    """Let dim 0 vary without a recompile (a hint: torch may still specialise it)."""
    import torch._dynamo

    torch._dynamo.maybe_mark_dynamic(x, 0)


def graphs_compiled() -> int:
    """Graphs dynamo has compiled in this process so far (every compiled function together)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


class CompileWatch:
    """Counts the graphs compiled since it was created; `poll` returns those new since the last poll."""

    def __init__(self, settings: CompileSection) -> None:
        self.settings = settings
        self._start = graphs_compiled() if settings.enabled else 0
        self._seen = self._start

    @property
    def total(self) -> int:
        """Graphs compiled since this watch started."""
        return self._seen - self._start

    @property
    def limit_reached(self) -> bool:
        """Whether a compiled function may have hit the limit (then new shapes run eagerly)."""
        return self.settings.enabled and self.total >= self.settings.limit

    def poll(self) -> int:
        if not self.settings.enabled:
            return 0
        now = graphs_compiled()
        new, self._seen = now - self._seen, now
        return new

    def summary(self) -> dict[str, Any]:
        """For ``summary.json``: settings, graphs compiled, and whether the limit was reached."""
        return {
            "enabled": self.settings.enabled,
            "backend": self.settings.backend,
            "mode": self.settings.mode,
            "limit": self.settings.limit,
            "graphs": self.total,
            "limit_reached": self.limit_reached,
        }
