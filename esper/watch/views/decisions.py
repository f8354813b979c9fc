"""The decisions panel: the controller's actions, seed events and the governor, newest last."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text

from esper.watch.model import RunState
from esper.watch.views.style import LEVEL_STYLES


def decisions_panel(state: RunState) -> RenderableType:
    log = state.decisions
    if not log.entries:
        return Text("no decision yet", style="dim")
    arm_w = max(3, *(len(d.arm or "") for d in log.entries))
    text = Text()
    if log.total > len(log.entries):
        text.append(f"(the last {len(log.entries)} of {log.total} lines)\n", style="dim")
    text.append(f"{'epoch':>5}  {'arm'.ljust(arm_w)}  event\n", style="bold")
    for i, decision in enumerate(log.entries):
        epoch = "" if decision.epoch is None else str(decision.epoch)
        text.append(f"{epoch:>5}  {(decision.arm or '').ljust(arm_w)}  ")
        text.append(decision.text, style=LEVEL_STYLES[decision.level])
        if i < len(log.entries) - 1:
            text.append("\n")
    return text
