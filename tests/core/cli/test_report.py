"""`esper report`: the HTML report of run directories (charts, escaping, errors)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from esper.errors import EsperError, TelemetryError
from esper.report.build import MATPLOTLIB_MISSING, write_report
from esper.report.data import ReportError, load_run

from support.cli import ENV, TESTS, esper

HOSTILE = "<script>alert(1)</script>"
#: A directory name cannot hold a slash.
HOSTILE_NAME = "<svg onload=alert(3)>"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


GROWTH_ARGS = [
    "run",
    "--epochs",
    "3",
    "--set",
    "task.train_size=300",
    "--set",
    "task.val_size=100",
    # A host that barely learns plateaus at once, so a seed germinates within 3 epochs.
    "--set",
    "task.host_lr=1e-6",
    "--set",
    "policy.min_epoch=1",
    "--set",
    "policy.plateau_epochs=1",
]
TRAIN_ARGS = [
    "train",
    "--episodes",
    "2",
    "--envs",
    "1",
    "--epochs",
    "2",
    "--set",
    "task.train_size=200",
    "--set",
    "task.val_size=100",
    "--set",
    "policy.hidden_dim=16",
    "--set",
    "policy.feature_dim=16",
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One small esper run and one small esper train, made side by side (two processes)."""
    outs = {"growth": tmp_path_factory.mktemp("growth"), "train": tmp_path_factory.mktemp("train")}
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "esper", *args, "--quiet", "--out", str(outs[name])],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
            cwd=TESTS,
        )
        for name, args in (("growth", GROWTH_ARGS), ("train", TRAIN_ARGS))
    }
    for proc in procs.values():
        _, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr
    dirs = {}
    for name, out in outs.items():
        (run_dir,) = [d for d in out.iterdir() if d.is_dir()]
        dirs[name] = run_dir
    return dirs


@pytest.fixture(scope="module")
def growth_run(runs: dict[str, Path]) -> Path:
    return runs["growth"]


@pytest.fixture(scope="module")
def train_run(runs: dict[str, Path]) -> Path:
    return runs["train"]


