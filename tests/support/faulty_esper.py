"""``python tests/support/faulty_esper.py SPEC -- ESPER ARGS``: the esper CLI with faults.

``SPEC`` is a JSON object for `faults.install` (for example ``{"kill_in_checkpoint_write": 2}``
or ``{"disk_full": 40000}``); the patches are installed in this process before the CLI runs, so
the esper code under test is the installed one, unchanged.
"""

from __future__ import annotations

import json
import sys

import faults  # this script's directory is on sys.path


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] != "--":
        raise SystemExit("usage: faulty_esper.py SPEC -- ESPER ARGS")
    faults.install(json.loads(argv[0]))
    from esper.cli.main import main as esper_main

    esper_main(argv[2:])


if __name__ == "__main__":
    main(sys.argv[1:])
