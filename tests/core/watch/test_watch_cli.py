"""``esper watch``: which runs it follows, its errors, --once, and textual as an option."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from esper.watch.errors import WatchError
from esper.watch.locate import run_dirs

from support.watchruns import RUN_ID, TRAIN_ID, growth_events, train_events, write_events


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    write_events(root / RUN_ID, growth_events(finished=True))
    write_events(root / TRAIN_ID, train_events(finished=True))
    (root / "notes").mkdir()  # not a run directory: never picked
    return root


def test_a_directory_of_runs_stands_for_its_newest(runs_root: Path) -> None:
    assert run_dirs([runs_root]) == [runs_root / TRAIN_ID]
    assert run_dirs([runs_root], last=5) == [runs_root / RUN_ID, runs_root / TRAIN_ID]
    assert run_dirs([runs_root / RUN_ID, runs_root]) == [runs_root / RUN_ID, runs_root / TRAIN_ID]
    assert run_dirs([], root=runs_root) == [runs_root / TRAIN_ID]


def test_a_run_directory_without_events_yet_is_watched(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[run]\nepochs = 3\n[task]\nname = "x:image"\n')
    assert run_dirs([tmp_path]) == [tmp_path]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: p, "not a run directory"),
    ],
)
def test_bad_run_directories_are_named(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path)
    with pytest.raises(WatchError, match=message) as caught:
        run_dirs([path])
    assert str(path) in str(caught.value)
    with pytest.raises(WatchError, match="--last"):
        run_dirs([tmp_path], last=0)


def test_cli_errors_exit_2_without_a_traceback(esper_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = esper_cli("watch", str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert f"Error: {tmp_path / 'nope'}: does not exist" in result.output
    assert "Traceback" not in result.output


def test_without_textual_the_dashboard_says_how_to_install_it(  # type: ignore[no-untyped-def]
    esper_cli, runs_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "textual", None)  # what `import textual` fails on
    result = esper_cli("watch", str(runs_root))
    assert result.exit_code == 2
    assert "pip install 'esper-nn[watch]'" in result.output
    assert "Traceback" not in result.output
    # --once needs no textual.
    result = esper_cli("watch", "--once", str(runs_root / RUN_ID))
    assert result.exit_code == 0, result.output


def test_once_prints_every_panel(esper_cli, runs_root: Path) -> None:  # type: ignore[no-untyped-def]
    result = esper_cli("watch", "--once", "--last", "2", str(runs_root))
    assert result.exit_code == 0, result.output
    out = result.output
    for text in (f"{RUN_ID} · finished", f"{TRAIN_ID} · finished", "epoch 24 / 24",
                 "validation accuracy (%)", "r0c0 conv_light", "ROLLBACK: governor_divergence",
                 "update 3 / 3 · 6 episodes", "entropy alpha_target", "ep acc %"):  # fmt: skip
        assert text in out, text
    # The PPO panel is only for esper train.
    assert out.count("PPO ─") == 1
