"""Hostile files in a run directory: malformed event lines, corrupt, truncated and foreign
checkpoints.

Every reader of ``events.jsonl`` names a malformed line by its number: `read_events`,
`read_event_objects`, ``esper report`` (which refuses the run) and ``esper runs list`` (which
skips the line and warns). A checkpoint that is truncated, corrupt or from another run
(another task, slot set, environment count or schema) gives exit status 2 with a message that
says which and why, and the checkpoint is left exactly as it was: put the right config (or
file) back and the run resumes.
"""

from __future__ import annotations

import io
import json
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esper.errors import TelemetryError
from esper.report.data import load_run
from esper.rundir.checkpoint import CheckpointError, load_checkpoint
from esper.rundir.scan import read_run
from esper.telemetry import read_events
from esper.telemetry.events import read_event_objects

from support.figures import record
from support.rundir import check_run_dir
from support.tinyruns import GROWTH, TRAIN, invoke, one_thread, only_run_dir

pytestmark = pytest.mark.stress

FUZZ = settings(
    max_examples=max(settings.default.max_examples // 2, 10),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

fuzzed: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def report_counts() -> Iterator[None]:
    yield
    record("test_hostile_files", **{f"fuzzed_{k}": v for k, v in fuzzed.items()})


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One finished tiny ``esper run`` and ``esper train`` (copy before changing them)."""
    out: dict[str, Path] = {}
    for command, args in (("run", GROWTH), ("train", TRAIN)):
        folder = tmp_path_factory.mktemp(command)
        with one_thread():
            result = invoke(*args, "--out", str(folder))
        assert result.exit_code == 0, result.output
        out[command] = only_run_dir(folder)
    return out


def copy_run(source: Path, tmp_path: Path, name: str = "copy") -> Path:
    target = tmp_path / name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    return target


# -- malformed event lines ---------------------------------------------------------------------

_bad_lines = (
    st.binary(min_size=1, max_size=60)
    | st.text(min_size=1, max_size=60).map(str.encode)
    | st.sampled_from(
        [
            b"[1, 2, 3]",
            b'"just a string"',
            b'{"schema": 99, "type": "run.started"}',
            b'{"schema": 1}',
            b'{"schema": 1, "type": 7}',
            b'{"schema":1,"type":"engine.epo',
            b"\xff\xfe not utf-8",
            b"[" * 3000,
        ]
    )
).filter(lambda b: b"\n" not in b and b.strip() and not _is_event(b))


def _is_event(line: bytes) -> bool:
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("schema") == 1 and isinstance(data.get("type"), str)


@FUZZ
@given(data=st.data())
def test_every_reader_names_a_malformed_event_line(
    data: st.DataObject, runs: dict[str, Path], tmp_path: Path
) -> None:
    run = copy_run(runs["run"], tmp_path)
    events = run / "events.jsonl"
    lines = events.read_bytes().splitlines(keepends=True)
    where = data.draw(st.integers(min_value=0, max_value=len(lines)), label="before line")
    bad = data.draw(_bad_lines, label="line")
    lines.insert(where, bad + b"\n")
    events.write_bytes(b"".join(lines))
    lineno = where + 1
    fuzzed["event_lines"] += 1
    tag = f"{events}:{lineno}: "
    with pytest.raises(TelemetryError) as raised:
        list(read_event_objects(events))
    assert str(raised.value).startswith(tag)
    with pytest.raises(TelemetryError) as raised:
        list(read_events(events))
    assert str(raised.value).startswith(tag)
    with pytest.raises(TelemetryError) as raised:
        load_run(run)  # esper report
    assert str(raised.value).startswith(tag)
    info = read_run(run)  # esper runs list: the rest of the log is still read
    assert info.status == "finished"
    assert [p.split(": ")[0] for p in info.problems] == [tag.rstrip(": ")]


def test_runs_list_warns_about_a_malformed_line_with_its_number(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    run = copy_run(runs["train"], tmp_path)
    events = run / "events.jsonl"
    lines = events.read_text().splitlines(keepends=True)
    lines.insert(4, "{not json\n")
    events.write_text("".join(lines))
    result = invoke("runs", "list", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    assert f"warning: {events}:5: not valid JSON" in result.stderr
    (listed,) = json.loads(result.stdout)
    assert listed["status"] == "finished"
    assert listed["problems"] == [
        f"{events}:5: not valid JSON: Expecting property name enclosed in double quotes"
    ]
    report = invoke("report", str(run), "--out", str(tmp_path / "report"))
    assert report.exit_code == 2
    assert f"{events}:5: not valid JSON" in report.output
    assert "Traceback" not in report.output


# -- corrupt and truncated checkpoints --------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_a_damaged_checkpoint_is_refused_or_loads_never_crashes(
    data: st.DataObject, runs: dict[str, Path], tmp_path: Path
) -> None:
    command = data.draw(st.sampled_from(["run", "train"]), label="command")
    name = "checkpoint.pt" if command == "run" else "policy.pt"
    good = (runs[command] / name).read_bytes()
    if data.draw(st.booleans(), label="truncate"):
        damaged = good[: data.draw(st.integers(0, len(good) - 1), label="keep")]
    else:
        damaged = bytearray(good)
        for _ in range(data.draw(st.integers(1, 8), label="flips")):
            at = data.draw(st.integers(0, len(good) - 1))
            damaged[at] = data.draw(st.integers(0, 255))
        damaged = bytes(damaged)
    path = tmp_path / name
    path.write_bytes(damaged)
    fuzzed["checkpoints"] += 1
    refused: CheckpointError | None = None
    try:
        state = load_checkpoint(path)
    except CheckpointError as exc:
        refused = exc
    if refused is not None:
        assert str(refused).startswith(f"{path}: ")
    else:
        # A flipped byte inside tensor data is not detectable: the file still holds plain data.
        assert isinstance(state, dict)
        assert len(damaged) == len(good)


@pytest.mark.parametrize("command", ["run", "train"])
def test_resuming_from_a_truncated_checkpoint_exits_2_and_changes_nothing(
    command: str, runs: dict[str, Path], tmp_path: Path
) -> None:
    run = copy_run(runs[command], tmp_path)
    name = "checkpoint.pt" if command == "run" else "policy.pt"
    data = (run / name).read_bytes()
    (run / name).write_bytes(data[: len(data) // 3])
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    result = invoke("resume", str(run), "--quiet")
    assert result.exit_code == 2, result.output
    assert f"Error: {run / name}: corrupt or truncated checkpoint" in result.output
    assert "Traceback" not in result.output
    assert (run / name).read_bytes() == data[: len(data) // 3]  # left for the user to recover
    if command == "run":
        # Checked before the session opens: nothing in the directory changed.
        assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


# -- checkpoints from another run -------------------------------------------------------------


def _edit_config(run: Path, old: str, new: str) -> str:
    path = run / "config.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return text


def _resume_fails_then_works(run: Path, expected: str, restore: str) -> None:
    name = "checkpoint.pt" if (run / "checkpoint.pt").exists() else "policy.pt"
    checkpoint = (run / name).read_bytes()
    result = invoke("resume", str(run), "--quiet")
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    assert (run / name).read_bytes() == checkpoint
    (run / "config.toml").write_text(restore)
    with one_thread():
        result = invoke("resume", str(run), "--quiet")
    assert result.exit_code == 0, result.output  # the checkpoint is still usable
    check_run_dir(run)


def test_a_checkpoint_of_another_task_is_refused(runs: dict[str, Path], tmp_path: Path) -> None:
    run = copy_run(runs["run"], tmp_path)
    original = _edit_config(
        run, 'name = "esper.tasks.builtin:image"', 'name = "esper.tasks.builtin:image-impaired"'
    )
    _resume_fails_then_works(
        run,
        "checkpoint is for task 'esper.tasks.builtin:image', this run's task is "
        "'esper.tasks.builtin:image-impaired'",
        original,
    )


def test_a_checkpoint_with_other_slots_is_refused(runs: dict[str, Path], tmp_path: Path) -> None:
    run = copy_run(runs["run"], tmp_path)
    original = _edit_config(run, "slots = []", 'slots = ["r0c0", "r1c1"]')
    _resume_fails_then_works(run, "checkpoint was made with slots", original)


def test_a_policy_checkpoint_with_other_envs_is_refused(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    run = copy_run(runs["train"], tmp_path)
    original = _edit_config(run, "envs = 2", "envs = 3")
    _resume_fails_then_works(
        run, "checkpoint was trained with 2 envs per update, this run has train.envs = 3", original
    )


@pytest.mark.parametrize("command", ["run", "train"])
def test_a_checkpoint_of_another_schema_version_is_refused(
    command: str, runs: dict[str, Path], tmp_path: Path
) -> None:
    run = copy_run(runs[command], tmp_path)
    name = "checkpoint.pt" if command == "run" else "policy.pt"
    state = torch.load(run / name, weights_only=True)
    state["schema"] = 99
    buffer = io.BytesIO()
    torch.save(state, buffer)
    (run / name).write_bytes(buffer.getvalue())
    result = invoke("resume", str(run), "--quiet")
    assert result.exit_code == 2, result.output
    assert "schema 99 is not supported (expected 1)" in result.output
    assert "Traceback" not in result.output


def test_a_policy_checkpoint_in_place_of_a_growth_checkpoint_is_refused(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    run = copy_run(runs["run"], tmp_path)
    shutil.copy(runs["train"] / "policy.pt", run / "checkpoint.pt")
    result = invoke("resume", str(run), "--quiet")
    assert result.exit_code == 2, result.output
    assert "not a checkpoint of `esper run`" in result.output
    assert "Traceback" not in result.output
