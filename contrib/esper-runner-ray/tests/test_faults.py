"""An environment actor killed mid-episode: its episode is truncated and counted, training goes on.

The test kills the actor of row 1 from the progress callback right after its epoch 2 (the
driver has already queued its epoch-3 observe), as a crashed machine or an OOM kill would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import ray
from esper.plugin import EpochResult
from esper.registry import Registries
from helpers import config_for, events_of, train

EPOCHS = 4
KILL_ROW, KILL_AFTER_EPOCH = 1, 2


@pytest.mark.usefixtures("local_ray")
def test_a_killed_actor_truncates_its_episode_and_training_completes(
    registries: Registries, tmp_path: Path
) -> None:
    config = config_for(
        registries,
        tmp_path,
        "ray",
        f"run.epochs={EPOCHS}",
        "train.episodes=4",
        "train.envs=2",
        "runner.max_restarts=2",
    )
    holder: dict[str, Any] = {}
    killed: list[tuple[int, int]] = []
    buffers: list[tuple[list[int], list[bool], bool]] = []

    def on_epoch(row: int, result: EpochResult) -> None:
        run = holder["run"]
        if not killed and (row, result.epoch) == (KILL_ROW, KILL_AFTER_EPOCH):
            ray.kill(run.runner.actors[row], no_restart=False)
            killed.append((row, result.epoch))

    def on_update(record: dict[str, Any]) -> None:
        buf = holder["run"].buffer
        buffers.append((buf.lengths, buf.ended, bool(buf.terminal.any())))

    # `train` builds the run; the callbacks need it, so hand it over through TrainingRun.run.
    from esper.recipes import train as training_run

    original = training_run.TrainingRun.run

    def run_with_handle(self: Any, **kwargs: Any) -> Any:
        holder["run"] = self
        return original(self, **kwargs)

    training_run.TrainingRun.run = run_with_handle  # type: ignore[method-assign]
    try:
        run = train(registries, config, on_epoch=on_epoch, on_update=on_update)
    finally:
        training_run.TrainingRun.run = original  # type: ignore[method-assign]

    assert killed == [(KILL_ROW, KILL_AFTER_EPOCH)]
    # Both updates happened; the lost episode counts as played.
    assert run.update == 2
    assert [h["episodes"] for h in run.history] == [2, 2]
    assert [h["lost"] for h in run.history] == [1, 0]  # summary.json's per-update count
    # Update 0: row 1 was cut after its second (last rewarded) step, not as a true terminal.
    assert buffers[0] == ([EPOCHS, KILL_AFTER_EPOCH], [True, True], False)
    # Update 1: Ray restarted the actor and row 1 played a whole episode again.
    assert buffers[1] == ([EPOCHS, EPOCHS], [True, True], False)
    assert run.runner.lost_episodes == 1

    events = events_of(run)
    lost = [e for e in events if e["type"] == "runner.actor_lost"]
    assert len(lost) == 1
    (event,) = lost
    assert event["env_id"] == KILL_ROW
    assert event["epoch"] == KILL_AFTER_EPOCH + 1
    assert event["phase"] in ("observe", "act")
    assert event["lost_episodes"] == 1
    assert event["seed"] == run.seeds(0)[KILL_ROW]
    episodes = [e for e in events if e["type"] == "train.episode"]
    assert [(e["env_id"], e["lost"]) for e in episodes] == [
        (0, False),
        (1, True),
        (0, False),
        (1, False),
    ]
    assert episodes[1]["epochs"] == KILL_AFTER_EPOCH
    assert sum(episodes[1]["actions"].values()) == KILL_AFTER_EPOCH
    assert (run.session.run_dir / "policy.pt").exists()
