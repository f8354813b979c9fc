"""The check of ``required_plugins = ["esper-foo>=1.2"]``: each distribution a config names
must be installed, at a version its requirement allows."""

from __future__ import annotations

import importlib.metadata as md
from collections.abc import Sequence

from packaging.requirements import InvalidRequirement, Requirement

from esper.config.problems import ROOT


def check_required_plugins(required: Sequence[str]) -> list[str]:
    """Problems with ``required_plugins = ["esper-foo>=1.2"]``: missing or wrong-version distributions."""
    problems: list[str] = []
    for i, text in enumerate(required):
        where = f"{ROOT}.required_plugins[{i}]"
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            problems.append(f"{where}: not a requirement: {exc}")
            continue
        try:
            installed = md.version(req.name)
        except md.PackageNotFoundError:
            problems.append(f"{where}: {req.name} is not installed (pip install {text!r})")
            continue
        if req.specifier and not req.specifier.contains(installed, prereleases=True):
            problems.append(f"{where}: {req.name} {installed} is installed, {text!r} is required")
    return problems
