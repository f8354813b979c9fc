"""`esper report EVAL_DIR`: the page of an `esper eval` directory, from hand-made files.

No training: ``eval.json`` and the cells are written here, so the tests pin what the report
reads and shows, whatever the numbers.
"""

from __future__ import annotations

import copy
import html
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from esper.report.build import write_report
from esper.report.data import ReportError
from esper.report.evaluation import cell_stem, load_evaluation

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SEEDS = [11, 12, 13]
#: Final validation accuracy of each controller on each seed (gradient ran one seed only).
FINALS = {
    "static": [50.0, 52.0, 54.0],
    "heuristic": [55.0, 58.0, 57.0],
    "larger-static": [49.0, 53.0, 50.0],
    "gradient": [60.0],
}
CHARTS = ["eval-differences", "eval-flops", "eval-seeds"]


def _est(
    mean: float | None, std: float | None, low: float | None, high: float | None, n: int = 3
) -> dict[str, Any]:
    return {"n": n, "mean": mean, "std": std, "ci95": [low, high]}


def _cell(label: str, seed: int, final: float, kind: str = "classification") -> dict[str, Any]:
    """A cell record as esper eval writes it: four epochs, the last one ``final``."""
    flops = 1.0e9 if label != "heuristic" else 1.5e9
    curve = [
        {
            "epoch": e,
            "val_accuracy": final - (4 - e) * 3.0,
            "val_loss": 2.0 - e * 0.1,
            "flops_train": flops * e / 4,
        }
        for e in range(1, 5)
    ]
    last = {"val_accuracy": final, "val_loss": 1.6}
    if kind == "language_model":
        last["val_perplexity"] = math.exp(1.6)
    return {
        "controller": label,
        "seed": seed,
        "fingerprint": "0123456789abcdef",
        "policy": f"esper.policies.x:{label}",
        "task_kind": kind,
        "epochs": 4,
        "final": last,
        "best": dict(last),
        "params": 432 if label == "static" else 584,
        "growth_ratio": 1.0,
        "flops": {"train": flops, "evaluate": 1e8, "total": flops + 1e8},
        "seeds": {"germinated": 1, "fossilized": 1 if label == "heuristic" else 0, "pruned": 0},
        "rollbacks": 0,
        "architecture": [],
        "curve": curve,
        "wall_time_s": 12.5,
    }


def _row(label: str, final: dict[str, Any], seeds: list[int]) -> dict[str, Any]:
    values = FINALS[label]
    return {
        "seeds": seeds,
        "final": final,
        "best": {**final, "mean": final["mean"] + 1.0},
        "params": _est(508.0, 87.8, 290.0, 726.0),
        "flops_train": _est(1.5e9, 0.0, 1.5e9, 1.5e9),
        "epochs": _est(4.0, 0.0, 4.0, 4.0),
        "wall_time_s": _est(12.5, 0.5, 11.3, 13.7),
        "seeds_fossilized": _est(0.33, 0.58, -1.1, 1.8),
        "per_seed": {
            str(s): {"final": v, "best": v + 1.0, "flops_train": 1.5e9, "params": 584}
            for s, v in zip(seeds, values, strict=True)
        },
        "some_future_key": {"ignored": True},
    }


def _paired(
    mean: float, low: float, high: float, p: float, wins: int, better: bool | None
) -> dict[str, Any]:
    return {
        "difference": _est(mean, 1.5, low, high),
        "t": 5.3,
        "p_value": p,
        "wins": wins,
        "losses": 3 - wins,
        "ties": 0,
        "excludes_zero": better is not None,
        "a_better": better is True,
        "a_worse": better is False,
    }


EVAL_DOC: dict[str, Any] = {
    "eval_dir": "evals/x",
    "task": "esper.tasks.builtin:image-impaired",
    "epochs": 4,
    "seeds": SEEDS,
    "workers": 2,
    "wall_time_s": 40.0,
    "task_kind": "classification",
    "metric": "val_accuracy",
    "higher_is_better": True,
    "baseline": "heuristic",
    "larger_static_reference": "heuristic",
    "controllers": {
        "static": _row("static", _est(52.0, 2.0, 47.03, 56.97), SEEDS),
        "heuristic": _row("heuristic", _est(56.6667, 1.5275, 52.87, 60.46), SEEDS),
        "gradient": _row("gradient", _est(60.0, None, None, None, n=1), [11]),
        "larger-static": _row("larger-static", _est(50.6667, 2.0817, 45.5, 55.84), SEEDS),
    },
    "comparisons": [
        {
            "a": "heuristic",
            "b": "static",
            "seeds": 3,
            "final": _paired(4.6667, 0.87, 8.46, 0.0312, 3, True),
            "best": _paired(4.6667, 0.87, 8.46, 0.0312, 3, True),
        },
        {
            "a": "larger-static",
            "b": "static",
            "seeds": 3,
            "final": _paired(-1.3333, -7.6, 4.9, 0.4641, 1, None),
            "best": _paired(-1.3333, -7.6, 4.9, 0.4641, 1, None),
        },
        {
            "a": "larger-static",
            "b": "heuristic",
            "seeds": 3,
            "final": _paired(-6.0, -9.5, -2.5, 0.0123, 0, False),
            "best": _paired(-6.0, -9.5, -2.5, 0.0123, 0, False),
        },
    ],
}


