"""``esper train``: learn a growth controller (PPO by default) across host-training episodes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from esper.cli.main import get_manager
from esper.cli.options import (
    compile_option,
    compile_overrides,
    config_options,
    explicit_topologies,
    toml_string,
)

if TYPE_CHECKING:
    from esper.config import EsperConfig
    from esper.registry import Registries


def _overrides(overrides: tuple[str, ...], options: dict[str, Any]) -> list[str]:
    extra = list(overrides)
    for flag, key in (
        ("task", "task.name"),
        ("policy", "policy.name"),
        ("agent", "agent.name"),
        ("reward", "reward.name"),
        ("runner", "runner.name"),
        ("ray_address", "runner.address"),
        ("device", "run.device"),
        ("out", "run.out"),
        ("init", "train.init"),
    ):
        if options[flag] is not None:
            extra.append(f"{key}={toml_string(options[flag])}")
    for flag, key in (
        ("episodes", "train.episodes"),
        ("envs", "train.envs"),
        ("epochs", "run.epochs"),
        ("seed", "run.seed"),
    ):
        if options[flag] is not None:
            extra.append(f"{key}={options[flag]}")
    if options["ray_address"] is not None and options["runner"] is None:
        extra.append("runner.name='ray'")  # an address only means something to the ray runner
    return extra


@click.command()
@config_options
@click.option("--task", default=None, help="Task id or name (default: image).")
@click.option("--policy", default=None, help="Trainable controller (default: lstm).")
@click.option("--agent", default=None, help="Learning algorithm (default: ppo).")
@click.option("--reward", default=None, help="Reward (default: contribution).")
@click.option(
    "--runner",
    default=None,
    help="Runner: vectorized (default), sequential, or ray (pip install contrib/esper-runner-ray).",
)
@click.option(
    "--ray-address",
    default=None,
    help="Ray cluster for the environments: auto, HOST:PORT or ray://HOST:PORT "
    "(runner.address; implies --runner ray). Default: a local Ray instance.",
)
@click.option(
    "--init",
    default=None,
    help="Start the controller by imitating another: imitate:heuristic, imitate:gradient or "
    "imitate:PATH/policy.pt (train.init).",
)
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
@compile_option
@click.option("--quiet", is_flag=True, help="No progress output.")
@click.pass_context
def train(
    ctx: click.Context,
    /,
    config_files: tuple[str, ...],
    overrides: tuple[str, ...],
    resume_dir: Path | None,
    compile_: bool,
    quiet: bool,
    **options: Any,
) -> None:
    """Train a growth controller across many host-training episodes."""
    from esper.cli.progress import TrainProgress
    from esper.recipes.train import CHECKPOINT_NAME, TrainingRun
    from esper.registry import Registries
    from esper.rundir.session import RunSession

    manager = get_manager(ctx)
    registries = Registries(manager)
    if resume_dir is not None:
        config = _resumed_config(resume_dir, registries)
    else:
        raw_overrides = _overrides(overrides, options) + compile_overrides(compile_)
        config = _new_config(manager, registries, options["preset"], config_files, raw_overrides)
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
        with TrainProgress(
            quiet,
            updates=training.updates,
            done_updates=training.update,
            envs=config.train.envs,
            epochs=config.run.epochs,
        ) as progress:
            summary = training.run(
                on_update=progress.update,
                on_epoch=progress.epoch,
                on_imitation=None if quiet else _imitation_line,
            )
    imitation = summary.get("imitation")
    if imitation is not None:
        heldout = imitation["agreement_heldout"]
        click.echo(
            f"imitated {imitation['teacher']} on {imitation['decisions']} decisions; agreement on "
            + ("no held-out decisions" if heldout is None else f"held-out decisions {heldout:.1%}")
            + f" (untrained: {imitation['agreement_before']:.1%})",
            err=True,
        )
    last = summary["history"][-1] if summary["history"] else {}
    click.echo(
        f"trained {summary['episodes']} episodes in {summary['updates']} updates "
        f"({summary['wall_time_s']:.1f} s); last update: mean accuracy "
        f"{last.get('mean_accuracy', float('nan')):.2f}%, mean reward "
        f"{last.get('mean_reward', float('nan')):+.3f}; policy: {session.run_dir / CHECKPOINT_NAME}"
    )


def _imitation_line(kind: str, episode: Any) -> None:
    click.echo(
        f"imitation: {kind} teacher episode, seed {episode.seed}: controller agreed on "
        f"{episode.agreed} of {episode.decisions} decisions",
        err=True,
    )


def _resumed_config(resume_dir: Path, registries: Registries) -> EsperConfig:
    """The config of the training run in ``resume_dir`` (its own, as it was written)."""
    from esper.config.loading import load_raw, structure
    from esper.errors import EsperError
    from esper.recipes.train import CHECKPOINT_NAME
    from esper.rundir import layout

    config_path = resume_dir / layout.CONFIG
    if not (resume_dir / CHECKPOINT_NAME).exists() or not config_path.exists():
        raise EsperError(f"{resume_dir} is not a training run directory (no {CHECKPOINT_NAME})")
    return structure(load_raw([config_path]), registries, source=str(config_path))


def _new_config(
    manager: Any,
    registries: Registries,
    preset: str | None,
    config_files: tuple[str, ...],
    overrides: list[str],
) -> EsperConfig:
    """The config of a new training run: the preset, files and overrides, over esper train's
    defaults."""
    from esper.config.defaults import add_topology_task, add_train_defaults
    from esper.config.loading import config_source, load_preset, load_raw, structure

    raw = load_raw(config_files, overrides, base=load_preset(registries, preset, command="train"))
    add_topology_task(raw, registries, explicit_topologies(manager))
    add_train_defaults(raw, registries)
    return structure(raw, registries, source=config_source(config_files, preset))
