"""Run the esper CLI in a subprocess, as a user would (only built-in plugins)."""

from __future__ import annotations

import os
import subprocess
import sys

from support.paths import TESTS

ENV = {**os.environ, "ESPER_DISABLE_PLUGIN_AUTOLOAD": "1"}


def esper(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "esper", *args],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=TESTS,
        timeout=600,
    )