def make_eval_dir(path: Path, doc: dict[str, Any] | None = None) -> Path:
    """An evaluation directory as esper eval leaves it: plan.json, cells and eval.json."""
    path.mkdir(parents=True)
    (path / "eval.json").write_text(json.dumps(doc or EVAL_DOC, indent=1))
    (path / "plan.json").write_text(json.dumps({"task": "image-impaired", "seeds": SEEDS}))
    for label, values in FINALS.items():
        for seed, final in zip(SEEDS, values, strict=False):
            cell = path / "cells" / cell_stem(label) / f"seed-{seed}.json"
            cell.parent.mkdir(parents=True, exist_ok=True)
            cell.write_text(json.dumps(_cell(label, seed, final), indent=1))
    return path


@pytest.fixture
def eval_dir(tmp_path: Path) -> Path:
    return make_eval_dir(tmp_path / "image-impaired-0a1b2c3d")


def test_page_has_both_tables_and_every_chart(eval_dir: Path) -> None:
    index = write_report([eval_dir])
    assert index == eval_dir / "report" / "index.html"
    page = index.read_text(encoding="utf-8")
    for label in FINALS:
        assert f"<tr><td>{label}" in page
    assert 'heuristic <span class="tag">(baseline, sizes larger-static)</span>' in page
    # Controllers: mean [95% CI] with two decimals as esper eval prints it; one seed has none.
    assert (
        '<td class="num">52.00 [47.03, 56.97]</td><td class="num">53.00 [47.03, 56.97]</td>' in page
    )
    assert '<td class="num">60.00 (1 seed)</td>' in page
    assert '<td class="num">1.500e+09</td>' in page
    assert '<td class="num">508</td>' in page
    # Paired differences: a better (+), neither, a worse (-), with p and wins/losses.
    rows = re.findall(r"<tr><td>([^<]+ \u2212 [^<]+)</td>(.*?)</tr>", page)
    assert [a for a, _ in rows] == [
        "heuristic \u2212 static",
        "larger-static \u2212 static",
        "larger-static \u2212 heuristic",
    ]
    assert '<td class="num better">4.67 [0.87, 8.46] +</td><td class="num">0.031</td>' in rows[0][1]
    assert '<td class="num">3/0</td>' in rows[0][1]
    assert '<td class="num">-1.33 [-7.60, 4.90]</td><td class="num">0.464</td>' in rows[1][1]
    assert '<td class="num worse">-6.00 [-9.50, -2.50] -</td>' in rows[2][1]
    # Every chart, as PNG (shown) and SVG (linked); nothing loaded from elsewhere.
    files = sorted(p.name for p in (eval_dir / "report" / "charts").iterdir())
    assert files == sorted(f"{c}.{ext}" for c in CHARTS for ext in ("png", "svg"))
    for name in files:
        data = (eval_dir / "report" / "charts" / name).read_bytes()
        assert len(data) > 1000, name
        assert data.startswith(PNG_MAGIC) if name.endswith(".png") else b"</svg>" in data[-50:]
        assert f'"charts/{name}"' in page
    assert not re.search(r"(?:src|href)=\"(?!charts/|#)", page)
    assert "<script" not in page
    assert "plan.json</summary>" in page
    assert "not in cells/" not in page


def test_eval_data_reads_cells_as_curves(eval_dir: Path) -> None:
    ev = load_evaluation(eval_dir)
    assert list(ev.controllers) == ["static", "heuristic", "gradient", "larger-static"]
    assert ev.controllers["gradient"].final.bounded is False
    assert sorted(ev.curves["heuristic"]) == SEEDS
    assert [p.epoch for p in ev.curves["heuristic"][12]] == [1, 2, 3, 4]
    assert ev.curves["heuristic"][12][-1].value == 58.0
    assert ev.curves["heuristic"][12][-1].flops_train == 1.5e9
    assert ev.missing_cells == []


def test_a_missing_cell_leaves_out_its_curve_and_says_so(eval_dir: Path) -> None:
    (eval_dir / "cells" / "heuristic" / "seed-12.json").unlink()
    ev = load_evaluation(eval_dir)
    assert sorted(ev.curves["heuristic"]) == [11, 13]
    page = write_report([eval_dir]).read_text(encoding="utf-8")
    assert "1 cell file(s) of eval.json are not in cells/" in page
    assert "cells/heuristic/seed-12.json" in page
    # The tables come from eval.json alone.
    assert '<td class="num better">4.67 [0.87, 8.46] +</td>' in page
    assert (eval_dir / "report" / "charts" / "eval-flops.png").is_file()