@pytest.fixture(scope="module")
def both_report(
    growth_run: Path, train_run: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("report") / "both"
    proc = esper("report", str(growth_run), str(train_run), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"report: {out / 'index.html'}"
    return out


def _charts(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="(charts/[^"]+)"', page)


def test_report_of_two_runs_has_every_chart_as_png_and_svg(both_report: Path) -> None:
    page = (both_report / "index.html").read_text(encoding="utf-8")
    files = sorted(p.name for p in (both_report / "charts").iterdir())
    stems = sorted({Path(f).stem for f in files})
    # esper run: accuracy, loss, seed timeline (min_epoch=1 germinates), parameters;
    # esper train: reward, accuracy, action mix, entropy, KL, explained variance, value
    # scale, advantage spread; comparison.
    assert stems == [
        "compare-accuracy",
        "run1-accuracy",
        "run1-loss",
        "run1-params",
        "run1-seeds",
        "run2-accuracy",
        "run2-actions",
        "run2-advantage-spread",
        "run2-entropy",
        "run2-explained-variance",
        "run2-kl",
        "run2-reward",
        "run2-value-scale",
    ]
    assert files == sorted(f"{s}.{ext}" for s in stems for ext in ("png", "svg"))
    for name in files:
        data = (both_report / "charts" / name).read_bytes()
        assert len(data) > 1000, name
        if name.endswith(".png"):
            assert data.startswith(PNG_MAGIC), name
        else:
            head = data.lstrip()[:200]
            assert head.startswith((b"<?xml", b"<svg")), name
            assert data.rstrip().endswith(b"</svg>"), name
    # Every chart is on the page (the PNG as the image, the SVG as a link), nothing else is.
    assert sorted(set(_charts(page))) == [f"charts/{f}" for f in files]
    assert page.count("<img ") == len(stems)


def test_report_is_self_contained(both_report: Path) -> None:
    page = (both_report / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"(?:src|href)=\"(?!charts/|#)", page)
    assert "http://" not in page
    assert "https://" not in page
    assert "<script" not in page
    assert "<link" not in page


def test_report_sections_and_tables(both_report: Path, growth_run: Path, train_run: Path) -> None:
    page = (both_report / "index.html").read_text(encoding="utf-8")
    growth = json.loads((growth_run / "summary.json").read_text())
    train = json.loads((train_run / "summary.json").read_text())
    assert f"1. {growth_run.name}</h2>" in page
    assert f"2. {train_run.name}</h2>" in page
    assert '<section id="compare">' in page
    # The summary table shows the final figures of summary.json.
    assert f"{growth['grown']['params']['total']:,}" in page
    assert (
        f'<th>training FLOPs</th><td class="num">{growth["static"]["flops"]["train"]:.3e}' in page
    )
    assert f"{train['updates']}" in page
    assert "Explained variance</h3>" in page or ">Explained variance<" in page
    # The diagnostics: the critic before and after the last update, the KL stop, the
    # curriculum (two updates: a cheap one, then a full one).
    last_metrics = train["history"][-1]["metrics"]
    ev = f"{last_metrics['explained_variance']:+.3f} / {last_metrics['explained_variance_after']:+.3f}"
    assert f"<th>explained variance, last update: before / after</th><td>{ev}</td>" in page
    assert "<th>updates stopped early by the KL check (%)</th>" in page
    assert "<th>cheap updates</th>" in page
    assert train["cheap_updates"] == 1
    cheap, full = train["decisions_per_hour"]["cheap"], train["decisions_per_hour"]["full"]
    assert (
        f"<th>decisions per hour: cheap / full episodes</th><td>{cheap:,.0f} / {full:,.0f}</td>"
        in page
    )
    # The comparison table has the final accuracy of each arm and of the training run.
    compare = page.split('<section id="compare">')[1].split("</section>")[0]
    assert f"{growth['static']['val_accuracy']:.2f}" in compare
    last = train["history"][-1]["mean_accuracy"]
    assert f"{last:.2f}" in compare


def test_single_run_writes_to_run_dir_report(growth_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "copy"
    shutil.copytree(growth_run, run)
    index = write_report([run])
    assert index == run / "report" / "index.html"
    names = sorted(p.name for p in (run / "report" / "charts").iterdir())
    assert not any(n.startswith("compare-") for n in names)
    assert "run1-accuracy.svg" in names


def test_hostile_strings_are_escaped(growth_run: Path, tmp_path: Path) -> None:
    run = tmp_path / HOSTILE_NAME
    shutil.copytree(growth_run, run)
    summary = json.loads((run / "summary.json").read_text())
    summary["task"] = '<img src=x onerror="alert(2)">'
    summary[f"<b>{HOSTILE}</b>"] = {"val_accuracy": 12.5}
    (run / "summary.json").write_text(json.dumps(summary))
    config = (run / "config.toml").read_text()
    config = config.replace(
        'name = "esper.policies.heuristic:heuristic"', f'name = "{HOSTILE}&amp;"', 1
    )
    (run / "config.toml").write_text(config)
    events = (run / "events.jsonl").read_text().replace('"arm":"grown"', f'"arm":"{HOSTILE}"')
    (run / "events.jsonl").write_text(events)

    out = tmp_path / "out"
    proc = esper("report", str(run), str(growth_run), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    page = (out / "index.html").read_text(encoding="utf-8")
    for raw in (HOSTILE, HOSTILE_NAME, "<img src=x", "<b>", f"{HOSTILE}&amp;"):
        assert raw not in page
    assert html.escape(HOSTILE) in page  # arm, policy
    assert html.escape('<img src=x onerror="alert(2)">') in page
    assert html.escape(f"{HOSTILE}&amp;") in page  # config text, & escaped too
    assert f"<title>esper report: {html.escape(HOSTILE_NAME)}, " in page
    assert f"1. {html.escape(HOSTILE_NAME)}</h2>" in page
    assert f'alt="Validation accuracy \u2013 {html.escape(HOSTILE_NAME)}"' in page
    # The SVG charts drew the arm name; matplotlib keeps text out of the markup.
    for svg in (out / "charts").glob("*.svg"):
        text = svg.read_text(encoding="utf-8")
        assert HOSTILE not in text
        assert HOSTILE_NAME not in text


def test_not_a_run_directory_exits_2_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    proc = esper("report", str(tmp_path / "empty"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert (
        f"{tmp_path / 'empty' / 'config.toml'}: missing (esper run and esper train" in proc.stderr
    )

    proc = esper("report", str(tmp_path / "missing"))
    assert proc.returncode == 2
    assert "no such directory" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_malformed_event_line_names_file_and_line(growth_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(growth_run, run)
    lines = (run / "events.jsonl").read_text().splitlines()
    lines.insert(2, '{"type": "engine.epoch", "schema": 1, "arm": ')
    (run / "events.jsonl").write_text("\n".join(lines) + "\n")
    proc = esper("report", str(run))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"{run / 'events.jsonl'}:3: not valid JSON" in proc.stderr
    assert not (run / "report").exists()

    # A field of the wrong type is named too.
    lines[2] = lines[3].replace('"val_accuracy":', '"val_accuracy":"high","x":')
    (run / "events.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(TelemetryError, match=r"events\.jsonl:3: engine\.epoch event: field "):
        load_run(run)


def test_bad_summary_json_names_the_line(growth_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(growth_run, run)
    (run / "summary.json").write_text('{\n  "run_id": "x",\n  oops\n}\n')
    with pytest.raises(ReportError, match=r"summary\.json:3: not valid JSON"):
        load_run(run)


def test_missing_matplotlib_is_a_clear_error(
    growth_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(EsperError, match=re.escape(MATPLOTLIB_MISSING)):
        write_report([growth_run], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_run_data_of_a_growth_run(growth_run: Path) -> None:
    run = load_run(growth_run)
    assert run.kind == "run"
    assert run.status == "finished"
    assert sorted(run.arms()) == ["grown", "static"]
    assert [p.epoch for p in run.arm_epochs("grown")] == [1, 2, 3]
    # Seeds belong to the arm whose epoch they happened in: only the grown arm grows.
    assert run.seeds
    assert {m.arm for m in run.seeds} == {"grown"}
    assert {c.arm for c in run.stage_changes} == {"grown"}
    first = run.seeds[0]
    assert first.kind == "germinated"
    assert run.stages_after("grown")[first.epoch or 0][first.slot_id] == "GERMINATED"
    summary = run.summary or {}
    assert run.final_accuracy() == {
        "grown": summary["grown"]["val_accuracy"],
        "static": summary["static"]["val_accuracy"],
    }


def test_rollback_belongs_to_the_arm_whose_epoch_it_ended(growth_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(growth_run, run)
    lines = (run / "events.jsonl").read_text().splitlines()
    # The static arm's epoch 2 ends after the grown arm's: put a rollback inside it.
    at = next(
        i
        for i, x in enumerate(lines)
        if '"engine.epoch"' in x and '"arm":"static"' in x and '"epoch":2,' in x
    )
    rollback = {
        "type": "governor.rollback",
        "schema": 1,
        "ts": 0.0,
        "run_id": "x",
        "env_id": None,
        "epoch": 2,
        "reason": "governor_divergence",
        "val_loss": 9.5,
        "seeds_pruned": [],
        "seeds_unrestored": [],
    }
    lines.insert(at, json.dumps(rollback))
    (run / "events.jsonl").write_text("\n".join(lines) + "\n")
    data = load_run(run)
    assert [(r.arm, r.epoch, r.reason, r.val_loss) for r in data.rollbacks] == [
        ("static", 2, "governor_divergence", 9.5)
    ]
    index = write_report([run], tmp_path / "out")
    assert (tmp_path / "out" / "charts" / "run1-accuracy.png").stat().st_size > 1000
    page = index.read_text(encoding="utf-8")
    assert (
        '<tr><td class="num">2</td><td>static</td><td>governor_divergence</td>'
        '<td class="num">9.5000</td><td></td></tr>'
    ) in page


def test_unfinished_run_is_reported_from_its_events(growth_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(growth_run, run)
    (run / "summary.json").unlink()
    lines = (run / "events.jsonl").read_text().splitlines()
    cut = [i for i, x in enumerate(lines) if '"engine.epoch"' in x][3]  # epochs 1-2 of both arms
    (run / "events.jsonl").write_text("\n".join(lines[: cut + 1]) + "\n")
    data = load_run(run)
    assert data.summary is None
    assert data.status is None
    assert data.final_accuracy() == {p.arm: p.val_accuracy for p in data.epochs if p.epoch == 2}
    page = write_report([run], tmp_path / "out").read_text(encoding="utf-8")
    assert "No summary.json: the run did not finish" in page
    assert 'src="charts/run1-accuracy.png"' in page


def test_resumed_log_keeps_the_replayed_epochs(growth_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(growth_run, run)
    lines = (run / "events.jsonl").read_text().splitlines()
    epochs = [json.loads(x) for x in lines if '"engine.epoch"' in x]
    # A process that logged epochs 1-3, then a resume that replays epoch 3 differently.
    resumed = next(x for x in lines if '"run.started"' in x).replace(
        '"command":"run"', '"command":"resume"'
    )
    replay = {**epochs[-1], "val_accuracy": 99.0}
    lines += [resumed, json.dumps(replay)]
    (run / "events.jsonl").write_text("\n".join(lines) + "\n")
    data = load_run(run)
    last = data.arm_epochs(replay["arm"])
    assert [p.epoch for p in last] == [1, 2, 3]
    assert last[-1].val_accuracy == 99.0


def test_train_run_data_has_updates_with_actions(train_run: Path) -> None:
    run = load_run(train_run)
    summary = run.summary or {}
    assert run.kind == "train"
    assert [u.update for u in run.updates] == [0, 1]
    for u, record in zip(run.updates, summary["history"], strict=True):
        assert u.actions == record["actions"]
        assert sum(u.actions.values()) == 1 * 2  # envs x epochs
        assert "approx_kl" in u.metrics
    assert run.epochs == []  # the episodes' epochs are not drawn one by one


def test_event_fields_read_by_the_report_exist_in_the_event_records() -> None:
    from esper.engine.events import EpochCompleted, UpdateCompleted
    from esper.lifecycle.events import SeedGerminated, SeedPruned, SeedStageChanged
    from esper.report.data import EpochPoint, Rollback, StageChange, UpdatePoint
    from esper_plugins.governors.events import GovernorRollback

    def names(cls: type) -> set[str]:
        return {f.name for f in attrs.fields(cls)}

    assert names(EpochPoint) <= names(EpochCompleted)
    assert names(UpdatePoint) - {"actions"} <= names(UpdateCompleted)
    assert names(StageChange) - {"arm"} <= names(SeedStageChanged)
    assert {"slot_id", "seed_id", "blueprint_id", "epoch"} <= names(SeedGerminated)
    assert "reason" in names(SeedPruned)
    assert names(Rollback) - {"arm"} <= names(GovernorRollback)


def test_help_does_not_import_matplotlib_and_data_needs_no_torch() -> None:
    code = (
        "import sys\n"
        "from esper.cli.main import main\n"
        "try:\n"
        "    main(['report', '--help'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "import esper.report.data, esper.report.html\n"
        "print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=ENV, cwd=TESTS, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "RUN_DIR..." in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "[]"
