"""Each event type as the sink logs it, read back with MLflow's client; resuming; its options;
and that it never raises into the telemetry bus."""

from __future__ import annotations

import json
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
from esper.telemetry.events import RunEnded, RunResumed, RunStarted
from esper_plugins.governors.events import GovernorRollback
from mlflow_reader import Store, read_run, runs_in, store_uri

from esper_sink_mlflow.config import MlflowSinkConfig
from esper_sink_mlflow.sink import MlflowSink, flatten


def epoch(arm: str, number: int, ts: float, **fields: Any) -> EpochCompleted:
    values: dict[str, Any] = {
        "train_loss": 2.0 - 0.25 * number,
        "train_accuracy": 10.0 * number,
        "val_loss": 2.5 - 0.25 * number,
        "val_accuracy": 12.5 * number,
        "params_total": 6484 + number,
        "params_host": 6484,
    }
    values.update(fields)
    return EpochCompleted(arm=arm, epoch=number, ts=ts, run_id="r1", **values)


CONFIG = {
    "run": {"epochs": 2, "slots": ["r0c0", "r0c1"], "amp": "off", "budget_flops": 0.0},
    "task": {"name": "image", "augment": True, "host": {}},
}


def test_params_metrics_and_slots_per_arm(store: Store, tmp_path: Path) -> None:
    sink = MlflowSink(store.config(tags={"team": "growth"}), run_dir=tmp_path / "r1")
    sink.write(RunStarted(command="run", config=CONFIG, run_id="r1", ts=99.0))
    sink.write(
        epoch(
            "grown",
            1,
            100.0,
            stages={"r0c0": "BLENDING", "r0c1": "DORMANT"},
            alphas={"r0c0": 0.25},
            contributions={"r0c0": 1.5},
        )
    )
    sink.write(epoch("static", 1, 101.0, stages={"r0c0": "DORMANT"}))
    sink.write(epoch("grown", 2, 102.0, val_loss=math.nan))
    sink.write(RunEnded(status="finished", wall_time_s=3.5, run_id="r1", ts=103.0))
    sink.close()
    logged = read_run(store.uri)
    assert logged.run.info.run_name == "r1"  # the run directory's name
    assert logged.run.info.status == "FINISHED"
    assert logged.params == {
        "run.epochs": "2",
        "run.slots": '["r0c0", "r0c1"]',
        "run.amp": "off",
        "run.budget_flops": "0.0",
        "task.name": "image",
        "task.augment": "true",
    }
    assert logged.artifact("config.json") == CONFIG
    assert logged.tags == {
        "team": "growth",
        "esper.run_id": "r1",
        "esper.command": "run",
        "esper.status": "finished",
    }
    metrics = logged.metrics()
    val_loss = metrics.pop("grown/val_loss")
    assert val_loss[0] == (1, 2.25, 100_000)
    assert math.isnan(val_loss[1][1])  # a NaN loss is kept: it is news
    assert metrics == {
        "grown/train_loss": [(1, 1.75, 100_000), (2, 1.5, 102_000)],
        "grown/train_accuracy": [(1, 10.0, 100_000), (2, 20.0, 102_000)],
        "grown/val_accuracy": [(1, 12.5, 100_000), (2, 25.0, 102_000)],
        "grown/params_total": [(1, 6485.0, 100_000), (2, 6486.0, 102_000)],
        "grown/slot/r0c0/stage": [(1, 4.0, 100_000)],
        "grown/slot/r0c1/stage": [(1, 1.0, 100_000)],
        "grown/slot/r0c0/alpha": [(1, 0.25, 100_000)],
        "grown/slot/r0c0/contribution": [(1, 1.5, 100_000)],
        "static/train_loss": [(1, 1.75, 101_000)],
        "static/train_accuracy": [(1, 10.0, 101_000)],
        "static/val_loss": [(1, 2.25, 101_000)],
        "static/val_accuracy": [(1, 12.5, 101_000)],
        "static/params_total": [(1, 6485.0, 101_000)],
        "static/slot/r0c0/stage": [(1, 1.0, 101_000)],
        "wall_time_s": [(0, 3.5, 103_000)],
    }
    assert sink.failures == 0


