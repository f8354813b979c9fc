"""`esper bench --docs PAGE` writes the table between the page's markers and the JSON beside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from esper.errors import EsperError

from esper_bench import suite

REPORT = {
    "machine": {
        "processor": "x86_64",
        "cpu_count": 2,
        "platform": "Linux",
        "python": "3.11",
        "torch": "2.13.0",
        "torch_threads": 2,
        "cuda": None,
    },
    "quick": True,
    "started": 0.0,
    "figures": [
        {"benchmark": "b", "name": "fig", "value": 1.25, "unit": "x", "goal": "<= 2", "met": True}
    ],
}


def test_table_is_written_between_the_markers(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text(
        f"# Title\n\nintro\n\n{suite.DOCS_START}\nold table\n{suite.DOCS_END}\n\n## After\n",
        encoding="utf-8",
    )
    json_path = suite.update_docs(REPORT, page)
    text = page.read_text(encoding="utf-8")
    assert "old table" not in text
    assert "| b | fig | 1.250 x | <= 2 | yes |" in text
    assert text.startswith("# Title\n\nintro\n\n")
    assert text.endswith(f"{suite.DOCS_END}\n\n## After\n")
    assert json.loads(json_path.read_text()) == REPORT
    suite.update_docs(REPORT, page)  # idempotent: the markers survive
    assert page.read_text(encoding="utf-8") == text


def test_a_page_without_markers_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text("# no markers\n", encoding="utf-8")
    with pytest.raises(EsperError, match="markers"):
        suite.update_docs(REPORT, page)
    assert page.read_text(encoding="utf-8") == "# no markers\n"


def test_the_docs_page_has_the_markers() -> None:
    # The checkout's page, which `nox -s bench` writes into (tests/ -> esper-bench -> contrib -> root).
    text = (Path(__file__).resolve().parents[3] / "docs" / "benchmarks.md").read_text()
    assert text.count(suite.DOCS_START) == 1
    assert text.index(suite.DOCS_START) < text.index(suite.DOCS_END)
