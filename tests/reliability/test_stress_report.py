"""The stress session's figures: summed from figures.jsonl and written between the page's markers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import stress_report
from support.figures import record

MACHINE = {
    "cpu_count": 2,
    "platform": "Linux x86_64",
    "python": "3.11.7",
    "torch": "2.13.0",
    "wall_s": 600.0,
    "date": "2026-01-01",
}


def test_figures_are_recorded_only_in_the_stress_session(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("ESPER_STRESS_OUT", raising=False)
    record("a", runs=1)
    assert not (tmp_path / "figures.jsonl").exists()
    monkeypatch.setenv("ESPER_STRESS_OUT", str(tmp_path))
    record("a", runs=2, injected_sigkill=3, survived_sigkill=3)
    record("b", runs=1, fuzzed_config_files=500, lost_bytes=0)
    total = stress_report.totals(tmp_path / "figures.jsonl")
    assert total == {
        "runs": 3,
        "injected_sigkill": 3,
        "survived_sigkill": 3,
        "fuzzed_config_files": 500,
        "lost_bytes": 0,
    }


def test_table_is_written_between_the_markers(tmp_path: Path) -> None:
    page = tmp_path / "reliability.md"
    page.write_text(
        f"# R\n\n{stress_report.DOCS_START}\nold\n{stress_report.DOCS_END}\n\n## After\n",
        encoding="utf-8",
    )
    total = stress_report.totals(Path("missing"))
    total.update(
        runs=40, runs_finished=4, injected_sigkill=12, survived_sigkill=12, injected_nan=6,
        survived_nan=6, fuzzed_config_files=500, fuzzed_event_lines=250, steps_redone=9,
    )  # fmt: skip
    json_path = stress_report.update_docs(total, MACHINE, page)
    text = page.read_text(encoding="utf-8")
    assert "old" not in text
    assert text.endswith(f"{stress_report.DOCS_END}\n\n## After\n")
    assert "| faults injected: SIGKILL at a random moment | 12 (survived 12) |" in text
    assert "| faults injected, all kinds | 18 |" in text
    assert "| faults survived | 18 |" in text
    assert "| bytes of finished work lost (goal 0) | 0 |" in text
    assert "| inputs fuzzed | 750 |" in text
    assert "disk full" not in text  # kinds that were not injected are left out
    assert "stress session 10.0 min on 2026-01-01" in text
    data = json.loads(json_path.read_text())
    assert data["figures"]["runs"] == 40
    assert data["machine"] == MACHINE


def test_a_page_without_markers_is_an_error(tmp_path: Path) -> None:
    page = tmp_path / "reliability.md"
    page.write_text("# no markers\n", encoding="utf-8")
    with pytest.raises(ValueError, match="markers"):
        stress_report.update_docs(stress_report.totals(Path("missing")), MACHINE, page)
