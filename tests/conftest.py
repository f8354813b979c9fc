"""Test-suite set-up: never autoload third-party plugins that happen to be installed; the
fixtures every folder shares.

The folders mirror the code: ``core/<layer>`` for esper's own packages, ``plugins`` for the
built-in plugins and third-party ones written as a user would, ``reliability`` for faults,
kills and hostile input. Helpers live in ``support`` (on the path because this file's folder is).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from esper.registry import Registries
from esper.registry.manager import build_manager

os.environ["ESPER_DISABLE_PLUGIN_AUTOLOAD"] = "1"
os.environ.pop("ESPER_PLUGINS", None)
os.environ.pop("ESPER_STRICT_PLUGINS", None)

# `nox -s stress` fuzzes with HYPOTHESIS_PROFILE=stress: many more inputs per property.
settings.register_profile("stress", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "stress: reliability tests that `nox -s stress` runs (HYPOTHESIS_PROFILE=stress)"
    )


@pytest.fixture(scope="module")
def registries() -> Registries:
    """The built-in plugins only, loaded strictly (a broken built-in fails the test that needs
    it); one per module, so a module may register more without touching the others."""
    return Registries(build_manager(autoload=False, strict=True))
