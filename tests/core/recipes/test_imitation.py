"""The imitation warm start: ``esper train --init imitate:<controller>``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from esper.contracts.actions import Action, Op, Style
from esper.engine.events import ImitationFinished
from esper.errors import ConfigError
from esper.recipes.train import CHECKPOINT_NAME, TrainingRun
from esper.registry import Registries
from esper.rundir.session import RunSession
from esper.telemetry import event_to_dict, read_events

from support.cli import esper
from support.training import small_config, train

# Heuristic timings that make it act within a few epochs on the tiny task.
EAGER = [
    "train.init='imitate:heuristic'",
    "train.imitation_episodes=2",
    "train.imitation_heldout=1",
    "run.epochs=8",
]


def test_the_student_learns_to_decide_as_its_teacher(
    registries: Registries, tmp_path: Path
) -> None:
    config = small_config(registries, tmp_path, *EAGER, "train.episodes=2")
    # The teacher with its default options: the run's [policy] table is the student's.
    run = train(registries, config)
    record = run.imitation
    assert record is not None
    assert record["teacher"] == "heuristic"
    assert record["episodes"] == 2
    assert record["decisions"] == 2 * 8
    assert record["heldout_decisions"] == 8
    assert record["unexpressed"] == 0
    fit = record["fit"]
    assert fit["cloning_loss_last"] < fit["cloning_loss_first"]
    assert fit["value_loss_last"] < fit["value_loss_first"]
    # Before the fit the untrained network mostly disagrees; after it, it decides as the
    # heuristic does on an episode it never saw.
    assert record["agreement_heldout"] >= 0.9
    assert record["agreement_heldout"] > record["agreement_before"]
    summary = json.loads((run.session.run_dir / "summary.json").read_text())
    assert summary["imitation"]["teacher"] == "heuristic"
    state = torch.load(run.session.run_dir / CHECKPOINT_NAME, weights_only=True)
    assert state["imitation"]["teacher"] == "heuristic"
    events = [
        e
        for e in read_events(run.session.run_dir / "events.jsonl")
        if isinstance(e, ImitationFinished)
    ]
    assert len(events) == 1
    assert events[0].agreement_heldout == record["agreement_heldout"]
    assert event_to_dict(events[0])["type"] == "train.imitation"


def test_a_resumed_run_does_not_imitate_again(registries: Registries, tmp_path: Path) -> None:
    config = small_config(registries, tmp_path, *EAGER, "train.imitation_heldout=0")
    first = train(registries, config)
    session = RunSession(
        registries.manager, config, command="train", run_dir=first.session.run_dir, run_id="again"
    )
    with session:
        resumed = TrainingRun.build(config, registries, session)
        resumed.restore(first.session.run_dir / CHECKPOINT_NAME)
    assert resumed.imitation == first.imitation
    assert resumed.imitation is not None
    assert resumed.imitation["agreement_heldout"] is None  # none held out


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("'imitate:nonesuch'", "config.train.init"),
        ("'imitate:missing.pt'", "no such policy checkpoint"),
        ("'copy:heuristic'", "imitate:<controller>"),
        ("'imitate:'", "imitate:<controller>"),
    ],
)
def test_a_wrong_teacher_is_refused_before_any_training(
    registries: Registries, tmp_path: Path, spec: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _build(registries, tmp_path, f"train.init={spec}")


def _build(registries: Registries, tmp_path: Path, *extra: str) -> TrainingRun:
    config = small_config(registries, tmp_path, *extra)
    with RunSession(registries.manager, config, command="train") as session:
        return TrainingRun.build(config, registries, session)


def test_the_cli_names_the_bad_teacher_and_exits_2(tmp_path: Path) -> None:
    result = esper("train", "--init", "imitate:nonesuch", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "config.train.init" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert list(tmp_path.iterdir()) == []


def test_a_teacher_action_the_space_cannot_express_is_taught_as_wait(
    registries: Registries,
) -> None:
    from esper.growth.catalog import BlueprintCatalog
    from esper.lifecycle import Stage, stage_index
    from esper.recipes.imitation import teacher_row
    from esper.rl.action_space import ActionSpace
    from esper.rl.observation import SlotStates

    catalog = BlueprintCatalog(registries["blueprints"], "cnn")
    space = ActionSpace.from_catalog(catalog, 2)
    slots = ("r0c0", "r0c1")
    # Two free slots: GERMINATE is legal, FOSSILIZE is not.
    states = SlotStates(
        stage=torch.full((1, 2), stage_index(Stage.DORMANT), dtype=torch.long),
        alpha_holding=torch.ones(1, 2, dtype=torch.bool),
        age=torch.zeros(1, 2, dtype=torch.long),
    )
    masks = space.masks(states)
    germinate = Action(
        op=Op.GERMINATE, slot="r0c0", blueprint="conv_light", style=Style.SIGMOID_ADD, tempo=5
    )
    assert teacher_row(space, germinate, slots, masks) is not None
    odd_tempo = Action(op=Op.GERMINATE, slot="r0c0", blueprint="conv_light", tempo=4)
    assert teacher_row(space, odd_tempo, slots, masks) is None
    fossilize_empty = Action(op=Op.FOSSILIZE, slot="r0c0")
    assert teacher_row(space, fossilize_empty, slots, masks) is None
