"""Load an evaluation directory of ``esper eval`` into a typed `EvalData` (no torch, no matplotlib).

An evaluation directory holds ``eval.json`` (the summary: per controller estimates over seeds
and paired differences), ``plan.json`` (what the command asked for) and ``cells/<controller>/
seed-<n>.json`` (one record per controller and seed). The tables and two of the charts come
from ``eval.json`` alone; the cells only add each seed's learning curve. So a cell that is
missing is noted on the page and its curve left out, while a cell that is there but malformed
stops the report with an error naming it (it was written atomically: something else broke it).

The files are read as plain JSON, not through `esper.evaluation`, so that a report can be made
of any evaluation directory without that package's internals; unknown keys are ignored.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import attrs

from esper.report.errors import ReportError
from esper.report.eval_records import (
    Comparison,
    ControllerRow,
    CurvePoint,
    Estimate,
    EvalData,
    PairedPart,
    SeedResult,
)

__all__ = [
    "Comparison",
    "ControllerRow",
    "CurvePoint",
    "Estimate",
    "EvalData",
    "PairedPart",
    "ReportError",
    "SeedResult",
    "is_eval_dir",
    "load_evaluation",
]

EVAL_FILE = "eval.json"
PLAN_FILE = "plan.json"
CELLS_DIR = "cells"
#: The controller that every other is compared with (esper.evaluation.plan.STATIC).
STATIC = "static"


def is_eval_dir(path: Path) -> bool:
    """Whether ``path`` looks like an evaluation directory (any of its files is there), so that
    one whose ``eval.json`` is missing gets that error rather than a run directory's."""
    return path.is_dir() and any(
        (path / name).exists() for name in (EVAL_FILE, PLAN_FILE, CELLS_DIR)
    )


