"""Faults in this process: a full disk, a crashing data path, Ctrl-C.

Each fault is injected from outside (tests/support/faults.py) into an unchanged esper. After
it the run directory must be whole (tests/support/rundir.py) and the error clear (exit status,
message, no traceback); `esper resume` then finishes the run with the same weights, bit for
bit, as a run that never failed. Killing processes (SIGKILL, a real SIGINT) is in
test_fault_kills.py, NaN and loss-spike storms in test_fault_storm.py.
"""

from __future__ import annotations

import errno
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

import esper_plugins.tasks.image as image
from esper.errors import StorageError
from esper.rundir.atomic import write_text_atomic
from esper.telemetry import read_events
from esper.telemetry.events import RunStarted
from esper_plugins.telemetry.jsonl import JsonlSink, JsonlSinkConfig

from support import faults
from support.faults import DiskFull
from support.figures import record
from support.rundir import check_run_dir
from support.tinyruns import (
    GROWTH,
    GROWTH_EPOCHS,
    TRAIN,
    TRAIN_UPDATES,
    assert_same_results,
    assert_same_weights,
    invoke,
    one_thread,
    only_run_dir,
    results,
)

pytestmark = pytest.mark.stress

COMMANDS = {"run": GROWTH, "train": TRAIN}
TOTAL = {"run": GROWTH_EPOCHS, "train": TRAIN_UPDATES}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, int, int]]:
    """Each command run once without faults: its directory, bytes written, augmentation calls."""
    out: dict[str, tuple[Path, int, int]] = {}
    for command, args in COMMANDS.items():
        folder = tmp_path_factory.mktemp(f"reference-{command}")
        with pytest.MonkeyPatch.context() as mp, one_thread():
            disk = DiskFull(budget=1 << 62)
            disk.install(mp.setattr)
            calls = faults.break_data_path(1 << 62, mp.setattr)
            result = invoke(*args, "--out", str(folder))
        assert result.exit_code == 0, result.output
        out[command] = (only_run_dir(folder), disk.used, calls[0])
    return out


def resume_and_compare(run_dir: Path, reference_dir: Path) -> None:
    with one_thread():
        resumed = invoke("resume", str(run_dir), "--quiet")
    assert resumed.exit_code == 0, resumed.output
    check_run_dir(run_dir)
    assert_same_results(results(run_dir), results(reference_dir))
    assert_same_weights(run_dir, reference_dir)


# -- a full disk ---------------------------------------------------------------------------------


def test_a_failed_atomic_write_keeps_the_previous_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "summary.json"
    write_text_atomic(target, "old and complete\n")
    DiskFull(budget=5).install(monkeypatch.setattr)
    with pytest.raises(StorageError) as info:
        write_text_atomic(target, "new, longer, and never finished\n")
    message = str(info.value)
    assert str(target) in message
    assert "No space left on device (errno 28)" in message
    assert "the previous version is intact" in message
    assert info.value.exit_code == 1
    assert target.read_text() == "old and complete\n"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temporary left


def test_a_new_file_that_cannot_be_written_says_so(tmp_path: Path, monkeypatch) -> None:
    DiskFull(budget=0).install(monkeypatch.setattr)
    with pytest.raises(StorageError, match="nothing was written"):
        write_text_atomic(tmp_path / "config.toml", "x = 1\n")
    assert list(tmp_path.iterdir()) == []


def _event(n: int) -> RunStarted:
    return RunStarted(command="run", config={"n": n, "pad": "x" * 40})


def test_the_event_log_keeps_whole_lines_when_the_disk_fills(tmp_path: Path, monkeypatch) -> None:
    sink = JsonlSink(JsonlSinkConfig(), run_dir=tmp_path)
    for n in range(3):
        sink.write(_event(n))
    path = tmp_path / "events.jsonl"
    whole = path.read_bytes()
    disk = DiskFull(budget=30)  # part of the next line fits, not all of it
    disk.install(monkeypatch.setattr)
    with pytest.raises(OSError, match="No space left on device") as info:
        sink.write(_event(3))
    assert info.value.errno == errno.ENOSPC
    assert disk.used == 30
    assert path.read_bytes() == whole  # the partial line was cut back off
    disk.free()
    sink.write(_event(4))
    sink.close()
    assert [e.config["n"] for e in read_events(path)] == [0, 1, 2, 4]


