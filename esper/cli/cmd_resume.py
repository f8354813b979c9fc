"""``esper resume``: continue a stopped ``esper run`` or ``esper train`` from its checkpoint."""

from __future__ import annotations

from pathlib import Path

import click

from esper.cli.cmd_run import execute_growth
from esper.cli.cmd_train import train
from esper.cli.main import get_manager


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--quiet", is_flag=True, help="No per-epoch progress lines.")
@click.pass_context
def resume(ctx: click.Context, run_dir: Path, quiet: bool) -> None:
    """Continue a stopped run (esper run or esper train) from its last checkpoint."""
    from esper.config.loading import load_raw, structure
    from esper.errors import EsperError
    from esper.registry import Registries
    from esper.rundir import layout

    config_path = run_dir / layout.CONFIG
    if not config_path.exists():
        raise EsperError(f"{run_dir} is not a run directory (no config.toml)")
    if (run_dir / layout.POLICY_CHECKPOINT).exists() and not (
        run_dir / layout.RUN_CHECKPOINT
    ).exists():
        ctx.invoke(train, resume_dir=run_dir, quiet=quiet)  # an `esper train` run
        return
    if not (run_dir / layout.RUN_CHECKPOINT).exists():
        # Checked before the session opens, so the run directory is left as it is.
        raise EsperError(
            f"{run_dir} has no checkpoint to resume from (checkpoint.pt or policy.pt): the run "
            "stopped before its first one; start it again"
        )
    from esper.rundir.checkpoint import load_checkpoint

    load_checkpoint(run_dir / layout.RUN_CHECKPOINT)  # unreadable: fail before the session writes
    manager = get_manager(ctx)
    registries = Registries(manager)
    config = structure(load_raw([config_path]), registries, source=str(config_path))
    execute_growth(manager, registries, config, resume_dir=run_dir, quiet=quiet)