def cell_stem(label: str) -> str:
    """The directory of a controller's cells: `esper.evaluation.plan.Controller.file_stem`'s
    rule, repeated here so that the report reads files rather than that package."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "controller"


class _Checked:
    """Typed access to one decoded JSON file, with errors that name the file and the key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, what: str, value: object) -> ReportError:
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return ReportError(f"{self.path}: {where} must be {what}, got {shown}")

    def obj(self, value: object, where: str | None) -> dict[str, Any]:
        """An object; ``where`` None is the whole file."""
        if not isinstance(value, dict):
            if where is None:
                raise ReportError(
                    f"{self.path}: must hold a JSON object, got {type(value).__name__}"
                )
            raise self.fail(where, "an object", value)
        return value

    def num(self, value: object, where: str) -> float:
        # Not a bool, which Python counts as an int but JSON does not as a number.
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.fail(where, "a number", value)
        return float(value)

    def opt_num(self, value: object, where: str) -> float | None:
        """A number, or None for JSON null (eval.json writes a non-finite figure as null)."""
        if value is None:
            return None
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.fail(where, "a number or null", value)
        return float(value)

    def integer(self, value: object, where: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(where, "an integer", value)
        return value

    def text(self, value: object, where: str) -> str:
        if not isinstance(value, str):
            raise self.fail(where, "a string", value)
        return value

    def estimate(self, value: object, where: str) -> Estimate:
        data = self.obj(value, where)
        ci = data.get("ci95")
        if not isinstance(ci, list) or len(ci) != 2:
            raise self.fail(f"{where}.ci95", "a list [low, high]", ci)
        return Estimate(
            n=self.integer(data.get("n"), f"{where}.n"),
            mean=self.opt_num(data.get("mean"), f"{where}.mean"),
            std=self.opt_num(data.get("std"), f"{where}.std"),
            low=self.opt_num(ci[0], f"{where}.ci95[0]"),
            high=self.opt_num(ci[1], f"{where}.ci95[1]"),
        )

    def opt_estimate(self, data: dict[str, Any], key: str, where: str) -> Estimate | None:
        value = data.get(key)
        return None if value is None else self.estimate(value, f"{where}.{key}")


def _read_json(path: Path, what: str) -> Any:
    """The decoded JSON of ``path``; ``what`` says where the file comes from when it is missing."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{path}: missing ({what})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot read: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None


def _seed_result(c: _Checked, value: object, where: str) -> SeedResult:
    data = c.obj(value, where)
    final = c.opt_num(data.get("final"), f"{where}.final")
    best = c.opt_num(data.get("best"), f"{where}.best")
    flops = data.get("flops_train")
    params = data.get("params")
    return SeedResult(
        final=math.nan if final is None else final,
        best=math.nan if best is None else best,
        flops_train=None if flops is None else c.num(flops, f"{where}.flops_train"),
        params=None if params is None else c.integer(params, f"{where}.params"),
    )


def _controller(c: _Checked, label: str, value: object) -> ControllerRow:
    where = f"controllers[{label!r}]"
    data = c.obj(value, where)
    seeds = data.get("seeds", [])
    if not isinstance(seeds, list):
        raise c.fail(f"{where}.seeds", "a list of integers", seeds)
    per_seed = c.obj(data.get("per_seed", {}), f"{where}.per_seed")
    results: dict[int, SeedResult] = {}
    for key, result in per_seed.items():
        if not re.fullmatch(r"-?\d+", key):
            raise c.fail(f"{where}.per_seed", "keyed by seed numbers", key)
        results[int(key)] = _seed_result(c, result, f"{where}.per_seed[{key!r}]")
    return ControllerRow(
        label=label,
        seeds=[c.integer(s, f"{where}.seeds[{i}]") for i, s in enumerate(seeds)],
        final=c.estimate(data.get("final"), f"{where}.final"),
        best=c.estimate(data.get("best"), f"{where}.best"),
        params=c.opt_estimate(data, "params", where),
        flops_train=c.opt_estimate(data, "flops_train", where),
        epochs=c.opt_estimate(data, "epochs", where),
        wall_time_s=c.opt_estimate(data, "wall_time_s", where),
        seeds_fossilized=c.opt_estimate(data, "seeds_fossilized", where),
        per_seed=results,
    )


def _paired_part(c: _Checked, value: object, where: str) -> PairedPart:
    data = c.obj(value, where)
    ties = data.get("ties", 0)

    def flag(key: str) -> bool:
        found = data.get(key, False)
        if not isinstance(found, bool):
            raise c.fail(f"{where}.{key}", "true or false", found)
        return found

    return PairedPart(
        difference=c.estimate(data.get("difference"), f"{where}.difference"),
        p_value=c.opt_num(data.get("p_value"), f"{where}.p_value"),
        wins=c.integer(data.get("wins"), f"{where}.wins"),
        losses=c.integer(data.get("losses"), f"{where}.losses"),
        ties=c.integer(ties, f"{where}.ties"),
        a_better=flag("a_better"),
        a_worse=flag("a_worse"),
    )


def _comparison(c: _Checked, value: object, index: int) -> Comparison:
    where = f"comparisons[{index}]"
    data = c.obj(value, where)
    best = data.get("best")
    return Comparison(
        a=c.text(data.get("a"), f"{where}.a"),
        b=c.text(data.get("b"), f"{where}.b"),
        seeds=c.integer(data.get("seeds"), f"{where}.seeds"),
        final=_paired_part(c, data.get("final"), f"{where}.final"),
        best=None if best is None else _paired_part(c, best, f"{where}.best"),
    )


def _curve(path: Path, cell: object, label: str, seed: int, metric: str) -> list[CurvePoint]:
    """A cell's learning curve; raises `ReportError` naming the cell when it is malformed."""
    c = _Checked(path)
    data = c.obj(cell, None)
    if data.get("controller") != label or data.get("seed") != seed:
        raise ReportError(
            f"{path}: holds controller {data.get('controller')!r}, seed {data.get('seed')!r}, "
            f"not {label!r}, seed {seed}"
        )
    curve = data.get("curve", [])
    if not isinstance(curve, list):
        raise c.fail("curve", "a list", curve)
    points: list[CurvePoint] = []
    for i, value in enumerate(curve):
        where = f"curve[{i}]"
        point = c.obj(value, where)
        if metric == "val_perplexity":
            # Cells record the loss per epoch, not the perplexity: the perplexity is its
            # exponential, capped as esper.evaluation.cell caps the final one.
            y = math.exp(min(c.num(point.get("val_loss"), f"{where}.val_loss"), 50.0))
        else:
            y = c.num(point.get(metric), f"{where}.{metric}")
        points.append(
            CurvePoint(
                epoch=c.integer(point.get("epoch"), f"{where}.epoch"),
                value=y,
                flops_train=c.num(point.get("flops_train"), f"{where}.flops_train"),
            )
        )
    return points


def _curves(
    path: Path, rows: dict[str, ControllerRow], metric: str
) -> tuple[dict[str, dict[int, list[CurvePoint]]], list[Path]]:
    """Every cell's curve that is in ``cells/``, and the cells that are not."""
    curves: dict[str, dict[int, list[CurvePoint]]] = {}
    missing: list[Path] = []
    for label, row in rows.items():
        curves[label] = {}
        for seed in row.seeds or sorted(row.per_seed):
            cell_path = path / CELLS_DIR / cell_stem(label) / f"seed-{seed}.json"
            if not cell_path.is_file():
                missing.append(cell_path)
                continue
            cell = _read_json(cell_path, "esper eval writes one per controller and seed")
            curves[label][seed] = _curve(cell_path, cell, label, seed, metric)
    return curves, missing


def _plan_text(path: Path) -> str:
    """``plan.json`` as it is: shown, not read, so a missing or odd one costs nothing."""
    try:
        return (path / PLAN_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _order(labels: list[str]) -> list[str]:
    """``static`` first (every comparison's reference), the rest as eval.json has them."""
    return sorted(labels, key=lambda label: label != STATIC)


def _optional_text(c: _Checked, doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    return None if value is None else c.text(value, key)


def load_evaluation(path: str | Path) -> EvalData:
    """Read one evaluation directory into an `EvalData`.

    Raises `ReportError` naming the file (and the key, or the line of a JSON syntax error) when
    ``eval.json`` is missing or malformed, or a cell that is there is malformed.
    """
    path = Path(path)
    if not path.is_dir():
        what = "no such directory" if not path.exists() else "not a directory"
        raise ReportError(f"{path}: not an evaluation directory ({what})")
    eval_path = path / EVAL_FILE
    c = _Checked(eval_path)
    doc = c.obj(_read_json(eval_path, "esper eval writes it when its cells have finished"), None)
    metric = c.text(doc.get("metric"), "metric")
    higher = doc.get("higher_is_better", metric != "val_perplexity")
    if not isinstance(higher, bool):
        raise c.fail("higher_is_better", "true or false", higher)
    controllers = c.obj(doc.get("controllers"), "controllers")
    rows = {label: _controller(c, label, controllers[label]) for label in _order(list(controllers))}
    comparisons = doc.get("comparisons", [])
    if not isinstance(comparisons, list):
        raise c.fail("comparisons", "a list", comparisons)
    seeds = doc.get("seeds", [])
    if not isinstance(seeds, list):
        raise c.fail("seeds", "a list of integers", seeds)
    epochs = doc.get("epochs")
    data = EvalData(
        path=path,
        name=path.resolve().name,
        task=_optional_text(c, doc, "task") or "",
        epochs=None if epochs is None else c.integer(epochs, "epochs"),
        seeds=[c.integer(s, f"seeds[{i}]") for i, s in enumerate(seeds)],
        metric=metric,
        higher_is_better=higher,
        baseline=_optional_text(c, doc, "baseline"),
        reference=_optional_text(c, doc, "larger_static_reference"),
        controllers=rows,
        comparisons=[_comparison(c, x, i) for i, x in enumerate(comparisons)],
        curves={},
        missing_cells=[],
        plan_text=_plan_text(path),
    )
    # The cells last: an error in eval.json is reported before one in a cell.
    curves, missing = _curves(path, rows, metric)
    return attrs.evolve(data, curves=curves, missing_cells=missing)
