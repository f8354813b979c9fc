"""Old module paths keep working for one minor release, with a DeprecationWarning.

Version 0.1 kept most modules at the top of `esper` (``esper.host``, ``esper.task``, ...);
0.2's layers moved them into packages. A plugin written against an old path still imports:
`install` puts a finder on ``sys.meta_path`` that answers for each old name with the module now
holding that code (the same module object, so classes stay identical) after warning once. New
code imports from `esper.plugin`; the finder and this table go in 0.3.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

#: Old module -> the module that holds its code now.
MOVED: dict[str, str] = {
    "esper.actions": "esper.contracts.actions",
    "esper.action_space": "esper.rl.action_space",
    "esper.agent": "esper.contracts.agent",
    "esper.alpha": "esper.lifecycle.alpha",
    "esper.atomic": "esper.rundir.atomic",
    "esper.attribution": "esper.growth.attribution",
    "esper.catalog": "esper.growth.catalog",
    "esper.checkpoint": "esper.rundir.checkpoint",
    "esper.compilation": "esper.engine.compilation",
    "esper.distributions": "esper.rl.distributions",
    "esper.engine.growth_run": "esper.recipes.grow",
    "esper.engine.signals": "esper.contracts.signals",
    "esper.engine.training_run": "esper.recipes.train",
    "esper.governor": "esper.contracts.governor",
    "esper.gradient_health": "esper.growth.gradient_health",
    "esper.hookspecs": "esper.registry.hookspecs",
    "esper.host": "esper.growth.host",
    "esper.interrupt": "esper.recipes.interrupt",
    "esper.logs": "esper.telemetry.logs",
    "esper.manager": "esper.registry.manager",
    "esper.model": "esper.growth.model",
    "esper.normalization": "esper.rl.normalization",
    "esper.observation": "esper.rl.observation",
    "esper.paths": "esper.rundir.paths",
    "esper.policy": "esper.contracts.policy",
    "esper.records": "esper.registry.specs",
    "esper.reward": "esper.contracts.reward",
    "esper.rollout": "esper.rl.rollout",
    "esper.run_context": "esper.registry.context",
    "esper.run_session": "esper.rundir.session",
    "esper.runner": "esper.contracts.runner",
    "esper.runs": "esper.rundir.scan",
    "esper.seed_module": "esper.growth.seed_module",
    "esper.task": "esper.contracts.task",
}


class _Moved(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old names in `MOVED` and loads them as the modules they moved to."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = MOVED[spec.name]
        warnings.warn(
            f"{spec.name} moved to {new} in esper 0.2 and will be removed in 0.3; "
            "import from esper.plugin instead",
            DeprecationWarning,
            stacklevel=2,
        )
        # The module itself, not a copy: its classes stay the ones the rest of esper uses.
        # (The import system leaves its existing __name__ and __spec__ alone.)
        return importlib.import_module(new)

    def exec_module(self, module: ModuleType) -> None:
        pass  # already executed under its new name


def install() -> None:
    """Put the finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, _Moved) for finder in sys.meta_path):
        sys.meta_path.append(_Moved())
