"""What an evaluation runs: controllers, seeds, and one configuration per (controller, seed).

An evaluation trains every controller on every seed from the same base configuration. For a
seed, every controller sees the same data and the same initial host (both come from
``run.seed``). A controller is named as ``esper eval --controllers`` takes it:

* ``static``: the host kept as it is;
* a policy plugin's name or id (``heuristic``, ``gradient``, ``esper.policies.lstm:lstm``);
* a path to a ``policy.pt`` that ``esper train`` wrote, acting greedily;
* ``larger-static`` is added by the evaluation itself, not named: per seed, the final
  architecture of the grown arm of one controller (the *reference*), trained from scratch with
  no growth for the training FLOPs that arm spent (`esper.growth.model.MorphogeneticModel.install`).

Cells are cached by a fingerprint of everything that decides their result (the resolved
configuration, the checkpoint's bytes, the reference's result), so rerunning a command
recomputes only what is missing or changed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from esper.bounds import MAX_EPOCHS
from esper.errors import EsperError

STATIC = "static"
LARGER_STATIC = "larger-static"
#: Evaluation seeds start here: `esper train` draws ``run.seed + k * 1009`` (42, 1051, ...),
#: which stays below this for the first 890 episodes of a default training run.
EVAL_SEED_BASE = 900_000
#: The larger-static arm may train up to this many times the configured epochs to spend
#: its reference's FLOPs (a smaller model needs more epochs for the same compute).
LARGER_STATIC_EPOCH_FACTOR = 4


@attrs.frozen(kw_only=True)
class Controller:
    """One controller of an evaluation, as named on the command line."""

    label: str
    #: ``static``, ``policy``, ``checkpoint`` or ``larger-static``.
    kind: str
    #: The policy plugin (``policy``) or the checkpoint's path (``checkpoint``).
    target: str = ""
    #: The checkpoint's SHA-256 (``checkpoint``): a retrained policy invalidates its cells.
    digest: str = ""

    @property
    def file_stem(self) -> str:
        """The name of this controller's cell directory."""
        return file_stem(self.label)


def file_stem(label: str) -> str:
    """The cell directory of the controller labelled ``label``: a safe file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "controller"


def parse_controllers(names: Sequence[str]) -> list[Controller]:
    """Controllers named by ``--controllers`` (comma-separated, each once)."""
    out: list[Controller] = []
    for name in (n.strip() for n in names):
        if not name:
            continue
        if name == LARGER_STATIC:
            raise EsperError(
                "--controllers: larger-static is added by the evaluation (see --larger-static), "
                "not named"
            )
        if name == STATIC:
            out.append(Controller(label=name, kind=STATIC))
        elif name.endswith(".pt") or Path(name).is_file():
            path = Path(name)
            if not path.is_file():
                raise EsperError(f"--controllers: {name}: no such policy checkpoint")
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            out.append(Controller(label=name, kind="checkpoint", target=name, digest=digest))
        else:
            out.append(Controller(label=name, kind="policy", target=name))
    labels = [c.label for c in out]
    if not out:
        raise EsperError("--controllers: name at least one controller (e.g. static,heuristic)")
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise EsperError(f"--controllers: {', '.join(twice)} named more than once")
    return out


def seed_list(count: int, first: int | None) -> list[int]:
    """``count`` evaluation seeds from ``first`` (default `EVAL_SEED_BASE`)."""
    if count < 1:
        raise EsperError(f"--seeds must be at least 1, got {count}")
    start = EVAL_SEED_BASE if first is None else first
    return list(range(start, start + count))


def controller_raw(base: dict[str, Any], controller: Controller, seed: int) -> dict[str, Any]:
    """The raw configuration of one cell: the base with this controller and seed.

    The base's ``[policy]`` options apply to the controller they name (``policy.name``)."""
    raw = copy.deepcopy(base)
    run = raw.setdefault("run", {})
    run.update({"seed": seed, "static_baseline": False})
    section = raw.get("policy")
    given: dict[str, Any] = section if isinstance(section, dict) else {}
    if controller.kind in (STATIC, LARGER_STATIC):
        raw["policy"] = {"name": STATIC}
    elif controller.kind == "policy":
        name = controller.target
        same = given.get("name") in (None, name) or str(given.get("name")).split(":")[-1] == name
        options = {k: v for k, v in given.items() if k != "name"} if same else {}
        raw["policy"] = {"name": name, **options}
    else:
        from esper.recipes.policy_checkpoint import use_policy_checkpoint

        raw["policy"] = {k: v for k, v in given.items() if k != "name"}
        use_policy_checkpoint(raw, Path(controller.target))
    if controller.kind == LARGER_STATIC:
        run["epochs"] = min(int(run.get("epochs", 40)) * LARGER_STATIC_EPOCH_FACTOR, MAX_EPOCHS)
    return raw


def fingerprint(*parts: object) -> str:
    """A short, stable digest of plain data (JSON with sorted keys)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cell_path(eval_dir: Path, label: str, seed: int) -> Path:
    """Where the cell of controller ``label`` on ``seed`` is cached."""
    return eval_dir / "cells" / file_stem(label) / f"seed-{seed}.json"
