"""Security: shared checkpoints never run code, blocked plugins are never imported, report
pages escape every string, and config paths cannot aim esper's writes outside the run.

The malicious checkpoints here really are malicious: loaded with ``weights_only=False`` they
write a marker file (the control, run in a child process, proves it). Every path by which
esper reads a torch file must refuse them before anything runs.
"""

from __future__ import annotations

import html
import io
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esper.errors import ConfigError, EsperError
from esper.report.data import EpochPoint, Rollback, RunData
from esper.report.html import RenderedChart, RunSection, render_page
from esper.rundir.checkpoint import CheckpointError, load_checkpoint, load_weights_only
from esper.rundir.paths import resolve_in_run_dir
from esper_plugins.tasks.cifar import CIFAR10Task
from esper_plugins.tasks.config import CIFAR10TaskConfig

from support.figures import record
from support.tinyruns import GROWTH, TRAIN, invoke, one_thread, only_run_dir

pytestmark = pytest.mark.stress

fuzzed: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def report_counts() -> Iterator[None]:
    yield
    record("test_security", **{f"fuzzed_{k}": v for k, v in fuzzed.items()})


# -- checkpoints that would run code -----------------------------------------------------------


class _WritesMarker:
    """Unpickling this calls ``Path.write_text(marker, "pwned")``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.write_text, (self.marker, "pwned"))


class _RunsShell:
    """Unpickling this calls ``os.system("touch marker")``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def _malicious(kind: str, marker: Path, genuine: dict[str, Any] | None = None) -> bytes:
    """A checkpoint whose unpickling runs code; ``genuine`` entries make it look real."""
    payload = _WritesMarker(marker) if kind.endswith("write") else _RunsShell(marker)
    state = {**(genuine or {"schema": 1}), "evil": payload}
    buffer = io.BytesIO()
    if kind.startswith("zip"):
        torch.save(state, buffer)
    elif kind.startswith("legacy"):
        torch.save(state, buffer, _use_new_zipfile_serialization=False)
    else:
        pickle.dump(state, buffer)  # a bare pickle named .pt
    return buffer.getvalue()


KINDS = ["zip-write", "zip-shell", "legacy-write", "legacy-shell", "pickle-write"]


