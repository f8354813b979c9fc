"""Each panel of the dashboard as a Rich renderable of a `RunState` (no textual here).

One module per panel (`overview`, `curves`, `slots`, `decisions`, `ppo`, `envs`) and what they
share: `braille` (the canvas and sparklines), `chart` (a line chart), `style`, `fmt`. `PANELS`
lists them in the order the dashboard tabs through them; `printing` writes them all as text
(``esper watch --once``).
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import RenderableType

from esper.watch.model import RunState
from esper.watch.views.curves import curves_panel
from esper.watch.views.decisions import decisions_panel
from esper.watch.views.envs import envs_panel
from esper.watch.views.ppo import ppo_panel
from esper.watch.views.slots import slots_panel

#: Panels after the overview (which also needs the run's name and the clock): ``(id, title,
#: view)``; ``ppo`` is shown for esper train runs only.
PANELS: tuple[tuple[str, str, Callable[[RunState], RenderableType]], ...] = (
    ("curves", "Curves", curves_panel),
    ("slots", "Slots", slots_panel),
    ("decisions", "Decisions", decisions_panel),
    ("ppo", "PPO", ppo_panel),
    ("envs", "Envs", envs_panel),
)
TRAIN_ONLY = frozenset({"ppo"})

__all__ = ["PANELS", "TRAIN_ONLY"]
