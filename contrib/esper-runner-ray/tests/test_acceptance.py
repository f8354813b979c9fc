"""The issue's acceptance run, as a user types it: ``esper train --runner ray --agent ppo
--episodes 2 --envs 4`` on a local Ray instance, full size (the embedded image task, 40-epoch
episodes). About 4 minutes on 2 CPU cores, hence ``slow``; a tiny version runs by default.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch


def _esper_train(out: Path, *extra: str, timeout: int) -> Path:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ESPER_", "RAY_ADDRESS"))}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "esper",
            "train",
            "--runner",
            "ray",
            "--agent",
            "ppo",
            "--quiet",
            "--out",
            str(out),
            *extra,
        ],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


def _check(run_dir: Path, episodes: int) -> None:
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["runner"] == "esper.runners.ray:ray"
    assert summary["episodes"] == episodes
    state = torch.load(run_dir / "policy.pt", weights_only=True)
    assert all(torch.isfinite(t).all() for t in state["network"].values())
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    finished = [e for e in events if e["type"] == "train.episode"]
    assert sorted(e["env_id"] for e in finished) == list(range(episodes))
    assert not [e for e in events if e["type"] == "runner.actor_lost"]


def test_a_tiny_cli_run_on_a_local_ray_instance(tmp_path: Path) -> None:
    run_dir = _esper_train(
        tmp_path,
        "--episodes", "2", "--envs", "2", "--epochs", "2",
        "--set", "task.train_size=128", "--set", "task.val_size=64",
        "--set", "run.batches_per_epoch=1",
        timeout=300,
    )  # fmt: skip
    _check(run_dir, 2)


@pytest.mark.slow
def test_the_acceptance_run_completes_in_bounded_time(tmp_path: Path) -> None:
    # --episodes 2 rounds up to one update of 4 episodes (train.episodes is a multiple of envs).
    run_dir = _esper_train(tmp_path, "--episodes", "2", "--envs", "4", timeout=900)
    _check(run_dir, 4)
