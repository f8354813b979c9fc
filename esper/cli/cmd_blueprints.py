"""``esper blueprints``: the seed blueprints installed plugins provide, with exact sizes.

Parameter counts come from a blueprint's ``param_formula`` when its record has one (no torch
import); otherwise the blueprint is built at ``--dim`` and its parameters are counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import click

from esper.cli.main import get_manager
from esper.errors import RegistryError
from esper.registry.specs import BlueprintSpec, HostSpec

if TYPE_CHECKING:
    from esper.registry import Registries

#: Width used when --dim is not given and no host of the blueprint's topology declares its
#: `esper.registry.specs.HostSpec.feature_width`.
FALLBACK_DIM = 64


def default_widths(hosts: Iterable[HostSpec]) -> dict[str, int]:
    """Topology -> the feature width its hosts declare (the first host that declares one)."""
    widths: dict[str, int] = {}
    for spec in hosts:
        if spec.feature_width is not None:
            widths.setdefault(spec.topology, spec.feature_width)
    return widths


def param_count(spec: BlueprintSpec, dim: int) -> int:
    """Exact parameter count of ``spec`` at width ``dim`` (formula if declared, else built)."""
    count = spec.param_count(dim)
    if count is not None:
        return count
    module = spec.load_factory()(dim)
    # Deduplicate shared (tied) parameters, as nn.Module.parameters() does.
    return sum(int(p.numel()) for p in module.parameters())


@click.command("blueprints")
@click.option("--topology", "-t", metavar="T", help="Only blueprints for hosts of this topology.")
@click.option(
    "--dim",
    type=click.IntRange(min=1),
    metavar="N",
    help="Width (channels / embedding size) for the parameter counts [default: the widest slot "
    f"of the default host of the blueprint's topology, else {FALLBACK_DIM}].",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")
@click.pass_context
def blueprints(ctx: click.Context, topology: str | None, dim: int | None, as_json: bool) -> None:
    """List seed blueprints: id, topology, plugin, identity at birth, parameters at --dim."""
    from esper.registry import Registries

    rows = blueprint_rows(Registries(get_manager(ctx)), topology, dim)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no blueprints installed")
        return
    _echo_table(rows)
    for r in rows:
        if r["error"]:
            click.echo(f"{r['id']}: cannot build at dim {r['dim']}: {r['error']}", err=True)


def blueprint_rows(
    registries: Registries, topology: str | None, dim: int | None
) -> list[dict[str, Any]]:
    """One row per blueprint (of ``topology``, if given), as ``--json`` prints them, sorted by
    topology and size; a blueprint that cannot be built has ``params`` None and an ``error``."""
    entries = list(registries["blueprints"])
    host_widths = default_widths(entry.spec for entry in registries["hosts"])
    if topology is not None:
        known = sorted({e.spec.topology for e in entries})
        entries = [e for e in entries if e.spec.topology == topology]
        if not entries:
            raise RegistryError(
                f"no blueprints for topology {topology!r}; known topologies: "
                f"{', '.join(known) or 'none'}"
            )

    rows: list[dict[str, Any]] = []
    for entry in entries:
        spec: BlueprintSpec = entry.spec
        width = dim if dim is not None else host_widths.get(spec.topology, FALLBACK_DIM)
        try:
            count: int | None = param_count(spec, width)
            error = None
        except Exception as exc:  # a blueprint that cannot be imported or built at this width
            count, error = None, f"{type(exc).__name__}: {exc}"
        rows.append(
            {
                "id": entry.id,
                "name": spec.name,
                "topology": spec.topology,
                "plugin": entry.plugin,
                "identity_at_birth": spec.identity_at_birth,
                "dim": width,
                "params": count,
                "error": error,
                "summary": spec.summary,
            }
        )
    rows.sort(key=lambda r: (r["topology"], r["params"] is None, r["params"] or 0, r["id"]))
    return rows


def _echo_table(rows: list[dict[str, Any]]) -> None:
    """The rows as a plain, aligned table on stdout."""
    headers = ("id", "topology", "plugin", "identity", "dim", "params")
    table = [
        (
            r["id"],
            r["topology"],
            r["plugin"],
            "yes" if r["identity_at_birth"] else "no",
            str(r["dim"]),
            f"{r['params']:,}" if r["params"] is not None else "n/a",
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(headers)]
    right = {4, 5}  # numbers right-aligned
    for row in [headers, *table]:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        click.echo("  ".join(cells).rstrip())
