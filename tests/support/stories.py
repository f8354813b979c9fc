"""A tiny TinyStories-like local copy for tests of the text task: json lines of stories.

The stories come from the embedded task's grammar (`esper_plugins.tasks.stories`), so they
read like TinyStories and are the same on every machine.
"""

from __future__ import annotations

import json
from pathlib import Path

from esper_plugins.tasks.stories import stories

#: ``--set`` overrides that shrink the tinystories preset to a one-epoch CPU check: a small
#: BPE, short windows and a narrow host (three layers: the preset has three slots).
TINY_TEXT = [
    "task.max_vocab=300",
    "task.block_size=16",
    "task.host.n_embd=32",
    "task.host.n_head=2",
    "task.host.n_layer=3",
    "run.device='cpu'",
]


def write_stories(folder: Path, *, files: int = 2, per_file: int = 40) -> Path:
    """``folder`` holding ``files`` jsonl files of ``per_file`` stories each (a "text"
    column, and an "id" beside it as in real dumps)."""
    folder.mkdir(parents=True, exist_ok=True)
    it = stories(0, "support.stories")
    for f in range(files):
        lines = [json.dumps({"id": f * per_file + i, "text": next(it)}) for i in range(per_file)]
        (folder / f"train-{f:05d}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder
