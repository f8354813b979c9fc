"""``esper eval``: controllers compared over many seeds, with confidence intervals."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import click

from esper.cli.main import get_manager
from esper.cli.options import config_options, explicit_topologies, toml_string


def print_tables(doc: dict[str, Any]) -> None:
    """The evaluation's two tables: controllers, then paired differences."""
    from rich.console import Console
    from rich.table import Table

    from esper.evaluation.markdown import interval as _interval
    from esper.evaluation.markdown import number as _fmt

    metric = doc["metric"].replace("val_", "")
    better = "higher" if doc["higher_is_better"] else "lower"
    # A pipe or file gets the whole table, not one cut to 80 columns.
    console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160)
    table = Table(
        title=f"esper eval: {doc['task']}, {len(doc['seeds'])} seeds, {doc['epochs']} epochs "
        f"(mean [95% CI]; {metric}, {better} is better)"
    )
    for column in (
        "controller",
        f"final {metric}",
        f"best {metric}",
        "std final",
        "params",
        "train FLOPs",
        "epochs",
        "wall s",
    ):
        table.add_column(column, justify="left" if column == "controller" else "right")
    for label, row in doc["controllers"].items():
        table.add_row(
            label,
            _interval(row["final"]),
            _interval(row["best"]),
            _fmt(row["final"]["std"]),
            f"{row['params']['mean']:,.0f}",
            f"{row['flops_train']['mean']:.3e}",
            _fmt(row["epochs"]["mean"], 1),
            _fmt(row["wall_time_s"]["mean"], 1),
        )
    console.print(table)
    if not doc["comparisons"]:
        return
    pairs = Table(
        title="paired differences a - b over the same seeds (mean [95% CI], paired t test)"
    )
    for column in ("a - b", "seeds", "final", "p", "W/L", "best", "p"):
        pairs.add_column(column, justify="left" if column == "a - b" else "right")
    for c in doc["comparisons"]:
        final, best = c["final"], c["best"]

        def mark(part: dict[str, Any]) -> str:
            return " +" if part["a_better"] else (" -" if part["a_worse"] else "")

        pairs.add_row(
            f"{c['a']} - {c['b']}",
            str(c["seeds"]),
            _interval(final["difference"]) + mark(final),
            _fmt(final["p_value"], 3),
            f"{final['wins']}/{final['losses']}",
            _interval(best["difference"]) + mark(best),
            _fmt(best["p_value"], 3),
        )
    console.print(pairs)
    console.print("+ / -: a is better / worse than b with a 95% interval that excludes zero")


@click.command("eval")
@config_options
@click.option("--task", default=None, help="Task id or name (e.g. image, image-impaired, stories).")
@click.option(
    "--controllers",
    default=None,
    help="Comma-separated: static, policy plugin names or ids, paths to policy.pt files "
    "[default: static and the configured controller].",
)
@click.option(
    "--seeds", "seed_count", type=int, default=10, show_default=True, help="Seeds per controller."
)
@click.option(
    "--first-seed",
    type=int,
    default=None,
    help="First seed [default: 900000, clear of the seeds esper train uses].",
)
@click.option(
    "--baseline",
    default=None,
    help="Controller every other is also compared with [default: the first one that grows].",
)
@click.option(
    "--larger-static",
    "reference",
    default=None,
    help="Controller whose final architecture and training FLOPs size the larger-static arm "
    "[default: the baseline]; 'none' leaves the arm out.",
)
@click.option("--epochs", type=int, default=None, help="Epochs per cell (run.epochs).")
@click.option("--device", default=None, help="cpu, cuda, cuda:N, mps or auto (run.device).")
@click.option(
    "--workers",
    type=int,
    default=None,
    help="Worker processes [default: one per CPU core; 1 on a GPU].",
)
@click.option("--out", default="evals", show_default=True, help="Parent of evaluation directories.")
@click.option(
    "--name", default=None, help="Evaluation directory name [default: task and config digest]."
)
@click.option("--quiet", is_flag=True, help="No line per finished cell.")
@click.pass_context
def eval_(
    ctx: click.Context,
    preset: str | None,
    config_files: tuple[str, ...],
    overrides: tuple[str, ...],
    task: str | None,
    controllers: str | None,
    seed_count: int,
    first_seed: int | None,
    baseline: str | None,
    reference: str | None,
    epochs: int | None,
    device: str | None,
    workers: int | None,
    out: str,
    name: str | None,
    quiet: bool,
) -> None:
    """Train every controller on every seed and compare them with 95% confidence intervals.

    Each seed gives every controller the same data and initial host; cells run in parallel
    worker processes, and each finished cell is cached in the evaluation directory, so the
    same command run again (or with more seeds) continues where it stopped.
    """
    from esper.config.defaults import add_topology_task
    from esper.config.loading import load_preset, load_raw
    from esper.evaluation.recipe import Choices, plan_evaluation
    from esper.evaluation.runner import PluginOptions
    from esper.registry import Registries

    manager = get_manager(ctx)
    registries = Registries(manager)
    extra = list(overrides)
    for key, value in (("task.name", task), ("run.device", device)):
        if value is not None:
            extra.append(f"{key}={toml_string(value)}")
    if epochs is not None:
        extra.append(f"run.epochs={epochs}")
    raw = load_raw(config_files, extra, base=load_preset(registries, preset, command="eval"))
    add_topology_task(raw, registries, explicit_topologies(manager))
    root = ctx.find_root().params
    choices = Choices(
        controllers=controllers,
        seeds=seed_count,
        first_seed=first_seed,
        baseline=baseline,
        reference=reference,
        workers=workers,
        out=out,
        name=name,
    )
    plugins = PluginOptions(
        plugins=tuple(root.get("plugins") or ()),
        autoload=False if root.get("disable_plugin_autoload") else None,
        strict=True if root.get("strict_plugins") else None,
    )
    evaluation = plan_evaluation(raw, registries, choices, plugins)
    click.echo(
        f"evaluation directory: {evaluation.eval_dir} ({evaluation.cells} cells, "
        f"{evaluation.workers} worker(s))",
        err=True,
    )
    document = evaluation.run(None if quiet else _progress_printer())
    print_tables(document)
    click.echo(f"eval.json: {evaluation.eval_dir / 'eval.json'}", err=True)


def _progress_printer() -> Callable[[int, int, dict[str, Any], bool], None]:
    """A line per finished cell on stderr, with an estimate of the time left."""
    started = time.perf_counter()
    computed = 0  # cells trained by this command (not read from the cache)

    def progress(done: int, total: int, cell: dict[str, Any], cached: bool) -> None:
        nonlocal computed
        computed += not cached
        final = cell["final"]
        figure = (
            f"perplexity {final['val_perplexity']:.3f}"
            if "val_perplexity" in final
            else f"accuracy {final['val_accuracy']:.2f}%"
        )
        # Cells run `workers` at a time: the rate of computed cells already reflects that.
        left = (time.perf_counter() - started) / max(computed, 1) * (total - done) / 60
        eta = "" if cached or done >= total else f", about {left:.0f} min left"
        click.echo(
            f"[{done}/{total}] {cell['controller']} seed {cell['seed']}: {figure}, "
            f"{cell['params']:,} params, {cell['flops']['train']:.2e} FLOPs, "
            f"{cell['wall_time_s']:.0f} s{' (cached)' if cached else ''}{eta}",
            err=True,
        )

    return progress
