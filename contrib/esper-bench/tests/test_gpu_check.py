"""The GPU check script runs end to end in its CPU dry mode (so it cannot rot between GPU sessions)."""

from __future__ import annotations

import json
from pathlib import Path

from esper_bench import gpu_check


def test_gpu_check_dry_run_passes_every_section(tmp_path: Path) -> None:
    assert gpu_check.main(["--dry-run", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["machine"]["dry_run"] is True
    assert set(report["sections"]) == set(gpu_check.SECTIONS)
    assert all(section["ok"] for section in report["sections"].values())
    equivalence = report["sections"]["runner_equivalence"]
    assert equivalence["same_actions"]
    assert equivalence["max_abs_accuracy_diff_pp"] == 0.0
    assert report["sections"]["flex_attention"]["seed_params_with_grad"] > 0
    data_path = report["sections"]["data_path"]
    assert data_path["htod_copies"] < data_path["train_batches"]
    compiled = report["sections"]["compile"]
    # The dry run compiles with dynamo's eager backend: the same arithmetic as eager mode.
    assert compiled["compiled"]["train_loss"] == compiled["eager"]["train_loss"]