def test_a_reopened_event_log_drops_a_torn_last_line(tmp_path: Path, captured_logs) -> None:
    path = tmp_path / "events.jsonl"
    sink = JsonlSink(JsonlSinkConfig(), run_dir=tmp_path)
    sink.write(_event(0))
    sink.close()
    whole = path.read_bytes()
    with path.open("ab") as fh:
        fh.write(b'{"schema":1,"type":"run.sta')  # a power cut in the middle of a line
    resumed = JsonlSink(JsonlSinkConfig(), run_dir=tmp_path)
    assert path.read_bytes() == whole
    resumed.write(_event(1))
    resumed.close()
    assert [e.config["n"] for e in read_events(path)] == [0, 1]
    (warning,) = [e for e in captured_logs if "torn" in e["event"]]
    assert warning["bytes"] == len(b'{"schema":1,"type":"run.sta')


@pytest.mark.parametrize("command", ["run", "train"])
def test_a_full_disk_mid_run_is_reported_and_the_run_resumes(
    command: str, reference: dict[str, tuple[Path, int, int]], tmp_path: Path, monkeypatch
) -> None:
    reference_dir, written, _ = reference[command]
    disk = DiskFull(budget=int(written * 0.6))
    disk.install(monkeypatch.setattr)
    with one_thread():
        result = invoke(*COMMANDS[command], "--out", str(tmp_path))
    assert result.exit_code == 1, result.output
    assert "Error: cannot write " in result.output
    assert "No space left on device (errno 28); the previous version is intact" in result.output
    assert "Traceback" not in result.output
    assert "Logging error" not in result.output  # the run log reported it in one line
    run_dir = only_run_dir(tmp_path)
    state = check_run_dir(run_dir)
    assert state.checkpoint is not None
    assert 0 < state.position < TOTAL[command]
    assert not state.finished
    assert state.temporaries == ()
    assert disk.failures >= 1
    disk.free()  # room again: the user cleared the disk
    resume_and_compare(run_dir, reference_dir)
    record(f"test_fault_injection.disk_full.{command}", runs=2, injected_disk_full=1,
           survived_disk_full=1)  # fmt: skip


# -- a broken data path ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "train"])
def test_a_crashing_data_path_is_reported_and_the_run_resumes(
    command: str, reference: dict[str, tuple[Path, int, int]], tmp_path: Path, monkeypatch
) -> None:
    reference_dir, _, calls = reference[command]
    faults.break_data_path(int(calls * 0.7), monkeypatch.setattr)
    with one_thread():
        result = invoke(*COMMANDS[command], "--out", str(tmp_path))
    assert result.exit_code == 1, result.output
    assert "Error: the data path of task ImageTask failed in epoch " in result.output
    assert "DataPathCrash: simulated loader worker crash" in result.output
    assert "Traceback" not in result.output
    run_dir = only_run_dir(tmp_path)
    state = check_run_dir(run_dir)
    assert 0 < state.position < TOTAL[command]
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert events[-1]["type"] == "run.ended"
    assert events[-1]["status"] == "crashed"
    monkeypatch.undo()  # the data path works again
    resume_and_compare(run_dir, reference_dir)
    record(f"test_fault_injection.data_path.{command}", runs=2, injected_data_path_crash=1,
           survived_data_path_crash=1)  # fmt: skip


# -- Ctrl-C (the signal delivered to this process) -------------------------------------------------