def test_malformed_eval_json_names_the_file(eval_dir: Path) -> None:
    path = eval_dir / "eval.json"
    path.write_text('{\n "task": "x",\n oops\n}\n')
    with pytest.raises(ReportError, match=re.escape(f"{path}:3: not valid JSON")):
        write_report([eval_dir])
    assert not (eval_dir / "report").exists()

    path.write_text("[1, 2]")
    with pytest.raises(ReportError, match=re.escape(f"{path}: must hold a JSON object, got list")):
        load_evaluation(eval_dir)

    doc = copy.deepcopy(EVAL_DOC)
    doc["controllers"]["static"]["final"]["mean"] = "high"
    path.write_text(json.dumps(doc))
    with pytest.raises(
        ReportError,
        match=re.escape(f"{path}: controllers['static'].final.mean must be a number or null"),
    ):
        load_evaluation(eval_dir)

    del doc["controllers"]["static"]["final"]
    path.write_text(json.dumps(doc))
    with pytest.raises(
        ReportError, match=re.escape("controllers['static'].final must be an object")
    ):
        load_evaluation(eval_dir)


def test_missing_eval_json_or_malformed_cell_names_the_file(eval_dir: Path) -> None:
    cell = eval_dir / "cells" / "static" / "seed-13.json"
    cell.write_text('{"controller": "static", "seed": 13, "curve": [{"epoch": 1}]}')
    with pytest.raises(
        ReportError, match=re.escape(f"{cell}: curve[0].val_accuracy must be a number")
    ):
        load_evaluation(eval_dir)
    cell.write_text(json.dumps(_cell("heuristic", 13, 50.0)))
    with pytest.raises(ReportError, match=re.escape(f"{cell}: holds controller 'heuristic'")):
        load_evaluation(eval_dir)

    (eval_dir / "eval.json").unlink()
    with pytest.raises(ReportError, match=re.escape(f"{eval_dir / 'eval.json'}: missing")):
        write_report([eval_dir])


def test_optional_figures_may_be_missing(tmp_path: Path) -> None:
    doc = copy.deepcopy(EVAL_DOC)
    for row in doc["controllers"].values():
        for key in (
            "params",
            "flops_train",
            "epochs",
            "wall_time_s",
            "seeds_fossilized",
            "per_seed",
        ):
            del row[key]
    for comp in doc["comparisons"]:
        del comp["best"]
    for key in ("epochs", "baseline", "larger_static_reference", "task"):
        del doc[key]
    index = write_report([make_eval_dir(tmp_path / "ev", doc)], tmp_path / "out")
    page = index.read_text(encoding="utf-8")
    assert '<td class="num">52.00 [47.03, 56.97]</td>' in page
    assert (tmp_path / "out" / "charts" / "eval-seeds.svg").is_file()


def test_hostile_labels_are_escaped(tmp_path: Path) -> None:
    hostile = "<script>alert(1)</script>"
    doc = copy.deepcopy(EVAL_DOC)
    doc["controllers"][hostile] = doc["controllers"].pop("gradient")
    doc["comparisons"][0]["a"] = hostile
    index = write_report([make_eval_dir(tmp_path / "ev", doc)])
    page = index.read_text(encoding="utf-8")
    assert hostile not in page
    assert html.escape(hostile) in page
    for svg in (tmp_path / "ev" / "report" / "charts").glob("*.svg"):
        assert hostile not in svg.read_text(encoding="utf-8")


def test_cli_reports_an_eval_dir_and_refuses_a_mix(eval_dir: Path, tmp_path: Path) -> None:
    from esper.cli.main import cli

    result = CliRunner().invoke(cli, ["report", str(eval_dir)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"report: {eval_dir / 'report' / 'index.html'}"

    other = tmp_path / "run"
    other.mkdir()
    result = CliRunner().invoke(cli, ["report", str(other), str(eval_dir)])
    assert result.exit_code == 2
    assert f"{eval_dir}: an evaluation directory is reported on its own" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_the_report_reads_what_esper_eval_writes(tmp_path: Path) -> None:
    """eval.json made by esper.evaluation.summary from cells, for both metrics."""
    from esper.evaluation.plan import Controller
    from esper.evaluation.summary import summarize

    for kind in ("classification", "language_model"):
        cells = {
            (label, seed): _cell(label, seed, final, kind)
            for label, values in FINALS.items()
            for seed, final in zip(SEEDS, values, strict=False)
        }
        doc = summarize(
            cells,
            controllers=["static", "heuristic", "gradient"],
            baseline="heuristic",
            reference="heuristic",
            header={"task": "t", "epochs": 4, "seeds": SEEDS},
        )
        ev_dir = make_eval_dir(tmp_path / kind, json.loads(json.dumps(doc, allow_nan=False)))
        ev = load_evaluation(ev_dir)
        assert list(ev.controllers) == ["static", "heuristic", "gradient", "larger-static"]
        assert len(ev.comparisons) == len(doc["comparisons"])
        page = write_report([ev_dir]).read_text(encoding="utf-8")
        if kind == "language_model":
            assert "<th>final perplexity</th>" in page
            # Perplexity per epoch is the exponential of the cell's validation loss.
            assert ev.curves["static"][11][0].value == pytest.approx(math.exp(1.9))
        else:
            assert "<th>final accuracy</th>" in page
    for label in ("static", "larger-static", "runs/a b/policy.pt", "!!"):
        assert cell_stem(label) == Controller(label=label, kind="x").file_stem
