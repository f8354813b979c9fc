"""Every event type has an emitter in the code and a test that checks it (a meta-test).

A new event class that nothing constructs, or that no test names, fails here: telemetry that
is declared but never sent, or sent but never checked, is how dashboards quietly go blank.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from esper.telemetry.events import event_types

from support.paths import ROOT

#: Modules that define events (importing them registers their types).
EVENT_MODULES = (
    "esper.telemetry.events",
    "esper.lifecycle.events",
    "esper.engine.environment",
    "esper.engine.lockstep",
    "esper.recipes.train",
    "esper.evaluation.events",
    "esper_plugins.governors.events",
)


def _sources(*dirs: str) -> dict[Path, str]:
    return {
        path: path.read_text(encoding="utf-8")
        for d in dirs
        for path in (ROOT / d).rglob("*.py")
        if ".nox" not in path.parts
    }


for _module in EVENT_MODULES:
    importlib.import_module(_module)
CODE = _sources("esper", "esper_plugins")
TESTS = {p: s for p, s in _sources("tests").items() if p.name != Path(__file__).name}
TYPES = sorted(
    (name, cls)
    for name, cls in event_types().items()
    if cls.__module__.startswith(("esper.", "esper_plugins."))
)


@pytest.mark.parametrize(("event_type", "cls"), TYPES, ids=[t for t, _ in TYPES])
def test_event_type_is_emitted_somewhere(event_type: str, cls: type) -> None:
    call = re.compile(rf"(?<!class ){re.escape(cls.__name__)}\(")
    emitters = [str(p.relative_to(ROOT)) for p, text in CODE.items() if call.search(text)]
    assert emitters, f"{event_type} ({cls.__name__}) is never constructed outside its definition"


@pytest.mark.parametrize(("event_type", "cls"), TYPES, ids=[t for t, _ in TYPES])
def test_event_type_is_checked_by_a_test(event_type: str, cls: type) -> None:
    quoted = (f'"{event_type}"', f"'{event_type}'")
    tested = [p.name for p, text in TESTS.items() if any(q in text for q in quoted)]
    assert tested, f"no test names the event type {event_type!r}"


def test_the_event_modules_cover_every_registered_type() -> None:
    assert len(TYPES) >= 15


EVENTS_DOC = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(("event_type", "cls"), TYPES, ids=[t for t, _ in TYPES])
def test_event_type_is_documented(event_type: str, cls: type) -> None:
    assert f"| `{event_type}`" in EVENTS_DOC, f"docs/events.md has no row for {event_type!r}"