@pytest.mark.parametrize(("command", "stop_at"), [("run", 3), ("train", 2)])
def test_ctrl_c_stops_after_the_step_with_a_final_checkpoint(
    command: str,
    stop_at: int,
    reference: dict[str, tuple[Path, int, int]],
    tmp_path: Path,
    monkeypatch,
) -> None:
    """SIGINT in the middle of epoch/update ``stop_at``: that step finishes and is checkpointed
    (the checkpoint cadence alone would not write one there), then the command exits 130."""
    reference_dir, _, calls = reference[command]
    per_step = calls // TOTAL[command]
    seen = [0]
    augment = image.crop_flip

    def interrupting(x: Any, generator: Any, **kwargs: Any) -> Any:
        seen[0] += 1
        if seen[0] == per_step * (stop_at - 1) + per_step // 2:
            os.kill(os.getpid(), signal.SIGINT)
        return augment(x, generator, **kwargs)

    monkeypatch.setattr(image, "crop_flip", interrupting)
    with one_thread():
        result = invoke(*COMMANDS[command], "--out", str(tmp_path))
    assert result.exit_code == 130, result.output
    unit = "epoch" if command == "run" else "update"
    assert f"interrupted after {unit} {stop_at} of {TOTAL[command]}" in result.output
    run_dir = only_run_dir(tmp_path)
    assert f"continue with: esper resume {run_dir}" in result.output
    assert "Traceback" not in result.output
    state = check_run_dir(run_dir)
    assert state.position == stop_at  # not a multiple of the cadence: the final checkpoint
    assert not state.finished
    last = json.loads((run_dir / "events.jsonl").read_text().splitlines()[-1])
    assert (last["type"], last["status"]) == ("run.ended", "interrupted")
    monkeypatch.undo()
    resume_and_compare(run_dir, reference_dir)
    record(f"test_fault_injection.sigint.{command}", runs=2, injected_sigint=1, survived_sigint=1)


@pytest.mark.parametrize("command", ["run", "train"])
def test_a_second_ctrl_c_stops_at_once_and_the_last_checkpoint_stands(
    command: str, reference: dict[str, tuple[Path, int, int]], tmp_path: Path, monkeypatch
) -> None:
    """Two SIGINTs in the middle of one step (epoch 3 of `esper run`, update 2 of `esper
    train`): the step is abandoned, no checkpoint is written for it, and exit status is 130."""
    reference_dir, _, calls = reference[command]
    stop_in = 3 if command == "run" else 2
    per_step = calls // TOTAL[command]
    first = per_step * (stop_in - 1) + 1
    seen = [0]
    augment = image.crop_flip

    def interrupting(x: Any, generator: Any, **kwargs: Any) -> Any:
        seen[0] += 1
        if seen[0] in (first, first + 1):
            os.kill(os.getpid(), signal.SIGINT)
        return augment(x, generator, **kwargs)

    monkeypatch.setattr(image, "crop_flip", interrupting)
    with one_thread():
        result = invoke(*COMMANDS[command], "--out", str(tmp_path))
    assert result.exit_code == 130, result.output
    assert result.output.rstrip().endswith("interrupted")
    assert "interrupted after" not in result.output
    assert "Traceback" not in result.output
    run_dir = only_run_dir(tmp_path)
    state = check_run_dir(run_dir)
    # The cadence's last checkpoint: epoch 2 (every 2 epochs), update 1 (every update).
    assert state.position == stop_in - 1
    last = json.loads((run_dir / "events.jsonl").read_text().splitlines()[-1])
    assert (last["type"], last["status"]) == ("run.ended", "interrupted")
    monkeypatch.undo()
    resume_and_compare(run_dir, reference_dir)
    record(f"test_fault_injection.double_sigint.{command}", runs=2, injected_sigint=2,
           survived_sigint=2)  # fmt: skip


# -- what a resume must carry over -----------------------------------------------------------------


def test_a_resume_keeps_the_germination_count_of_an_emptied_slot() -> None:
    """Regression (found by the stress run): a slot whose pruned seed had left entirely lost
    its germination count in a checkpoint, so a resumed run renumbered its next seed and
    reported fewer germinated seeds than the same run without the resume."""
    import io

    import torch

    from esper.growth.model import MorphogeneticModel

    from support.tiny import TinyCNN, catalog

    model = MorphogeneticModel(TinyCNN(), catalog("cnn"))
    model.germinate("r0c0", "conv")
    model.prune("r0c0", "test")
    for _ in range(20):
        model.step_epoch()
    assert model.records["r0c0"].state is None  # the slot is empty again
    assert model.records["r0c0"].seeds_germinated == 1
    buffer = io.BytesIO()
    torch.save(model.grown_state(), buffer)
    buffer.seek(0)
    clone = MorphogeneticModel(TinyCNN(), catalog("cnn"))
    clone.load_grown_state(torch.load(buffer, weights_only=True))
    assert clone.records["r0c0"].seeds_germinated == 1
    assert clone.germinate("r0c0", "conv").seed_id == model.germinate("r0c0", "conv").seed_id
    assert model.records["r0c0"].seeds_germinated == clone.records["r0c0"].seeds_germinated == 2
