"""What the sink writes for each event type, read back with TensorBoard's reader; its config;
and that it never raises into the telemetry bus."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from esper.engine.events import EpochCompleted, UpdateCompleted
from esper.errors import ConfigError
from esper.evaluation.events import EvalSummary
from esper.registry import Registries
from esper.registry.manager import build_manager
from esper.telemetry import TelemetryBus
from esper.telemetry.events import RunEnded, RunStarted
from esper_plugins.governors.events import GovernorRollback
from tb_reader import f32, read_scalars

from esper_sink_tensorboard.config import TensorBoardSinkConfig
from esper_sink_tensorboard.sink import TensorBoardSink


def epoch_event(arm: str, epoch: int, ts: float, **fields: Any) -> EpochCompleted:
    values: dict[str, Any] = {
        "train_loss": 2.0 - 0.1 * epoch,
        "train_accuracy": 10.0 * epoch,
        "val_loss": 2.5 - 0.1 * epoch,
        "val_accuracy": 12.5 * epoch,
        "params_total": 6484 + epoch,
        "params_host": 6484,
    }
    values.update(fields)
    return EpochCompleted(arm=arm, epoch=epoch, ts=ts, **values)


def test_epoch_metrics_and_slots_per_arm(tmp_path: Path) -> None:
    sink = TensorBoardSink(TensorBoardSinkConfig(), run_dir=tmp_path)
    sink.write(RunStarted(command="run"))
    sink.write(
        epoch_event(
            "grown",
            1,
            100.0,
            stages={"r0c0": "TRAINING", "r0c1": "DORMANT"},
            alphas={"r0c0": 0.25},
            contributions={"r0c0": 1.5},
        )
    )
    sink.write(epoch_event("static", 1, 101.0, stages={"r0c0": "DORMANT"}))
    sink.close()
    scalars = read_scalars(tmp_path / "tensorboard")
    assert scalars == {
        "grown/train_loss": [(1, f32(1.9), 100.0)],
        "grown/train_accuracy": [(1, 10.0, 100.0)],
        "grown/val_loss": [(1, f32(2.4), 100.0)],
        "grown/val_accuracy": [(1, 12.5, 100.0)],
        "grown/params_total": [(1, 6485.0, 100.0)],
        "grown/slot/r0c0/stage": [(1, 3.0, 100.0)],  # Stage.TRAINING
        "grown/slot/r0c1/stage": [(1, 1.0, 100.0)],  # Stage.DORMANT
        "grown/slot/r0c0/alpha": [(1, 0.25, 100.0)],
        "grown/slot/r0c0/contribution": [(1, 1.5, 100.0)],
        "static/train_loss": [(1, f32(1.9), 101.0)],
        "static/train_accuracy": [(1, 10.0, 101.0)],
        "static/val_loss": [(1, f32(2.4), 101.0)],
        "static/val_accuracy": [(1, 12.5, 101.0)],
        "static/params_total": [(1, 6485.0, 101.0)],
        "static/slot/r0c0/stage": [(1, 1.0, 101.0)],
    }
    assert sink.scalars == sum(len(points) for points in scalars.values()) == 15
    assert sink.failures == 0


def test_training_episodes_keep_the_step_growing(tmp_path: Path) -> None:
    # esper train: two lockstep envs, two 2-epoch episodes, a rollback in the second one.
    sink = TensorBoardSink(TensorBoardSinkConfig(logdir="tb"), run_dir=tmp_path)
    ts = 0.0
    for episode in range(2):
        for epoch in (1, 2):
            if episode == 1 and epoch == 1:
                sink.write(GovernorRollback(reason="governor_nan", val_loss=None, epoch=1, ts=ts))
            for env in ("env0", "env1"):
                ts += 1.0
                sink.write(epoch_event(env, epoch, ts))
        sink.write(
            UpdateCompleted(
                update=episode,
                episodes=2,
                mean_reward=0.5 + episode,
                mean_accuracy=20.0,
                rollbacks=episode,
                metrics={"policy_loss": -0.75, "approx_kl": 0.125},
                ts=ts + 0.5,
            )
        )
    sink.close()
    scalars = read_scalars(tmp_path / "tb")
    for env in ("env0", "env1"):
        assert [step for step, _, _ in scalars[f"{env}/val_accuracy"]] == [1, 2, 3, 4]
        assert [value for _, value, _ in scalars[f"{env}/val_accuracy"]] == [12.5, 25.0] * 2
    assert scalars["governor/rollback"] == [(3, 1.0, 4.0)]
    assert scalars["train/mean_reward"] == [(0, 0.5, 4.5), (1, 1.5, 8.5)]
    assert scalars["train/mean_accuracy"] == [(0, 20.0, 4.5), (1, 20.0, 8.5)]
    assert scalars["train/rollbacks"] == [(0, 0.0, 4.5), (1, 1.0, 8.5)]
    assert scalars["train/policy_loss"] == [(0, -0.75, 4.5), (1, -0.75, 8.5)]
    assert scalars["train/approx_kl"] == [(0, 0.125, 4.5), (1, 0.125, 8.5)]


def test_run_end_flushes_before_close(tmp_path: Path) -> None:
    sink = TensorBoardSink(TensorBoardSinkConfig(flush_secs=3600), run_dir=tmp_path)
    sink.write(epoch_event("grown", 1, 5.0, val_loss=math.nan))
    sink.write(RunEnded(status="finished", wall_time_s=1.0))
    # Still open: run.ended alone must have put the points on disk.
    scalars = read_scalars(tmp_path / "tensorboard")
    assert scalars["grown/val_accuracy"] == [(1, 12.5, 5.0)]
    assert math.isnan(scalars["grown/val_loss"][0][1])  # a NaN loss is kept, not dropped
    sink.close()
    sink.close()  # closing twice is harmless
    sink.write(epoch_event("grown", 2, 6.0))  # and writing after close is ignored
    assert len(read_scalars(tmp_path / "tensorboard")["grown/val_accuracy"]) == 1


def test_events_it_cannot_use_are_skipped_quietly(tmp_path: Path) -> None:
    sink = TensorBoardSink(TensorBoardSinkConfig(), run_dir=tmp_path)
    odd = SimpleNamespace(
        type="engine.epoch",
        ts=1.0,
        epoch=1,
        arm="grown",
        val_loss="not a number",
        val_accuracy=True,
        stages={"r0c0": "NO_SUCH_STAGE", "r0c1": 7},
        alphas=None,
    )
    sink.write(odd)  # type: ignore[arg-type]
    sink.write(SimpleNamespace(type="engine.epoch", ts=1.0, epoch=None, arm="grown"))  # type: ignore[arg-type]
    sink.write(SimpleNamespace(type="train.update", ts=1.0, epoch=None, update="3"))  # type: ignore[arg-type]
    sink.close()
    assert sink.scalars == 0
    assert sink.failures == 0


def test_an_evaluation_summary_is_no_scalar_and_no_failure(tmp_path: Path) -> None:
    # esper eval sends "eval.summary" (two tables) to the sinks its config selects; this sink
    # draws curves, so it lets the tables pass.
    sink = TensorBoardSink(TensorBoardSinkConfig(), run_dir=tmp_path)
    rows = [{"controller": "static", "seeds": 2, "final_mean": 40.0}]
    sink.write(
        EvalSummary(
            eval_dir="evals/e",
            task="image",
            metric="val_accuracy",
            higher_is_better=True,
            epochs=2,
            controllers=rows,
        )
    )
    sink.close()
    assert (sink.scalars, sink.failures) == (0, 0)
    assert read_scalars(tmp_path / "tensorboard") == {}


def test_a_failing_writer_never_raises_into_the_bus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, captured_logs: list[dict[str, Any]]
) -> None:
    sink = TensorBoardSink(TensorBoardSinkConfig(), run_dir=tmp_path)
    writer = sink._writer
    assert writer is not None

    def broken(*_args: object, **_kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(writer, "add_scalar", broken)
    monkeypatch.setattr(writer, "close", broken)
    with TelemetryBus([("tensorboard", sink)], run_id="r") as bus:
        bus.emit(epoch_event("grown", 1, 1.0))
        bus.emit(epoch_event("grown", 2, 2.0))
    assert bus.failures == {}  # the bus saw nothing fail, close included
    assert sink.failures == 3  # two writes and the close
    warnings = [e for e in captured_logs if e["log_level"] == "warning"]
    assert [e["event"].split(";")[0] for e in warnings] == [
        "tensorboard sink could not write an event",
        "tensorboard sink failed to close",
    ]
    assert "disk full" in warnings[0]["error"]


def test_logdir_is_resolved_in_the_run_dir(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    sink = TensorBoardSink(TensorBoardSinkConfig(logdir="views/tb"), run_dir=run_dir)
    sink.close()
    assert sink.logdir == (run_dir / "views" / "tb").resolve()
    assert len(list(sink.logdir.glob("events.out.tfevents.*"))) == 1
    with pytest.raises(ConfigError, match="outside the run directory"):
        TensorBoardSink(TensorBoardSinkConfig(logdir="../escape"), run_dir=run_dir)
    assert not (tmp_path / "escape").exists()
    elsewhere = tmp_path / "absolute"
    TensorBoardSink(TensorBoardSinkConfig(logdir=str(elsewhere)), run_dir=run_dir).close()
    assert elsewhere.is_dir()


def test_built_through_the_registry_by_bare_name(tmp_path: Path) -> None:
    manager = build_manager(["esper.telemetry.tensorboard"], autoload=False)
    entry = Registries(manager)["telemetry_sinks"].get("tensorboard")
    assert entry.id == "esper.telemetry.tensorboard:tensorboard"
    sink = entry.build(entry.spec.load_config_cls()(), run_dir=tmp_path)
    assert isinstance(sink, TensorBoardSink)
    sink.close()


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"logdir": ""}, ValueError),
        ({"logdir": "  "}, ValueError),
        ({"logdir": 3}, TypeError),
        ({"flush_secs": 0}, ValueError),
        ({"flush_secs": True}, TypeError),
        ({"flush_secs": 1.5}, TypeError),
    ],
)
def test_config_rejects_bad_values(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        TensorBoardSinkConfig(**options)


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('colour = "red"', "config.telemetry.sinks.tensorboard.colour: unknown key"),
        ("flush_secs = 0", "config.telemetry.sinks.tensorboard.flush_secs: must be >= 1, got 0"),
    ],
)
def test_config_file_problems_name_their_key(
    esper_cli: Any, tmp_path: Path, table: str, expected: str
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(f"[telemetry.sinks.tensorboard]\n{table}\n", encoding="utf-8")
    result = esper_cli(
        "--plugin", "esper.telemetry.tensorboard", "config", "show", "--config", str(bad)
    )
    assert result.exit_code == 2
    assert expected in result.stderr
