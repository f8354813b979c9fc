"""Each event type as the sink logs it, read back from the offline run with wandb's reader;
its options; and that it never raises into the telemetry bus."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import wandb
from esper.engine.events import EpochCompleted, UpdateCompleted
from esper.errors import ConfigError
from esper.evaluation.events import EvalSummary
from esper.registry import Registries
from esper.registry.manager import build_manager
from esper.telemetry import TelemetryBus
from esper.telemetry.events import RunEnded, RunResumed, RunStarted
from esper_plugins.governors.events import GovernorRollback
from wandb_reader import offline_runs, read_run

from esper_sink_wandb import sink as sink_module
from esper_sink_wandb.config import WandbSinkConfig
from esper_sink_wandb.sink import WandbSink


def epoch(arm: str, number: int, **fields: Any) -> EpochCompleted:
    values: dict[str, Any] = {
        "train_loss": 2.0 - 0.25 * number,
        "train_accuracy": 10.0 * number,
        "val_loss": 2.5 - 0.25 * number,
        "val_accuracy": 12.5 * number,
        "params_total": 6484 + number,
        "params_host": 6484,
    }
    values.update(fields)
    return EpochCompleted(arm=arm, epoch=number, run_id="r1", **values)


def test_config_epochs_and_slots_per_arm(tmp_path: Path) -> None:
    sink = WandbSink(WandbSinkConfig(tags=("smoke",)), run_dir=tmp_path / "r1")
    config = {"run": {"epochs": 2, "slots": ["r0c0"]}, "task": {"name": "image"}}
    sink.write(RunStarted(command="run", config=config, run_id="r1"))
    sink.write(
        epoch(
            "grown",
            1,
            stages={"r0c0": "BLENDING", "r0c1": "DORMANT"},
            alphas={"r0c0": 0.25},
            contributions={"r0c0": 1.5},
        )
    )
    sink.write(epoch("static", 1, stages={"r0c0": "DORMANT"}))
    sink.write(epoch("grown", 2, val_loss=math.nan))
    sink.write(RunEnded(status="finished", wall_time_s=3.5, run_id="r1"))
    sink.close()
    run = read_run(tmp_path / "r1")
    assert run.state["state"] == "finished"
    assert run.state["name"] == "r1"  # the run directory's name
    assert run.state["project"] == "esper"
    assert run.state["tags"] == ["smoke"]
    assert run.state["config"] == {**config, "esper": {"command": "run", "run_id": "r1"}}
    assert run.history() == [
        {
            "grown/epoch": 1,
            "grown/train_loss": 1.75,
            "grown/train_accuracy": 10,
            "grown/val_loss": 2.25,
            "grown/val_accuracy": 12.5,
            "grown/params_total": 6485,
            "grown/slot/r0c0/stage": 4,
            "grown/slot/r0c1/stage": 1,
            "grown/slot/r0c0/alpha": 0.25,
            "grown/slot/r0c0/contribution": 1.5,
        },
        {
            "static/epoch": 1,
            "static/train_loss": 1.75,
            "static/train_accuracy": 10,
            "static/val_loss": 2.25,
            "static/val_accuracy": 12.5,
            "static/params_total": 6485,
            "static/slot/r0c0/stage": 1,
        },
        {
            "grown/epoch": 2,
            "grown/train_loss": 1.5,
            "grown/train_accuracy": 20,
            "grown/val_loss": "NaN",  # a NaN loss is kept: it is news
            "grown/val_accuracy": 25,
            "grown/params_total": 6486,
        },
    ]
    summary = run.state["summary"]
    assert (summary["status"], summary["wall_time_s"]) == ("finished", 3.5)
    # Each arm's keys are drawn against that arm's epoch.
    axes = {
        r["metric"]["glob_name"]: r["metric"]["step_metric"]
        for r in run.records
        if r["type"] == "metric"
    }
    assert axes == {"grown/*": "grown/epoch", "static/*": "static/epoch"}
    assert sink.failures == 0


def test_training_updates_rollbacks_and_episodes(tmp_path: Path) -> None:
    # esper train: two lock-step environments, two episodes of two epochs, a rollback.
    sink = WandbSink(WandbSinkConfig(), run_dir=tmp_path)
    sink.write(RunStarted(command="train"))
    for episode in range(2):
        for number in (1, 2):
            if (episode, number) == (1, 1):
                sink.write(GovernorRollback(reason="governor_nan", val_loss=None, epoch=1))
            for env in ("env0", "env1"):
                sink.write(epoch(env, number))
        sink.write(
            UpdateCompleted(
                update=episode,
                episodes=2,
                mean_reward=0.5 + episode,
                mean_accuracy=20.0,
                rollbacks=episode,
                metrics={"policy_loss": -0.75, "approx_kl": 0.125},
            )
        )
    sink.write(RunResumed(checkpoint="policy.pt", position=2))
    sink.write(RunEnded(status="interrupted", wall_time_s=1.0))
    sink.close()
    run = read_run(tmp_path)
    for env in ("env0", "env1"):
        assert run.series(f"{env}/val_accuracy", f"{env}/epoch") == [
            (1, 12.5),
            (2, 25),
            (3, 12.5),
            (4, 25),
        ]
    assert run.series("governor/rollback", "governor/epoch") == [(3, 1)]
    assert run.series("train/mean_reward", "train/update") == [(0, 0.5), (1, 1.5)]
    assert run.series("train/rollbacks", "train/update") == [(0, 0), (1, 1)]
    assert run.series("train/policy_loss", "train/update") == [(0, -0.75), (1, -0.75)]
    assert run.series("train/approx_kl", "train/update") == [(0, 0.125), (1, 0.125)]
    # Not finished: W&B marks the run failed; the summary says what happened.
    assert run.state["state"] == "failed"
    assert run.state["summary"]["status"] == "interrupted"
    assert run.state["summary"]["resumed_at"] == 2
    assert run.state["config"]["esper"]["command"] == "train"


CONTROLLERS = [
    {
        "controller": "static",
        "seeds": 2,
        "final_mean": 40.0,
        "final_ci_low": None,
        "params": 6484.0,
    },
    {
        "controller": "heuristic",
        "seeds": 2,
        "final_mean": 45.5,
        "final_ci_low": 41.0,
        "params": 7000.0,
    },
]
COMPARISONS = [
    {"a": "heuristic", "b": "static", "seeds": 2, "final_difference": 5.5, "final_p_value": 0.01,
     "final_verdict": "better", "final_wins": 2},
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
    }
    values.update(fields)
    return EvalSummary(**values)


def test_evaluation_tables_and_their_numbers(tmp_path: Path) -> None:
    sink = WandbSink(WandbSinkConfig(name="my-eval", group="g"), run_dir=tmp_path)
    sink.write(RunStarted(command="eval", config={"run": {"epochs": 2}}))
    sink.write(evaluation())
    sink.write(RunEnded(status="finished", wall_time_s=9.0))
    sink.close()
    run = read_run(tmp_path)
    assert run.state["name"] == "my-eval"
    controllers = run.table("eval/controllers")
    assert controllers["columns"] == list(CONTROLLERS[0])
    assert controllers["data"] == [list(row.values()) for row in CONTROLLERS]
    comparisons = run.table("eval/comparisons")
    assert comparisons["columns"] == list(COMPARISONS[0])
    assert comparisons["data"] == [list(row.values()) for row in COMPARISONS]
    summary = run.state["summary"]
    assert summary["eval/metric"] == "val_accuracy"
    assert summary["eval/heuristic/final_mean"] == 45.5
    assert summary["eval/heuristic/final_ci_low"] == 41
    assert "eval/static/final_ci_low" not in summary  # unknown: no number to show
    assert summary["eval/heuristic - static/final_difference"] == 5.5
    assert summary["eval/heuristic - static/final_wins"] == 2
    assert "eval/heuristic - static/final_verdict" not in summary  # a word, in the table only
    assert run.state["state"] == "finished"


def test_an_evaluation_of_one_controller_has_no_comparisons_table(tmp_path: Path) -> None:
    sink = WandbSink(WandbSinkConfig(), run_dir=tmp_path)
    sink.write(evaluation(controllers=CONTROLLERS[:1], comparisons=[]))
    sink.close()
    run = read_run(tmp_path)
    assert run.table("eval/controllers")["data"] == [list(CONTROLLERS[0].values())]
    assert "eval/comparisons" not in run.state["summary"]
    assert sink.failures == 0


def test_events_it_cannot_use_are_skipped(tmp_path: Path) -> None:
    sink = WandbSink(WandbSinkConfig(), run_dir=tmp_path)
    odd = SimpleNamespace(
        type="engine.epoch",
        run_id="",
        epoch=1,
        arm="grown",
        val_loss="not a number",
        val_accuracy=True,
        stages={"r0c0": "NO_SUCH_STAGE", "r0c1": 7},
    )
    sink.write(odd)  # type: ignore[arg-type]
    sink.write(SimpleNamespace(type="engine.epoch", run_id="", epoch=None, arm="grown"))  # type: ignore[arg-type]
    sink.write(SimpleNamespace(type="train.update", run_id="", epoch=None, update="3"))  # type: ignore[arg-type]
    sink.write(SimpleNamespace(type="seed.germinated", run_id="", epoch=1))  # type: ignore[arg-type]
    sink.close()
    assert read_run(tmp_path).history() == [{"grown/epoch": 1}]
    assert sink.failures == 0


def test_closing_twice_and_writing_after_close_are_harmless(tmp_path: Path) -> None:
    sink = WandbSink(WandbSinkConfig(), run_dir=tmp_path)
    sink.write(epoch("grown", 1))
    sink.close()
    sink.close()
    sink.write(epoch("grown", 2))
    assert len(read_run(tmp_path).history()) == 1


def test_a_failing_call_never_raises_into_the_bus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, captured_logs: list[dict[str, Any]]
) -> None:
    sink = WandbSink(WandbSinkConfig(), run_dir=tmp_path)
    run = sink._run
    assert run is not None

    def broken(*_args: object, **_kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(run, "log", broken)
    with TelemetryBus([("wandb", sink)], run_id="r") as bus:
        bus.emit(epoch("grown", 1))
        bus.emit(epoch("grown", 2))
    assert bus.failures == {}
    assert sink.failures == 2
    warnings = [e for e in captured_logs if e["log_level"] == "warning"]
    assert [e["event"] for e in warnings] == [
        "wandb sink could not log an event; later failures are only counted"
    ]
    assert "disk full" in warnings[0]["error"]
    assert warnings[0]["event_type"] == "engine.epoch"


def test_a_run_wandb_refuses_to_start_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(**_kwargs: object) -> None:
        raise wandb.errors.UsageError("No API key configured")

    monkeypatch.setattr(sink_module.wandb, "init", refuse)
    with pytest.raises(ConfigError, match=r"telemetry.sinks.wandb: .*\(online\): No API key"):
        WandbSink(WandbSinkConfig(mode="online"), run_dir=tmp_path)


def test_dir_is_resolved_in_the_run_dir(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    sink = WandbSink(WandbSinkConfig(dir="trackers"), run_dir=run_dir)
    sink.close()
    assert sink.dir == (run_dir / "trackers").resolve()
    assert len(offline_runs(sink.dir)) == 1
    with pytest.raises(ConfigError, match="outside the run directory"):
        WandbSink(WandbSinkConfig(dir="../escape"), run_dir=run_dir)
    assert not (tmp_path / "escape").exists()


def test_disabled_mode_writes_nothing(tmp_path: Path) -> None:
    sink = WandbSink(WandbSinkConfig(mode="disabled"), run_dir=tmp_path)
    sink.write(RunStarted(command="run"))
    sink.write(epoch("grown", 1))
    sink.write(evaluation())
    sink.close()
    assert sink.failures == 0
    assert not (tmp_path / "wandb").exists()


def test_built_through_the_registry_by_bare_name(tmp_path: Path) -> None:
    manager = build_manager(["esper.telemetry.wandb"], autoload=False)
    entry = Registries(manager)["telemetry_sinks"].get("wandb")
    assert entry.id == "esper.telemetry.wandb:wandb"
    sink = entry.build(entry.spec.load_config_cls()(), run_dir=tmp_path)
    assert isinstance(sink, WandbSink)
    sink.close()


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"project": ""}, ValueError),
        ({"project": 3}, TypeError),
        ({"entity": " team"}, ValueError),
        ({"mode": "shared"}, ValueError),
        ({"dir": " "}, ValueError),
        ({"tags": "one"}, TypeError),
        ({"tags": ["ok", ""]}, ValueError),
        ({"tags": ["x" * 65]}, ValueError),
        ({"tags": [1]}, TypeError),
    ],
)
def test_config_rejects_bad_values(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        WandbSinkConfig(**options)


def test_config_takes_a_list_of_tags() -> None:
    assert WandbSinkConfig(tags=["a", "b"]).tags == ("a", "b")


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('colour = "red"', "config.telemetry.sinks.wandb.colour: unknown key"),
        (
            'mode = "cloud"',
            "config.telemetry.sinks.wandb.mode: must be in ('offline', 'online', 'disabled')",
        ),
        ('tags = ["a", ""]', "config.telemetry.sinks.wandb.tags: must each have 1 to 64"),
        ('tags = "one"', "config.telemetry.sinks.wandb.tags: expected"),
    ],
)
def test_config_file_problems_name_their_key(
    esper_cli: Any, tmp_path: Path, table: str, expected: str
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(f"[telemetry.sinks.wandb]\n{table}\n", encoding="utf-8")
    result = esper_cli("--plugin", "esper.telemetry.wandb", "config", "show", "--config", str(bad))
    assert result.exit_code == 2
    assert expected in result.stderr