def test_flatten_writes_json_for_everything_but_strings() -> None:
    assert flatten({"a": {"b": [1, 2], "c": None, "d": {"e": "x"}}, "f": 1.5}) == {
        "a.b": "[1, 2]",
        "a.c": "null",
        "a.d.e": "x",
        "f": "1.5",
    }


def test_training_updates_rollbacks_and_episodes(store: Store, tmp_path: Path) -> None:
    # esper train: two lock-step environments, two episodes of two epochs, a rollback.
    sink = MlflowSink(store.config(), run_dir=tmp_path)
    sink.write(RunStarted(command="train", run_id="t1"))
    ts = 0.0
    for episode in range(2):
        for number in (1, 2):
            if (episode, number) == (1, 1):
                sink.write(GovernorRollback(reason="governor_nan", val_loss=None, epoch=1, ts=ts))
            for env in ("env0", "env1"):
                ts += 1.0
                sink.write(epoch(env, number, ts))
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
    sink.write(RunEnded(status="interrupted", wall_time_s=1.0))
    sink.close()
    logged = read_run(store.uri)
    metrics = logged.metrics()
    for env in ("env0", "env1"):
        assert [(s, v) for s, v, _ in metrics[f"{env}/val_accuracy"]] == [
            (1, 12.5),
            (2, 25.0),
            (3, 12.5),
            (4, 25.0),
        ]
    assert metrics["governor/rollback"] == [(3, 1.0, 4_000)]
    assert metrics["train/mean_reward"] == [(0, 0.5, 4_500), (1, 1.5, 8_500)]
    assert metrics["train/rollbacks"] == [(0, 0.0, 4_500), (1, 1.0, 8_500)]
    assert metrics["train/policy_loss"] == [(0, -0.75, 4_500), (1, -0.75, 8_500)]
    assert metrics["train/approx_kl"] == [(0, 0.125, 4_500), (1, 0.125, 8_500)]
    assert logged.run.info.status == "KILLED"  # interrupted
    assert logged.tags["esper.status"] == "interrupted"


def test_a_resumed_run_continues_its_mlflow_run(tmp_path: Path) -> None:
    first = MlflowSink(MlflowSinkConfig(), run_dir=tmp_path)
    first.write(RunStarted(command="run", config=CONFIG, run_id="r1"))
    first.write(epoch("grown", 1, 10.0))
    first.write(RunEnded(status="crashed", wall_time_s=1.0, run_id="r1"))
    first.close()
    assert read_run(store_uri(tmp_path)).run.info.status == "FAILED"
    again = MlflowSink(MlflowSinkConfig(), run_dir=tmp_path)
    # A changed config must not trip MLflow's rule that params never change.
    changed = {**CONFIG, "run": {**CONFIG["run"], "epochs": 5}}
    again.write(RunStarted(command="resume", config=changed, run_id="r1"))
    again.write(RunResumed(checkpoint="checkpoint.pt", position=1, run_id="r1"))
    again.write(epoch("grown", 2, 20.0))
    again.write(RunEnded(status="finished", wall_time_s=2.0, run_id="r1"))
    again.close()
    assert (first.failures, again.failures) == (0, 0)
    logged = read_run(store_uri(tmp_path))  # still one run
    assert logged.run.info.status == "FINISHED"
    assert logged.params["run.epochs"] == "2"
    assert logged.tags["esper.resumed_at"] == "1"
    assert logged.tags["esper.command"] == "resume"
    assert [s for s, _, _ in logged.metrics()["grown/val_accuracy"]] == [1, 2]
    # Another esper run is another MLflow run.
    other = MlflowSink(MlflowSinkConfig(), run_dir=tmp_path)
    other.write(RunStarted(command="run", run_id="r2"))
    other.close()
    assert [r.tags["esper.run_id"] for r in runs_in(store_uri(tmp_path))] == ["r1", "r2"]


CONTROLLERS = [
    {
        "controller": "static",
        "seeds": 2,
        "final_mean": 40.0,
        "final_ci_low": None,
        "params": 6484.0,
    },
    {
        "controller": "runs/x/policy.pt",
        "seeds": 2,
        "final_mean": 45.5,
        "final_ci_low": 41.0,
        "params": 7000.0,
    },
]
COMPARISONS = [
    {"a": "runs/x/policy.pt", "b": "static", "seeds": 2, "final_difference": 5.5,
     "final_p_value": 0.01, "final_verdict": "better", "final_wins": 2},
]  # fmt: skip


