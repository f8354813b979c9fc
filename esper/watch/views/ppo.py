"""The PPO panel of ``esper train``: the learner's figures per update, and the action mix.

One row per figure: its last value and a sparkline of its last updates (as many as fit). The
figures are the update's mean reward and final accuracy and the agent's metrics: approximate KL,
clip fraction, explained variance (of the critic before the update) and the normalised entropy
of each action head.
"""

from __future__ import annotations

import math

import attrs
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.text import Text

from esper.report.palette import OP_COLORS
from esper.watch.model import RunState
from esper.watch.views.braille import sparkline
from esper.watch.views.fmt import num
from esper.watch.views.style import OTHER_COLORS

#: ``(label, metric, number format)`` of the rows above the entropies.
FIGURES = (
    ("mean reward", "mean_reward", "+.3f"),
    ("mean accuracy %", "mean_accuracy", ".2f"),
    ("approx. KL", "approx_kl", ".2e"),
    ("clip fraction", "clip_fraction", ".3f"),
    ("explained var.", "explained_variance", "+.3f"),
)


@attrs.frozen
class SparkRows:
    rows: list[tuple[str, list[float], str]]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        label_w = max(len(label) for label, _, _ in self.rows)
        value_w = 9
        width = max(4, options.max_width - label_w - value_w - 4)
        for label, values, spec in self.rows:
            finite = [v for v in values if math.isfinite(v)]
            line = Text(
                f"{label.ljust(label_w)}  {num(finite[-1] if finite else None, spec):>{value_w}}  "
            )
            line.append(sparkline(values, width), style="#1f77b4")
            yield line


@attrs.frozen
class ActionMix:
    counts: list[tuple[str, int]]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        total = sum(n for _, n in self.counts)
        if not total:
            yield Text("  no action yet", style="dim")
            return
        width = max(10, options.max_width - 2)
        bar = Text("  ")
        used = 0
        for i, (op, n) in enumerate(self.counts):
            cells = width - used if i == len(self.counts) - 1 else round(width * n / total)
            color = OP_COLORS.get(op, OTHER_COLORS[i % len(OTHER_COLORS)])
            bar.append(" " * cells, style=f"on {color}")
            used += cells
        yield bar
        legend = Text("  ")
        for i, (op, n) in enumerate(self.counts):
            legend.append("\u25a0 ", style=OP_COLORS.get(op, OTHER_COLORS[i % len(OTHER_COLORS)]))
            legend.append(f"{op} {n} ({n / total:.0%})   ")
        yield legend


def ppo_panel(state: RunState) -> RenderableType:
    if not state.training:
        return Text("esper run has no learner: this panel follows esper train", style="dim")
    ppo, overview = state.ppo, state.overview
    total = overview.total_updates
    head = Text(
        f"update {overview.updates} / {'?' if total is None else total} \u00b7 "
        f"{overview.episodes} episodes",
        style="bold",
    )
    parts: list[RenderableType] = [head]
    if not ppo.updates:
        parts.append(Text("no update yet", style="dim"))
    else:
        rows = [(label, ppo.series(key), spec) for label, key, spec in FIGURES]
        rows += [(f"entropy {h}", ppo.series(f"entropy_{h}"), ".3f") for h in ppo.heads()]
        parts.append(SparkRows(rows))
    which = f"update {ppo.updates[-1].update + 1}" if ppo.updates else "episodes so far"
    parts += [Text(f"action mix ({which})", style="bold"), ActionMix(ppo.action_mix())]
    if ppo.imitation is not None:
        agreement = ppo.imitation.get("agreement_heldout")
        share = f"{agreement:.1%}" if isinstance(agreement, int | float) else "-"
        parts.append(
            Text(
                f"imitation warm start: {ppo.imitation.get('teacher')}, held-out agreement {share}"
            )
        )
    return Group(*parts)