def test_the_malicious_checkpoints_are_real(tmp_path: Path) -> None:
    """The control: an unsafe load of the same bytes runs each payload (in a child process)."""
    loads = []
    for kind in KINDS:
        path = tmp_path / f"{kind}.pt"
        path.write_bytes(_malicious(kind, tmp_path / f"{kind}.pwned"))
        call = (
            "pickle.load(f)" if kind.startswith("pickle") else "torch.load(f, weights_only=False)"
        )
        loads.append(f"with open({str(path)!r}, 'rb') as f:\n    {call}\n")
    code = "import pickle, torch\n" + "".join(loads)
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)
    assert sorted(p.name for p in tmp_path.glob("*.pwned")) == sorted(f"{k}.pwned" for k in KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_load_checkpoint_refuses_code(kind: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(_malicious(kind, marker))
    with pytest.raises(CheckpointError, match=r"refused to load this checkpoint|corrupt") as info:
        load_checkpoint(path)
    message = str(info.value)
    # It says what was refused, and never repeats torch's advice to retry unsafely.
    assert "weights_only" not in message
    assert "False" not in message
    if "refused" in message:
        assert re.search(r"it would import [\w.]+|other than tensors and plain data", message)
        assert "nothing in the file was run" in message
    with pytest.raises(CheckpointError):
        load_weights_only(path, what="weights file")
    assert not marker.exists()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for command, args in (("run", GROWTH), ("train", TRAIN)):
        folder = tmp_path_factory.mktemp(command)
        with one_thread():
            result = invoke(*args, "--out", str(folder))
        assert result.exit_code == 0, result.output
        out[command] = only_run_dir(folder)
    return out


def _evil_copy(runs: dict[str, Path], command: str, tmp_path: Path, kind: str) -> Path:
    """A copy of a finished run whose checkpoint is replaced by a malicious one."""
    run = tmp_path / command
    shutil.copytree(runs[command], run)
    name = "checkpoint.pt" if command == "run" else "policy.pt"
    genuine = torch.load(run / name, weights_only=True)
    (run / name).write_bytes(_malicious(kind, tmp_path / "pwned", genuine))
    return run / name


def test_every_command_that_reads_a_checkpoint_refuses_code(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    kind = "zip-write"  # the loader refuses every kind (above); here: every way in
    marker = tmp_path / "pwned"
    growth = _evil_copy(runs, "run", tmp_path, kind)
    policy = _evil_copy(runs, "train", tmp_path, kind)
    run = ["run", "--epochs", "1", "--quiet", "--set=task.train_size=64", "--out", str(tmp_path)]
    attempts = {
        "esper resume (run)": ["resume", str(growth.parent)],
        "esper resume (train)": ["resume", str(policy.parent)],
        "esper train --resume": ["train", "--resume", str(policy.parent)],
        "esper run --policy-checkpoint": [*run, "--policy-checkpoint", str(policy)],
        "policy.weights": [
            *run,
            "--set=policy.name='lstm'",
            "--set=policy.hidden_dim=16",
            "--set=policy.feature_dim=16",
            f"--set=policy.weights={str(policy)!r}",
        ],
    }
    for what, args in attempts.items():
        fuzzed["malicious_checkpoints"] += 1
        with one_thread():
            result = invoke(*args)
        assert result.exit_code == 2, (what, result.output)
        assert "refused to load" in result.output, (what, result.output)
        assert "Traceback" not in result.output
        assert not marker.exists(), what


# -- plugins that are blocked or not autoloaded ---------------------------------------------------

EVIL_PLUGIN = """
import pathlib
pathlib.Path({marker!r}).write_text("imported", encoding="utf-8")

from esper.plugin import SinkSpec, hookimpl

@hookimpl
def esper_telemetry_sinks():
    yield SinkSpec(name="evil", factory="builtins:object")
"""


def _install_evil_plugin(site: Path, marker: Path) -> None:
    info = site / "esper_evil-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: esper-evil\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[esper.plugins]\nevil = evil_plugin\n")
    (site / "evil_plugin.py").write_text(
        textwrap.dedent(EVIL_PLUGIN.format(marker=str(marker))), encoding="utf-8"
    )


def _esper(site: Path, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ESPER_")}
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "esper", *args],
        cwd=cwd,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_blocked_or_not_autoloaded_plugin_is_never_imported(tmp_path: Path) -> None:
    site, marker = tmp_path / "site", tmp_path / "imported"
    _install_evil_plugin(site, marker)
    ways = {
        "--plugin no:evil": (["--plugin", "no:evil", "config", "show"], {}),
        "ESPER_PLUGINS=no:evil": (["config", "show"], {"ESPER_PLUGINS": "no:evil"}),
        "--disable-plugin-autoload": (["--disable-plugin-autoload", "config", "show"], {}),
        "ESPER_DISABLE_PLUGIN_AUTOLOAD=1": (
            ["config", "show"],
            {"ESPER_DISABLE_PLUGIN_AUTOLOAD": "1"},
        ),
    }
    for what, (args, env) in ways.items():
        result = _esper(site, tmp_path, *args, **env)
        assert result.returncode == 0, (what, result.stderr)
        assert not marker.exists(), what
    # The control: with autoload on and no block, the same installation imports it.
    result = _esper(site, tmp_path, "config", "show")
    assert result.returncode == 0, result.stderr
    assert marker.read_text(encoding="utf-8") == "imported"


@pytest.mark.slow
def test_a_blocked_plugin_is_not_imported_by_a_whole_run(tmp_path: Path) -> None:
    site, marker = tmp_path / "site", tmp_path / "imported"
    _install_evil_plugin(site, marker)
    tiny = ["--epochs", "1", "--set", "task.train_size=64", "--set", "task.val_size=32"]
    out = ["--out", str(tmp_path / "runs"), "--quiet"]
    result = _esper(site, tmp_path, "run", "--plugin", "no:evil", *tiny, *out)
    assert result.returncode == 0, result.stderr
    assert not marker.exists()
    result = _esper(site, tmp_path, "train", "--episodes", "1", "--envs", "1", *tiny, *out,
                    ESPER_PLUGINS="no:evil")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert not marker.exists()


# -- the report page -------------------------------------------------------------------------------

#: Every element the report page may contain; anything else came from a string unescaped.
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "br", "ul", "li",
    "a", "section", "table", "tr", "th", "td", "details", "summary", "pre", "figure", "img",
    "figcaption",
}  # fmt: skip


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


_hostile = st.text(min_size=1, max_size=30) | st.sampled_from(
    [
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(2)>',
        "'onmouseover='alert(3)",
        "</pre><script>x</script>",
        "]]><!--",
        "&lt;b&gt;",
        "<svg/onload=alert(4)>",
        "javascript:alert(5)",
    ]
)


def _run_data(s: list[str]) -> RunData:
    """A run whose every string (name, config, summary, events) is hostile."""
    epoch = EpochPoint(
        arm=s[0], epoch=1, train_loss=1.0, train_accuracy=10.0, val_loss=1.0,
        val_accuracy=12.5, params_total=10, params_host=10, action=s[1], action_slot=s[2],
        action_ok=True, stages={s[3]: s[4]}, alphas={},
    )  # fmt: skip
    return RunData(
        path=Path("/runs") / s[5].replace("/", "_").replace("\x00", ""),
        name=s[5],
        kind="run",
        config={"task": {"name": s[6]}, "policy": {"name": s[7]}},
        config_text=f'[task]\nname = "{s[6]}"\n',
        summary={
            "task": s[6],
            s[8]: s[9],
            "grown": {"val_accuracy": 12.5, "params": {"total": 10}},
            s[10]: {"val_accuracy": 9.0},
        },
        epochs=[epoch],
        rollbacks=[
            Rollback(epoch=1, arm=s[0], reason=s[11], val_loss=2.0, seeds_pruned=[s[12], s[13]])
        ],
        status=s[14],
    )


@settings(
    max_examples=settings.default.max_examples,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(strings=st.lists(_hostile, min_size=15, max_size=15))
def test_the_report_page_escapes_every_string(strings: list[str]) -> None:
    run = _run_data(strings)
    chart = RenderedChart(title="Validation accuracy", caption="c", png="charts/a.png", svg=None)
    sections = [
        RunSection(index=1, run=run, charts=[chart]),
        RunSection(index=2, run=run, charts=[]),
    ]
    page = render_page(sections, chart, generated="now", version=strings[0])
    fuzzed["report_pages"] += 1
    parser = _Tags()
    parser.feed(page)
    parser.close()
    for tag, attrs in parser.tags:
        assert tag in ALLOWED_TAGS, (tag, page)
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            if name in ("href", "src"):
                assert value is not None
                assert re.fullmatch(r"#\w+|charts/[\w.-]+", value), value
    # What the page shows as text is the string itself (run name, task, governor reason).
    for s in (strings[5], strings[6], strings[11]):
        assert html.escape(s, quote=True) in page, s


# -- paths from configs ----------------------------------------------------------------------------

_segment = st.sampled_from(["..", ".", "a", "b", "logs", "~"])


@settings(max_examples=settings.default.max_examples, deadline=None)
@given(parts=st.lists(_segment, min_size=1, max_size=6))
def test_relative_config_paths_stay_inside_the_run_directory(parts: list[str]) -> None:
    run_dir = Path("/srv/runs/r1")
    value = "/".join(parts)
    fuzzed["config_paths"] += 1
    normal = os.path.normpath(value)
    key = "config.telemetry.sinks.jsonl.path"
    if parts[0] == "~":
        # ~ names the user's home: an absolute path, as explicit as /home/...
        assert resolve_in_run_dir(run_dir, value, key=key) == Path(value).expanduser()
    elif normal == ".." or normal.startswith("../"):
        with pytest.raises(ConfigError, match=re.escape(f"{key}: relative path")):
            resolve_in_run_dir(run_dir, value, key=key)
    else:
        assert resolve_in_run_dir(run_dir, value, key=key).is_relative_to(run_dir)


def test_config_paths_that_climb_out_exit_2_naming_the_key(tmp_path: Path) -> None:
    base = ["run", "--epochs", "1", "--quiet", "--set", "task.train_size=64"]
    cases = {
        "config.telemetry.sinks.jsonl.path": [
            "--out",
            str(tmp_path / "runs"),
            "--set=telemetry.sinks.jsonl.path='../../escaped.jsonl'",
        ],
        "config.run.out": ["--set=run.out='../escaped'"],
    }
    for key, extra in cases.items():
        result = invoke(*base, *extra)
        assert result.exit_code == 2, (key, result.output)
        assert f"{key}: " in result.output
        assert "Traceback" not in result.output
    assert not list(tmp_path.parent.glob("escaped*"))
    assert not (Path.cwd().parent / "escaped").exists()


def test_an_absolute_path_is_the_users_explicit_choice(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere" / "events.jsonl"
    with one_thread():
        result = invoke(
            "run", "--epochs", "1", "--quiet", "--set", "task.train_size=64",
            "--out", str(tmp_path / "runs"),
            f"--set=telemetry.sinks.jsonl.path={str(elsewhere)!r}",
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(elsewhere.read_text().splitlines()[0])["type"] == "run.started"
    run_dir = only_run_dir(tmp_path / "runs")
    assert not (run_dir / "events.jsonl").exists()


def test_a_dataset_download_may_not_climb_out_of_the_working_directory() -> None:
    task = CIFAR10Task(CIFAR10TaskConfig(root="../../datasets", download=True))
    with pytest.raises(EsperError, match=r"config\.task\.root: download = true writes"):
        task.load(seed=0)
    task = CIFAR10Task(CIFAR10TaskConfig(download=True))
    with pytest.raises(EsperError, match=r"config\.run\.data_dir: download = true"):
        task.load(seed=0, data_dir="../elsewhere")
