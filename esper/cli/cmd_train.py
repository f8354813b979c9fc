"""``esper train``: learn a growth controller (PPO by default) across host-training episodes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from esper.cli.cmd_run import _default_task_for_explicit_plugins, _toml_string
from esper.cli.main import get_manager
from esper.cli.options import config_options


def _overrides(overrides: tuple[str, ...], options: dict[str, Any]) -> list[str]:
    extra = list(overrides)
    for flag, key in (
        ("task", "task.name"),
        ("policy", "policy.name"),
        ("agent", "agent.name"),
        ("reward", "reward.name"),
        ("runner", "runner.name"),
        ("device", "run.device"),
        ("out", "run.out"),
    ):
        if options[flag] is not None:
            extra.append(f"{key}={_toml_string(options[flag])}")
    for flag, key in (
        ("episodes", "train.episodes"),
        ("envs", "train.envs"),
        ("epochs", "run.epochs"),
        ("seed", "run.seed"),
    ):
        if options[flag] is not None:
            extra.append(f"{key}={options[flag]}")
    return extra


def _with_train_defaults(raw: dict[str, Any]) -> None:
    from esper.config import TRAIN_COMPONENTS

    for key, name in TRAIN_COMPONENTS.items():
        section = raw.get(key)
        if section is None:
            raw[key] = {"name": name}
        elif isinstance(section, dict) and "name" not in section:
            section["name"] = name


class _Progress:
    """A live bar over all env-epochs on a terminal; one line per update otherwise."""

    def __init__(self, quiet: bool, total_epochs: int, done_epochs: int) -> None:
        self.quiet = quiet
        self.bar: Any = None
        self.task: Any = None
        if not quiet and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(file=sys.stderr),
            )
            self.task = self.bar.add_task("env-epochs", total=total_epochs, completed=done_epochs)

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def epoch(self, env: int, result: Any) -> None:
        if self.bar is not None:
            self.bar.update(
                self.task,
                advance=1,
                description=f"env {env} epoch {result.epoch:3d} acc {result.val_accuracy:6.2f}%",
            )

    def update(self, record: dict[str, Any]) -> None:
        if self.quiet:
            return
        m = record["metrics"]
        line = (
            f"update {record['update'] + 1}: {record['episodes']} episodes  "
            f"reward {record['mean_reward']:+8.3f}  acc {record['mean_accuracy']:6.2f}%  "
            f"fossilized {record['fossilized']}  rollbacks {record['rollbacks']}  "
            f"kl {m.get('approx_kl', float('nan')):.4f}  "
            f"ev {m.get('explained_variance', float('nan')):+.3f}  "
            f"{record['wall_time_s']:.1f} s"
        )
        if self.bar is not None:
            self.bar.console.print(line)
        else:
            click.echo(line, err=True)


@click.command()
@config_options
@click.option("--task", default=None, help="Task id or name (default: image).")
@click.option("--policy", default=None, help="Trainable controller (default: lstm).")
@click.option("--agent", default=None, help="Learning algorithm (default: ppo).")
@click.option("--reward", default=None, help="Reward (default: contribution).")
@click.option("--runner", default=None, help="Runner: vectorized (default) or sequential.")
@click.option("--episodes", type=int, default=None, help="Episodes in all (train.episodes).")
@click.option("--envs", type=int, default=None, help="Environments per update (train.envs).")
@click.option("--epochs", type=int, default=None, help="Epochs per episode (run.epochs).")
@click.option("--device", default=None, help="cpu, cuda, cuda:N, mps or auto (run.device).")
@click.option("--seed", type=int, default=None, help="Random seed (run.seed).")
@click.option("--out", default=None, help="Parent directory of run directories (run.out).")
@click.option(
    "--resume",
    "resume_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Continue a training run from its policy.pt (its own config is used).",
)
@click.option("--quiet", is_flag=True, help="No progress output.")
@click.pass_context
def train(
    ctx: click.Context,
    /,
    config_files: tuple[str, ...],
    overrides: tuple[str, ...],
    resume_dir: Path | None,
    quiet: bool,
    **options: Any,
) -> None:
    """Train a growth controller across many host-training episodes."""
    from esper.config.loading import load_raw, structure
    from esper.engine.training_run import CHECKPOINT_NAME, TrainingRun
    from esper.errors import EsperError
    from esper.registry import Registries
    from esper.run_session import RunSession

    manager = get_manager(ctx)
    registries = Registries(manager)
    if resume_dir is not None:
        config_path = resume_dir / "config.toml"
        if not (resume_dir / CHECKPOINT_NAME).exists() or not config_path.exists():
            raise EsperError(f"{resume_dir} is not a training run directory (no {CHECKPOINT_NAME})")
        config = structure(load_raw([config_path]), registries, source=str(config_path))
    else:
        raw = load_raw(config_files, _overrides(overrides, options))
        _default_task_for_explicit_plugins(manager, registries, raw)
        _with_train_defaults(raw)
        config = structure(raw, registries, source=", ".join(config_files) or None)
    session = RunSession(
        manager,
        config,
        command="train",
        run_dir=resume_dir,
        run_id=resume_dir.name if resume_dir else None,
    )
    with session:
        training = TrainingRun.build(config, registries, session)
        if resume_dir is not None:
            training.restore(resume_dir / CHECKPOINT_NAME)
            click.echo(f"resuming {resume_dir} after update {training.update}", err=True)
        else:
            click.echo(f"run directory: {session.run_dir}", err=True)
        per_update = config.train.envs * config.run.epochs
        with _Progress(
            quiet, training.updates * per_update, training.update * per_update
        ) as progress:
            summary = training.run(on_update=progress.update, on_epoch=progress.epoch)
    last = summary["history"][-1] if summary["history"] else {}
    click.echo(
        f"trained {summary['episodes']} episodes in {summary['updates']} updates "
        f"({summary['wall_time_s']:.1f} s); last update: mean accuracy "
        f"{last.get('mean_accuracy', float('nan')):.2f}%, mean reward "
        f"{last.get('mean_reward', float('nan')):+.3f}; policy: {session.run_dir / CHECKPOINT_NAME}"
    )
