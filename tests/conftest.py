"""Test-suite set-up: never autoload third-party plugins that happen to be installed."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

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
