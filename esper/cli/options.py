"""Options and helpers shared by the commands that read a run configuration."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def config_options(func: F) -> F:
    """``--preset NAME``, ``--config FILE`` (repeatable, later files win) and ``--set KEY=VALUE``
    (repeatable), layered in that order."""
    func = click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override one config value, e.g. --set run.seed=7 (value read as TOML). Repeatable.",
    )(func)
    func = click.option(
        "--config",
        "config_files",
        multiple=True,
        type=click.Path(dir_okay=False, path_type=str),
        metavar="FILE",
        help="TOML config file. Repeatable; later files override earlier ones.",
    )(func)
    func = click.option(
        "--preset",
        default=None,
        metavar="NAME",
        help="Start from a named configuration (`esper presets list`); --config and --set "
        "apply over it.",
    )(func)
    return func


def compile_option(func: F) -> F:
    """``--compile``: torch.compile the host, its seeds and the policy (``compile.enabled``)."""
    return click.option(
        "--compile",
        "compile_",
        is_flag=True,
        default=False,
        help="torch.compile the host, its seeds and the policy network (config [compile]).",
    )(func)


def compile_overrides(compile_: bool) -> list[str]:
    """The ``--set`` override ``--compile`` stands for."""
    return ["compile.enabled=true"] if compile_ else []


def toml_string(value: str) -> str:
    """``value`` as a TOML literal for ``--set`` (a JSON string is a valid TOML basic string)."""
    return json.dumps(value)


def explicit_topologies(manager: Any) -> set[str]:
    """The topologies of the hosts and blueprints that plugins named with ``--plugin`` add."""
    return {
        reg.spec.topology
        for reg in manager.registrations
        if reg.spec.kind in ("blueprints", "hosts") and manager.infos[reg.plugin].explicit
    }
