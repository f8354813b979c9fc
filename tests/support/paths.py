"""Where things are in the checkout, for tests at any depth of tests/."""

from __future__ import annotations

from pathlib import Path

#: The repository root (pyproject.toml, esper/, docs/, contrib/).
ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
FIXTURES = TESTS / "fixtures"
DOCS = ROOT / "docs"
CONTRIB = ROOT / "contrib"