def evaluation(**fields: Any) -> EvalSummary:
    values: dict[str, Any] = {
        "eval_dir": "evals/e",
        "task": "image",
        "metric": "val_accuracy",
        "higher_is_better": True,
        "epochs": 2,
        "seeds": [1, 2],
        "controllers": CONTROLLERS,
        "comparisons": COMPARISONS,
        "ts": 50.0,
    }
    values.update(fields)
    return EvalSummary(**values)


def test_evaluation_tables_and_their_numbers(store: Store, tmp_path: Path) -> None:
    config = store.config(experiment="evals", run_name="my-eval")
    sink = MlflowSink(config, run_dir=tmp_path)
    sink.write(RunStarted(command="eval", config={"run": {"epochs": 2}}, run_id="e1"))
    sink.write(evaluation(run_id="e1"))
    sink.write(RunEnded(status="finished", wall_time_s=9.0, run_id="e1"))
    sink.close()
    logged = read_run(store.uri, "evals")
    assert logged.run.info.run_name == "my-eval"
    assert logged.artifacts("eval") == ["eval/comparisons.json", "eval/controllers.json"]
    assert logged.artifact("eval/controllers.json") == {
        "columns": list(CONTROLLERS[0]),
        "data": [list(row.values()) for row in CONTROLLERS],
    }
    assert logged.artifact("eval/comparisons.json") == {
        "columns": list(COMPARISONS[0]),
        "data": [list(row.values()) for row in COMPARISONS],
    }
    metrics = logged.metrics()
    assert metrics["eval/runs_x_policy.pt/final_mean"] == [(0, 45.5, 50_000)]
    assert metrics["eval/runs_x_policy.pt/final_ci_low"] == [(0, 41.0, 50_000)]
    assert "eval/static/final_ci_low" not in metrics  # unknown: no number to log
    assert metrics["eval/runs_x_policy.pt - static/final_difference"] == [(0, 5.5, 50_000)]
    assert "eval/runs_x_policy.pt - static/final_verdict" not in metrics  # in the table only
    assert logged.tags["esper.eval_metric"] == "val_accuracy"
    # Listed as tables, as mlflow.log_table lists them (MLflow's UI and load_table look here).
    assert json.loads(logged.run.data.tags["mlflow.loggedArtifacts"]) == [
        {"path": "eval/controllers.json", "type": "table"},
        {"path": "eval/comparisons.json", "type": "table"},
    ]
    assert logged.run.info.status == "FINISHED"


def test_events_it_cannot_use_are_skipped(store: Store, tmp_path: Path) -> None:
    sink = MlflowSink(store.config(), run_dir=tmp_path)
    odd = SimpleNamespace(
        type="engine.epoch",
        run_id="",
        ts=1.0,
        epoch=1,
        arm="grown",
        val_loss="not a number",
        val_accuracy=True,
        stages={"r0c0": "NO_SUCH_STAGE", "r0c1": 7},
    )
    sink.write(odd)  # type: ignore[arg-type]
    sink.write(SimpleNamespace(type="engine.epoch", run_id="", ts=1.0, epoch=None, arm="g"))  # type: ignore[arg-type]
    sink.write(SimpleNamespace(type="train.update", run_id="", ts=1.0, epoch=None, update="3"))  # type: ignore[arg-type]
    sink.write(SimpleNamespace(type="seed.germinated", run_id="", ts=1.0, epoch=1))  # type: ignore[arg-type]
    sink.close()
    logged = read_run(store.uri)
    assert logged.metrics() == {}
    assert logged.run.info.status == "FAILED"  # closed without run.ended
    assert sink.failures == 0


def test_closing_twice_and_writing_after_close_are_harmless(store: Store, tmp_path: Path) -> None:
    sink = MlflowSink(store.config(), run_dir=tmp_path)
    sink.write(epoch("grown", 1, 1.0))
    sink.close()
    sink.close()
    sink.write(epoch("grown", 2, 2.0))
    assert len(read_run(store.uri).metrics()["grown/val_accuracy"]) == 1
    MlflowSink(store.config(), run_dir=tmp_path).close()  # no event: no run
    assert len(runs_in(store.uri)) == 1


