"""Evaluation cells: the same data and host per seed, the cache, the larger-static arm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from esper.config.loading import load_raw
from esper.errors import EsperError
from esper.evaluation import runner as runner_module
from esper.evaluation.plan import LARGER_STATIC, cell_path, parse_controllers, seed_list
from esper.evaluation.recipe import base_config
from esper.evaluation.runner import EvalRunner
from esper.registry import Registries

SMALL = ["task.train_size=256", "task.val_size=64", "task.batch_size=64", "run.epochs=2"]


def _runner(
    registries: Registries,
    eval_dir: Path,
    *,
    overrides: list[str] = SMALL,
    names: str = "static,heuristic",
    reference: str | None = None,
) -> EvalRunner:
    base, _ = base_config(load_raw((), overrides), registries)
    return EvalRunner(
        eval_dir=eval_dir,
        base=base,
        controllers=parse_controllers(names.split(",")),
        seeds=seed_list(2, 11),
        reference=reference,
        registries=registries,
    )


def test_cells_share_data_and_host_per_seed_and_are_cached(
    registries: Registries, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, int, bool]] = []
    cells = _runner(registries, tmp_path).run(
        lambda d, t, c, cached: seen.append((c["controller"], c["seed"], cached))
    )
    assert sorted(cells) == [("heuristic", 11), ("heuristic", 12), ("static", 11), ("static", 12)]
    # Seed by seed; within a seed, in the order given.
    assert [(label, seed) for label, seed, _ in seen] == [
        ("static", 11),
        ("heuristic", 11),
        ("static", 12),
        ("heuristic", 12),
    ]
    # Two epochs are too few for the heuristic to grow: same seed, same data and host, so
    # the same numbers to the last bit; another seed differs.
    for seed in (11, 12):
        assert cells[("heuristic", seed)]["curve"] == cells[("static", seed)]["curve"]
    assert cells[("static", 11)]["curve"] != cells[("static", 12)]["curve"]
    cell = cells[("static", 11)]
    assert cell["epochs"] == 2
    assert cell["policy"].endswith(":static")
    assert cell["curve"][-1]["flops_train"] == cell["flops"]["train"] > 0
    assert cell_path(tmp_path, "static", 11).is_file()

    def refuse(*_: Any) -> dict[str, Any]:
        raise AssertionError("a cached cell was run again")

    monkeypatch.setattr(runner_module, "run_cell", refuse)
    seen.clear()
    again = _runner(registries, tmp_path).run(
        lambda d, t, c, cached: seen.append((c["controller"], c["seed"], cached))
    )
    assert again == cells
    assert all(cached for *_, cached in seen)
    # Another configuration is another fingerprint: nothing is reused.
    with pytest.raises(AssertionError, match="run again"):
        _runner(registries, tmp_path, overrides=[*SMALL, "task.noise=0.2"]).run()


def test_larger_static_installs_the_reference_architecture_for_its_flops(
    registries: Registries, tmp_path: Path
) -> None:
    runner = _runner(registries, tmp_path, names="static", reference="grower")
    static = runner.run()[("static", 11)]
    # A reference that grew a conv_light seed in the first slot and spent 2.5x static's FLOPs.
    budget = int(static["flops"]["train"] * 2.5)
    runner.results[("grower", 11)] = {
        "fingerprint": "f",
        "flops": {"train": budget},
        "architecture": [["r0c0", "esper.blueprints.cnn:conv_light", 1]],
    }
    task = runner._larger_task(11)
    assert task.label == LARGER_STATIC
    assert task.raw["run"]["budget_flops"] == budget
    # The larger model costs more per epoch, so it may use more epochs than configured to
    # spend the budget (up to 4x).
    assert task.raw["run"]["epochs"] == 8
    cell = runner_module.run_cell(task, registries)
    # conv_light in the host's first slot (8 channels): a 3x3 conv 8 -> 8 and a batch norm.
    assert cell["params"] == static["params"] + 8 * 8 * 9 + 2 * 8
    assert cell["architecture"] == [["r0c0", "esper.blueprints.cnn:conv_light", 1]]
    # Stopped at the first batch that reached the budget: within one batch of it.
    per_batch = cell["curve"][0]["flops_train"] / 4  # 256 samples in batches of 64
    assert budget <= cell["flops"]["train"] < budget + per_batch
    assert cell["seeds"] == {"germinated": 1, "fossilized": 1, "pruned": 0}


def test_controller_names_are_checked() -> None:
    with pytest.raises(EsperError, match="named more than once"):
        parse_controllers(["static", "static"])
    with pytest.raises(EsperError, match="larger-static is added"):
        parse_controllers(["larger-static"])
    with pytest.raises(EsperError, match=r"nope\.pt: no such policy checkpoint"):
        parse_controllers(["nope.pt"])
    with pytest.raises(EsperError, match="--seeds must be at least 1"):
        seed_list(0, None)
