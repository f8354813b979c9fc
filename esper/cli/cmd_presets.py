"""``esper presets list|show``: the named configurations plugins ship.

``esper presets show NAME`` prints a preset as shipped (its TOML file, comments included, when
its record names one); ``esper config show --preset NAME`` prints it resolved and validated.
Neither imports torch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from esper.cli.main import get_manager
from esper.errors import PluginError


@click.group()
def presets() -> None:
    """Named configurations: `esper run --preset NAME` starts from one."""


def preset_rows(registries: Any) -> list[dict[str, Any]]:
    """One row per preset, as ``--format json`` prints them, sorted by id."""
    entries = list(registries["presets"])
    names = [entry.name for entry in entries]
    return [
        {
            "id": entry.id,
            # The name users type: the bare name where it is unique, else the full id.
            "name": entry.name if names.count(entry.name) == 1 else entry.id,
            "command": entry.spec.command,
            "plugin": entry.plugin,
            "summary": entry.spec.summary,
        }
        for entry in entries
    ]


@presets.command("list")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_context
def list_(ctx: click.Context, fmt: str) -> None:
    """List presets: name, the command each is meant for, plugin and summary."""
    from esper.registry import Registries

    rows = preset_rows(Registries(get_manager(ctx)))
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no presets installed")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="presets (esper run --preset NAME)")
    table.add_column("name", no_wrap=True)
    table.add_column("command", no_wrap=True)
    table.add_column("plugin", no_wrap=True)
    table.add_column("summary")
    for row in rows:
        table.add_row(row["name"], row["command"], row["plugin"], row["summary"])
    Console(file=sys.stdout).print(table)


@presets.command()
@click.argument("name")
@click.pass_context
def show(ctx: click.Context, name: str) -> None:
    """Print one preset as shipped, before files, overrides and defaults.

    `esper config show --preset NAME` prints it resolved and validated.
    """
    from esper.config.presets import preset_entry, preset_raw
    from esper.registry import Registries

    entry = preset_entry(Registries(get_manager(ctx)), name)
    if entry.spec.path is not None:
        path = Path(entry.spec.path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PluginError(f"preset {entry.id!r}: cannot read {str(path)!r}: {exc}") from None
        click.echo(f"# preset {entry.id} ({path})\n{text}", nl=False)
        return
    import tomli_w

    click.echo(f"# preset {entry.id}\n{tomli_w.dumps(preset_raw(entry))}", nl=False)
