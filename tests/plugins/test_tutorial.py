"""docs/tutorial-blueprint.md is runnable: its code blocks, written to the files they name,
form a plugin whose own tests pass (run here in a subprocess, as its author would run them)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from support.paths import DOCS

TUTORIAL = DOCS / "tutorial-blueprint.md"
BLOCK = re.compile(r"```(?:python|toml)\n# file: (?P<path>\S+)\n(?P<body>.*?)```", re.DOTALL)


def test_tutorial_code_blocks_form_a_working_plugin(tmp_path: Path) -> None:
    files = {m["path"]: m["body"] for m in BLOCK.finditer(TUTORIAL.read_text(encoding="utf-8"))}
    assert set(files) == {
        "esper_channel_mixer/seed.py",
        "esper_channel_mixer/plugin.py",
        "esper_channel_mixer/__init__.py",
        "tests/test_channel_mixer.py",
        "pyproject.toml",
    }
    for rel, body in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "ESPER_DISABLE_PLUGIN_AUTOLOAD": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "3 passed" in proc.stdout
