"""``esper run``: grow a network next to its static self."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from esper.cli.main import get_manager
from esper.cli.options import (
    compile_option,
    compile_overrides,
    config_options,
    explicit_topologies,
    toml_string,
)


def _overrides(
    overrides: tuple[str, ...],
    task: str | None,
    policy: str | None,
    epochs: int | None,
    device: str | None,
    seed: int | None,
    out: str | None,
    static: bool,
    budget_flops: float | None = None,
) -> list[str]:
    extra = list(overrides)
    for key, value in (
        ("task.name", task),
        ("policy.name", policy),
        ("run.device", device),
        ("run.out", out),
    ):
        if value is not None:
            extra.append(f"{key}={toml_string(value)}")
    for key, number in (
        ("run.epochs", epochs),
        ("run.seed", seed),
        ("run.budget_flops", budget_flops),
    ):
        if number is not None:
            extra.append(f"{key}={number}")
    if static:
        extra += ["policy.name='static'", "run.static_baseline=false"]
    return extra


def _print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    lm = summary["task_kind"] == "language_model"
    table = Table(
        title=f"esper run {summary['run_id']} ({summary['task']}, {summary['epochs']} epochs)"
    )
    table.add_column("")
    for arm in ("static", "grown"):
        if arm in summary:
            table.add_column(arm, justify="right")

    def row(label: str, fn: Any) -> None:
        table.add_row(label, *[fn(summary[a]) for a in ("static", "grown") if a in summary])

    if lm:
        row("val perplexity", lambda a: f"{a.get('val_perplexity', float('nan')):.2f}")
    row("val accuracy" + (" (next token)" if lm else ""), lambda a: f"{a['val_accuracy']:.2f}%")
    row("best val accuracy", lambda a: f"{a['best_val_accuracy']:.2f}%")
    row("val loss", lambda a: f"{a['val_loss']:.4f}")
    row("parameters", lambda a: f"{a['params']['total']:,}")
    row("growth ratio", lambda a: f"{a['growth_ratio']:.3f}")
    row("training FLOPs", lambda a: f"{a['flops']['train']:.3e}")
    if summary.get("budget_flops"):
        row("epochs trained", lambda a: str(a["epochs"]))
    row("seeds germinated", lambda a: str(a["seeds"]["germinated"]))
    row("seeds fossilized", lambda a: str(a["seeds"]["fossilized"]))
    row("seeds pruned", lambda a: str(a["seeds"]["pruned"]))
    row("governor rollbacks", lambda a: str(a["rollbacks"]))
    Console(file=sys.stdout).print(table)
    if "static" in summary:
        key = "val_perplexity" if lm else "val_accuracy"
        delta = summary["grown"][key] - summary["static"][key]
        unit = "" if lm else " pp"
        click.echo(
            f"grown - static {key}: {delta:+.2f}{unit}; wall time {summary['wall_time_s']:.1f} s"
        )


@click.command()
@config_options
@click.option("--task", default=None, help="Task id or name (e.g. image, image-impaired, stories).")
@click.option(
    "--policy", default=None, help="Controller id or name (e.g. heuristic, static, lstm)."
)
@click.option("--epochs", type=int, default=None, help="Epochs to train (run.epochs).")
@click.option("--device", default=None, help="cpu, cuda, cuda:N, mps or auto (run.device).")
@click.option("--seed", type=int, default=None, help="Random seed (run.seed).")
@click.option("--out", default=None, help="Parent directory of run directories (run.out).")
@click.option("--static", is_flag=True, help="Static baseline only: a controller that never grows.")
@click.option(
    "--budget-flops",
    type=float,
    default=None,
    help="Stop each arm once its training FLOPs reach this, e.g. 1e12 (run.budget_flops).",
)
@click.option(
    "--policy-checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A controller trained by `esper train` (its policy.pt); acts greedily.",
)
@compile_option
@click.option("--quiet", is_flag=True, help="No per-epoch progress lines.")
@click.pass_context
def run(
    ctx: click.Context,
    preset: str | None,
    config_files: tuple[str, ...],
    overrides: tuple[str, ...],
    task: str | None,
    policy: str | None,
    epochs: int | None,
    device: str | None,
    seed: int | None,
    out: str | None,
    static: bool,
    budget_flops: float | None,
    policy_checkpoint: Path | None,
    compile_: bool,
    quiet: bool,
) -> None:
    """Grow a network on a task with a controller, next to the same host kept static."""
    from esper.config.defaults import add_topology_task
    from esper.config.loading import config_source, load_preset, load_raw, structure
    from esper.registry import Registries

    manager = get_manager(ctx)
    registries = Registries(manager)
    raw = load_raw(
        config_files,
        _overrides(overrides, task, policy, epochs, device, seed, out, static, budget_flops)
        + compile_overrides(compile_),
        base=load_preset(registries, preset, command="run"),
    )
    add_topology_task(raw, registries, explicit_topologies(manager))
    if policy_checkpoint is not None:
        from esper.recipes.policy_checkpoint import use_policy_checkpoint

        use_policy_checkpoint(raw, policy_checkpoint)
    config = structure(raw, registries, source=config_source(config_files, preset))
    execute_growth(manager, registries, config, resume_dir=None, quiet=quiet)


def execute_growth(
    manager: Any, registries: Any, config: Any, *, resume_dir: Path | None, quiet: bool
) -> None:
    from esper.cli.progress import RunProgress
    from esper.recipes.grow import CHECKPOINT_NAME, GrowthRun
    from esper.rundir.session import RunSession

    session = RunSession(
        manager,
        config,
        command="resume" if resume_dir else "run",
        run_dir=resume_dir,
        run_id=resume_dir.name if resume_dir else None,
    )
    with session:
        growth = GrowthRun.build(config, registries, session)
        if resume_dir is not None:
            growth.restore(resume_dir / CHECKPOINT_NAME)
            click.echo(f"resuming {resume_dir} at epoch {growth.arms['grown'].epoch}", err=True)
        else:
            click.echo(f"run directory: {session.run_dir}", err=True)
        with RunProgress(quiet) as progress:
            summary = growth.run(progress)
    _print_summary(summary)
