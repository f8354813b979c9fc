"""esper's events as numbered scalars (esper.engine.scalars), the translation the metrics sinks
in contrib/ share: tags, values and steps for hand-built events."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest

import esper.plugin
from esper.engine.events import EpochCompleted, UpdateCompleted
from esper.engine.scalars import (
    STAGE_VALUES,
    Scalar,
    ScalarRow,
    ScalarTranslator,
    StepCounter,
    as_scalar,
)
from esper.lifecycle import Stage
from esper.telemetry.events import RunEnded, RunStarted
from esper_plugins.governors.events import GovernorRollback


def epoch(arm: str, number: int, ts: float = 100.0, **fields: Any) -> EpochCompleted:
    values: dict[str, Any] = {
        "train_loss": 2.0 - 0.25 * number,
        "train_accuracy": 10.0 * number,
        "val_loss": 2.5 - 0.25 * number,
        "val_accuracy": 12.5 * number,
        "params_total": 6484 + number,
        "params_host": 6484,
    }
    values.update(fields)
    return EpochCompleted(arm=arm, epoch=number, ts=ts, **values)


def test_stage_values_are_the_enums() -> None:
    assert dict(STAGE_VALUES) == {stage.name: stage.value for stage in Stage}
    assert "SHADOWING" not in STAGE_VALUES  # the retired 5
    with pytest.raises(TypeError):
        STAGE_VALUES["DORMANT"] = 5  # type: ignore[index]


def test_the_public_api_offers_the_translation() -> None:
    assert esper.plugin.ScalarTranslator is ScalarTranslator
    assert esper.plugin.Scalar is Scalar
    assert esper.plugin.ScalarRow is ScalarRow
    assert esper.plugin.STAGE_VALUES is STAGE_VALUES
    assert esper.plugin.as_scalar is as_scalar


def test_an_epoch_gives_its_fields_and_each_slots_stage_alpha_and_contribution() -> None:
    event = epoch(
        "grown",
        1,
        ts=101.5,
        stages={"r0c0": "BLENDING", "r0c1": "DORMANT"},
        alphas={"r0c0": 0.25},
        contributions={"r0c0": 1.5},
    )
    assert ScalarTranslator().scalars(event) == [
        Scalar("grown/val_accuracy", 12.5, 1, 101.5),
        Scalar("grown/val_loss", 2.25, 1, 101.5),
        Scalar("grown/train_loss", 1.75, 1, 101.5),
        Scalar("grown/train_accuracy", 10.0, 1, 101.5),
        Scalar("grown/params_total", 6485.0, 1, 101.5),
        Scalar("grown/slot/r0c0/stage", 4.0, 1, 101.5),
        Scalar("grown/slot/r0c1/stage", 1.0, 1, 101.5),
        Scalar("grown/slot/r0c0/alpha", 0.25, 1, 101.5),
        Scalar("grown/slot/r0c0/contribution", 1.5, 1, 101.5),
    ]
    row = ScalarTranslator().row(epoch("static", 3, val_loss=math.inf))
    assert row is not None
    assert (row.axis, row.step, row.wall_time) == ("static/epoch", 3, 100.0)
    assert row.values["static/val_loss"] == math.inf  # kept: a blown-up loss is news
    assert all(type(value) is float for value in row.values.values())


def test_episodes_that_restart_the_epoch_keep_every_step_growing() -> None:
    # esper train: two lock-step environments, three episodes of 2, 2 and 3 epochs; a rollback
    # in the second episode's first epoch, before the environments report it.
    translator = ScalarTranslator()
    steps: dict[str, list[int]] = {"env0": [], "env1": [], "governor": []}
    for episode, length in enumerate((2, 2, 3)):
        for number in range(1, length + 1):
            if (episode, number) == (1, 1):
                rollback = GovernorRollback(reason="governor_nan", val_loss=None, epoch=1, ts=5.0)
                [scalar] = translator.scalars(rollback)
                assert (scalar.tag, scalar.value, scalar.wall_time) == (
                    "governor/rollback",
                    1.0,
                    5.0,
                )
                steps["governor"].append(scalar.step)
            for env in ("env0", "env1"):
                row = translator.row(epoch(env, number))
                assert row is not None
                assert row.axis == f"{env}/epoch"
                steps[env].append(row.step)
    assert steps["env0"] == steps["env1"] == [1, 2, 3, 4, 5, 6, 7]
    # The run-wide count saw epochs 1, 1, 2, 2 (both arms at one epoch: no restart), then 1.
    assert steps["governor"] == [3]


def test_one_arms_repeated_epoch_is_a_new_episode_but_not_run_wide() -> None:
    arm, run = StepCounter(repeats_restart=True), StepCounter(repeats_restart=False)
    assert [arm.step(e) for e in (1, 2, 2, 3, 1)] == [1, 2, 4, 5, 6]
    assert [run.step(e) for e in (1, 1, 2, 2, 1)] == [1, 1, 2, 2, 3]


def test_an_update_gives_its_fields_and_metrics_at_its_number() -> None:
    update = UpdateCompleted(
        update=4,
        episodes=2,
        mean_reward=0.5,
        mean_accuracy=20.0,
        rollbacks=1,
        metrics={"policy_loss": -0.75, "approx_kl": 0.125},
        ts=7.0,
    )
    row = ScalarTranslator().row(update)
    assert row == ScalarRow(
        "train/update",
        4,
        7.0,
        {
            "train/mean_reward": 0.5,
            "train/mean_accuracy": 20.0,
            "train/rollbacks": 1.0,
            "train/policy_loss": -0.75,
            "train/approx_kl": 0.125,
        },
    )
    assert [s.tag for s in row.scalars()] == list(row.values)
    assert {s.step for s in row.scalars()} == {4}


def test_values_that_are_no_numbers_are_skipped() -> None:
    translator = ScalarTranslator()
    odd = SimpleNamespace(
        type="engine.epoch",
        run_id="",
        epoch=1,
        ts=3.0,
        arm="grown",
        val_loss="not a number",
        val_accuracy=True,
        stages={"r0c0": "NO_SUCH_STAGE", "r0c1": 7},
        alphas={"r0c0": None},
        contributions="not a mapping",
    )
    # The epoch still counts: a sink that logs the step itself (W&B) logs it alone.
    assert translator.row(odd) == ScalarRow("grown/epoch", 1, 3.0, {})  # type: ignore[arg-type]
    assert translator.scalars(odd) == []  # type: ignore[arg-type]
    no_epoch = SimpleNamespace(type="engine.epoch", run_id="", epoch=None, arm="grown")
    no_arm = SimpleNamespace(type="engine.epoch", run_id="", epoch=1, arm="")
    bad_update = SimpleNamespace(type="train.update", run_id="", epoch=None, update="3")
    bool_update = SimpleNamespace(type="train.update", run_id="", epoch=None, update=True)
    no_rollback_epoch = GovernorRollback(reason="governor_nan", val_loss=None)
    for odd_one in (no_epoch, no_arm, bad_update, bool_update, no_rollback_epoch):
        assert translator.row(odd_one) is None  # type: ignore[arg-type]
    for other in (RunStarted(command="run"), RunEnded(status="finished", wall_time_s=1.0)):
        assert translator.scalars(other) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3.0), (0.5, 0.5), (-2, -2.0), (True, None), ("1", None), (None, None), ([1], None)],
)
def test_as_scalar_takes_only_real_numbers(value: object, expected: float | None) -> None:
    assert as_scalar(value) == expected
    assert as_scalar(math.nan) != as_scalar(math.nan)  # NaN stays NaN
