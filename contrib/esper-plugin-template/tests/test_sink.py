"""The ``template:csv`` sink writes the rows it promises, and its config rejects bad values."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from esper.errors import ConfigError
from esper.registry import Registries
from esper.registry.manager import build_manager
from esper.telemetry import TelemetryBus
from esper.telemetry.events import RunEnded, RunStarted

from esper_plugin_template.config import CsvSinkConfig
from esper_plugin_template.sink import COLUMNS, CsvSink


def read_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def test_one_row_per_event_flushed_before_close(tmp_path: Path) -> None:
    sink = CsvSink(CsvSinkConfig(), run_dir=tmp_path)
    sink.write(RunStarted(command="train", config={"lr": 0.1}, ts=100.5, run_id="r1"))
    # Read while the sink is still open: each row must already be on disk.
    assert read_rows(tmp_path / "metrics.csv") == [
        list(COLUMNS),
        ["run.started", "100.5", "", "", '{"command":"train","run_id":"r1"}'],
    ]
    sink.write(RunEnded(status="finished", wall_time_s=12.25, ts=101.0, epoch=3, env_id=1))
    rows = read_rows(tmp_path / "metrics.csv")
    assert len(rows) == 3
    assert rows[2][:4] == ["run.ended", "101.0", "3", "1"]
    assert json.loads(rows[2][4]) == {"run_id": "", "status": "finished", "wall_time_s": 12.25}
    assert sink.rows == 2
    sink.close()
    sink.close()  # closing twice is harmless


def test_type_filter_keeps_only_listed_events(tmp_path: Path) -> None:
    sink = CsvSink(CsvSinkConfig(types=("run.ended",)), run_dir=tmp_path)
    sink.write(RunStarted(command="train"))
    sink.write(RunEnded(status="crashed", wall_time_s=1.0))
    sink.close()
    rows = read_rows(tmp_path / "metrics.csv")
    assert [row[0] for row in rows] == ["type", "run.ended"]
    assert sink.rows == 1


def test_resumed_run_appends_without_second_header(tmp_path: Path) -> None:
    for status in ("interrupted", "finished"):
        sink = CsvSink(CsvSinkConfig(), run_dir=tmp_path)
        sink.write(RunEnded(status=status, wall_time_s=2.0))
        sink.close()
    rows = read_rows(tmp_path / "metrics.csv")
    assert [row[0] for row in rows] == ["type", "run.ended", "run.ended"]
    assert [json.loads(row[4])["status"] for row in rows[1:]] == ["interrupted", "finished"]


def test_path_is_resolved_in_the_run_dir(tmp_path: Path) -> None:
    sink = CsvSink(CsvSinkConfig(path="telemetry/out.csv"), run_dir=tmp_path)
    sink.close()
    assert sink.path == (tmp_path / "telemetry" / "out.csv").resolve()
    assert sink.path.read_text(encoding="utf-8").splitlines() == [",".join(COLUMNS)]


def test_path_may_not_leave_the_run_dir(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with pytest.raises(ConfigError, match="outside the run directory"):
        CsvSink(CsvSinkConfig(path="../escape.csv"), run_dir=run_dir)
    assert not (tmp_path / "escape.csv").exists()


def test_through_registry_and_bus(tmp_path: Path) -> None:
    # The way esper builds it: look the id up, build from the lazy factory string, emit.
    manager = build_manager(["template"], autoload=False)
    entry = Registries(manager)["telemetry_sinks"].get("template:csv")
    config_cls = entry.spec.load_config_cls()
    assert config_cls is CsvSinkConfig
    sink = entry.build(config_cls(), run_dir=tmp_path)
    with TelemetryBus([(entry.id, sink)], run_id="run-7") as bus:
        bus.emit(RunStarted(command="run"))
        bus.emit(RunEnded(status="finished", wall_time_s=3.5, epoch=25))
    rows = read_rows(tmp_path / "metrics.csv")
    assert [row[0] for row in rows[1:]] == ["run.started", "run.ended"]
    assert rows[2][2] == "25"
    assert [json.loads(row[4])["run_id"] for row in rows[1:]] == ["run-7", "run-7"]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"path": ""}, ValueError),
        ({"path": "   "}, ValueError),
        ({"types": ("Run Started",)}, ValueError),
        ({"types": ("run.",)}, ValueError),
        ({"types": (7,)}, TypeError),
        ({"types": ["run.started"]}, TypeError),
    ],
)
def test_config_rejects_bad_values(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        CsvSinkConfig(**options)


def test_config_is_frozen() -> None:
    config = CsvSinkConfig(types=("run.started",))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.path = "other.csv"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            'types = ["run.started", "Bad Type"]',
            "config.telemetry.sinks.template:csv.types: must match regex",
        ),
        ("types = [7]", "config.telemetry.sinks.template:csv.types[0]: expected str"),
        ('path = ""', "config.telemetry.sinks.template:csv.path: must name a file"),
        ('colour = "red"', "config.telemetry.sinks.template:csv.colour: unknown key"),
    ],
)
def test_config_file_problems_are_reported_with_their_key(
    esper_cli: Any, tmp_path: Path, table: str, expected: str
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(f'[telemetry.sinks."template:csv"]\n{table}\n', encoding="utf-8")
    result = esper_cli("--plugin", "template", "config", "show", "--config", str(bad))
    assert result.exit_code == 2
    assert expected in result.stderr


def test_good_config_file_is_structured(esper_cli: Any, tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(
        '[telemetry.sinks."template:csv"]\npath = "m.csv"\ntypes = ["run.ended"]\n',
        encoding="utf-8",
    )
    result = esper_cli(
        "--plugin", "template", "config", "show", "--config", str(good), "--format", "json"
    )
    assert result.exit_code == 0, result.output
    sinks = json.loads(result.stdout)["telemetry"]["sinks"]
    assert sinks["template:csv"] == {"path": "m.csv", "types": ["run.ended"]}
