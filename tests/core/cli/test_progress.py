"""Progress output of `esper run` / `esper train`, driven with stand-in epoch results."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

from esper.cli.progress import RunProgress, TrainProgress, format_clock, slot_states
from esper.contracts.actions import Action, Op
from esper.lifecycle import Stage


def _result(
    epoch: int,
    accuracy: float,
    *,
    stages: dict[str, str] | None = None,
    action: Action | None = None,
    rolled_back: bool = False,
) -> Any:
    """An `EpochResult` stand-in: r0 holds a blending seed before the action, r1 is empty."""
    views = [
        SimpleNamespace(slot_id="r0", stage=Stage.BLENDING, blueprint="cnn:conv_light", alpha=0.4),
        SimpleNamespace(slot_id="r1", stage=Stage.DORMANT, blueprint=None, alpha=0.0),
    ]
    return SimpleNamespace(
        epoch=epoch,
        val_loss=1.25,
        val_accuracy=accuracy,
        rolled_back=rolled_back,
        action=action or Action(),
        action_ok=True,
        signals=SimpleNamespace(slots=views),
        stages_after=stages if stages is not None else {"r0": "BLENDING"},
        alphas_after={"r0": 0.5},
    )


def _env(kind: str = "classification", max_epochs: int = 10) -> Any:
    return SimpleNamespace(info=SimpleNamespace(kind=kind), max_epochs=max_epochs)


def _record(update: int) -> dict[str, Any]:
    return {
        "update": update,
        "episodes": 2,
        "mean_reward": 0.5,
        "mean_accuracy": 42.5,
        "fossilized": 1,
        "rollbacks": 0,
        "metrics": {"approx_kl": 0.01, "explained_variance": 0.3},
        "wall_time_s": 3.0,
    }


def test_run_lines_show_epoch_accuracy_and_stages(capsys: pytest.CaptureFixture[str]) -> None:
    germinate = Action(op=Op.GERMINATE, slot="r1", blueprint="cnn:norm")
    with RunProgress(False) as progress:  # stderr is captured: not a terminal
        assert not progress.live
        progress("grown", _result(3, 61.5, action=germinate), _env())
        progress("static", _result(3, 58.25), _env())
        progress("grown", _result(4, 62.0, rolled_back=True), _env())
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == (
        "[grown ] epoch   3/10  loss  1.2500  acc  61.50%  "
        "r0:blending(conv_light,a=0.40) r1:dormant  -> GERMINATE r1"
    )
    assert lines[1] == "[static] epoch   3/10  loss  1.2500  acc  58.25%"
    assert lines[2].endswith("[governor rollback]")
    assert len(lines) == 3


def test_run_lines_show_perplexity_for_language_tasks(capsys: pytest.CaptureFixture[str]) -> None:
    with RunProgress(False) as progress:
        progress("static", _result(1, 30.0), _env("language_model"))
    assert "ppl     3.49" in capsys.readouterr().err  # exp(1.25)


def test_quiet_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True)
    with RunProgress(True, console=console) as run:
        run("grown", _result(1, 50.0), _env())
    with TrainProgress(True, updates=2, done_updates=0, envs=2, epochs=3) as train:
        train.epoch(0, _result(1, 50.0))
        train.update(_record(0))
    captured = capsys.readouterr()
    assert captured.out == captured.err == ""
    assert screen.getvalue() == ""


def test_train_lines_one_per_update_and_none_per_epoch(capsys: pytest.CaptureFixture[str]) -> None:
    with TrainProgress(False, updates=2, done_updates=0, envs=2, epochs=3) as progress:
        for epoch in (1, 2, 3):
            progress.epoch(0, _result(epoch, 40.0))
            progress.epoch(1, _result(epoch, 45.0))
        progress.update(_record(0))
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "update 1: 2 episodes  reward   +0.500  acc  42.50%  fossilized 1  rollbacks 0  "
        "kl 0.0100  ev +0.300  3.0 s"
    ]


def test_a_cheap_update_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    with TrainProgress(False, updates=2, done_updates=0, envs=2, epochs=3) as progress:
        progress.update({**_record(0), "cheap": True})
    assert capsys.readouterr().err.startswith("update 1: 2 cheap episodes  reward")


def test_slot_states_are_taken_after_the_action() -> None:
    germinate = Action(op=Op.GERMINATE, slot="r1", blueprint="cnn:norm")
    states = slot_states(
        _result(2, 50.0, stages={"r0": "HOLDING", "r1": "GERMINATED"}, action=germinate)
    )
    assert [(s.slot_id, s.stage, s.blueprint, s.alpha) for s in states] == [
        ("r0", "HOLDING", "cnn:conv_light", 0.5),
        ("r1", "GERMINATED", "cnn:norm", 0.0),
    ]
    # A slot missing from stages_after has no seed any more (pruned and reset).
    (r0, _r1) = slot_states(_result(2, 50.0, stages={}))
    assert (r0.stage, r0.blueprint) == ("DORMANT", None)


def _terminal() -> tuple[Console, io.StringIO]:
    screen = io.StringIO()
    return Console(file=screen, force_terminal=True, width=160, color_system=None), screen


def test_live_run_display_renders_stages_accuracy_and_eta() -> None:
    console, screen = _terminal()
    progress = RunProgress(False, console=console)
    assert progress.live
    with progress:
        progress("grown", _result(4, 61.5, stages={"r0": "FOSSILIZED"}), _env())
        progress("static", _result(4, 58.25), _env())
        progress.now = lambda: progress.started + 12.0  # 2 arm-epochs in 12 s; 12 left: 72 s
        with console.capture() as capture:
            console.print(progress)
    frame = capture.get()
    assert "epoch 4/10" in frame
    assert "ETA 1:12" in frame
    assert "fossilized conv_light a=0.50" in frame
    assert "dormant" in frame
    assert "61.50%" in frame
    assert "58.25%" in frame
    # The live display wrote to its console, not to stderr line by line.
    assert "fossilized" in screen.getvalue()


def test_live_train_display_shows_update_envs_and_prints_update_lines() -> None:
    console, screen = _terminal()
    with TrainProgress(
        False, updates=4, done_updates=1, envs=2, epochs=3, console=console
    ) as progress:
        progress.epoch(0, _result(1, 40.0, stages={"r0": "TRAINING"}))
        progress.epoch(1, _result(1, 45.0))
        progress.now = lambda: progress.started + 10.0  # 2 env-epochs in 10 s; 16 left: 80 s
        with console.capture() as capture:
            console.print(progress)
        progress.update(_record(1))
    frame = capture.get()
    assert "update 2/4" in frame
    assert "env-epochs 8/24" in frame
    assert "ETA 1:20" in frame
    assert "env 0" in frame
    assert "env 1" in frame
    assert "training conv_light" in frame
    assert "blending conv_light" in frame
    assert "update 2: 2 episodes" in screen.getvalue()


def test_format_clock() -> None:
    assert format_clock(None) == "--:--"
    assert format_clock(72.4) == "1:12"
    assert format_clock(3725) == "1:02:05"