def test_a_failing_call_never_raises_into_the_bus(
    store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    captured_logs: list[dict[str, Any]],
) -> None:
    sink = MlflowSink(store.config(), run_dir=tmp_path)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(sink.client, "log_batch", broken)
    with TelemetryBus([("mlflow", sink)], run_id="r") as bus:
        bus.emit(epoch("grown", 1, 1.0))
        bus.emit(epoch("grown", 2, 2.0))
    assert bus.failures == {}
    assert sink.failures == 2
    warnings = [e for e in captured_logs if e["log_level"] == "warning"]
    assert [e["event"] for e in warnings] == [
        "mlflow sink could not log an event; later failures are only counted"
    ]
    assert "disk full" in warnings[0]["error"]


def test_the_default_store_lives_in_the_run_dir(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    sink = MlflowSink(MlflowSinkConfig(), run_dir=run_dir)
    sink.write(RunStarted(command="run", config=CONFIG, run_id="r1"))
    sink.close()
    assert sink.tracking_uri == store_uri(run_dir)
    logged = read_run(store_uri(run_dir))
    artifacts = Path(logged.client.download_artifacts(logged.run.info.run_id, "config.json"))
    assert json.loads(artifacts.read_text()) == CONFIG
    assert logged.run.info.artifact_uri.startswith((run_dir / "mlflow" / "artifacts").as_uri())


def test_a_given_tracking_uri_is_used_as_it_is(store: Store, tmp_path: Path) -> None:
    for run_id in ("a", "b"):
        run_dir = tmp_path / run_id
        sink = MlflowSink(store.config(), run_dir=run_dir)
        sink.write(RunStarted(command="run", config=CONFIG, run_id=run_id))
        sink.close()
        assert not (run_dir / "mlflow").exists()
    runs = runs_in(store.uri)
    assert [r.run.info.run_name for r in runs] == ["a", "b"]
    # The sink made the experiment, with its files where artifact_location says.
    assert all(r.run.info.artifact_uri.startswith(store.artifacts) for r in runs)
    assert runs[1].artifact("config.json") == CONFIG


def test_a_store_mlflow_cannot_open_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"telemetry\.sinks\.mlflow: MLflow could not open"):
        MlflowSink(MlflowSinkConfig(tracking_uri="nosuchscheme://x"), run_dir=tmp_path)


def test_built_through_the_registry_by_bare_name(store: Store, tmp_path: Path) -> None:
    manager = build_manager(["esper.telemetry.mlflow"], autoload=False)
    entry = Registries(manager)["telemetry_sinks"].get("mlflow")
    assert entry.id == "esper.telemetry.mlflow:mlflow"
    assert entry.spec.load_config_cls() is MlflowSinkConfig
    sink = entry.build(store.config(), run_dir=tmp_path)
    assert isinstance(sink, MlflowSink)
    sink.close()


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"experiment": ""}, ValueError),
        ({"experiment": "x" * 251}, ValueError),
        ({"tracking_uri": " http://x"}, ValueError),
        ({"run_name": 3}, TypeError),
        ({"tags": {"": "x"}}, ValueError),
        ({"tags": {"esper.run_id": "x"}}, ValueError),
        ({"tags": {"mlflow.user": "x"}}, ValueError),
        ({"tags": {"a": 1}}, TypeError),
        ({"tags": ["a"]}, TypeError),
    ],
)
def test_config_rejects_bad_values(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        MlflowSinkConfig(**options)


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('colour = "red"', "config.telemetry.sinks.mlflow.colour: unknown key"),
        ('experiment = ""', "config.telemetry.sinks.mlflow.experiment: must not be empty"),
        ('tags = {"esper.x" = "y"}', "config.telemetry.sinks.mlflow.tags: may not set"),
    ],
)
def test_config_file_problems_name_their_key(
    esper_cli: Any, tmp_path: Path, table: str, expected: str
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(f"[telemetry.sinks.mlflow]\n{table}\n", encoding="utf-8")
    result = esper_cli("--plugin", "esper.telemetry.mlflow", "config", "show", "--config", str(bad))
    assert result.exit_code == 2
    assert expected in result.stderr
