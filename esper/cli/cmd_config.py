"""``esper config show``: the resolved, validated configuration."""

from __future__ import annotations

import json

import click

from esper.cli.main import get_manager
from esper.cli.options import config_options


@click.group()
def config() -> None:
    """Inspect run configuration."""


@config.command()
@config_options
@click.option(
    "--format", "fmt", type=click.Choice(["toml", "json"]), default="toml", show_default=True
)
@click.pass_context
def show(
    ctx: click.Context,
    preset: str | None,
    config_files: tuple[str, ...],
    overrides: tuple[str, ...],
    fmt: str,
) -> None:
    """Print the configuration a run would use, after preset, files, overrides and defaults."""
    import tomli_w

    from esper.config import resolve, unstructure
    from esper.registry import Registries

    resolved = resolve(Registries(get_manager(ctx)), config_files, overrides, preset=preset)
    data = unstructure(resolved)
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(tomli_w.dumps(data), nl=False)
