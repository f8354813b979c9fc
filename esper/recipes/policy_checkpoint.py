"""A controller trained by ``esper train``, selected from its ``policy.pt``.

``esper run --policy-checkpoint`` and ``esper eval --controllers path/to/policy.pt`` both turn
the checkpoint into a ``[policy]`` section: the checkpoint's controller with its sizes and
weights, acting greedily; options the config sets explicitly win.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from esper.errors import EsperError
from esper.rundir.checkpoint import load_checkpoint


def use_policy_checkpoint(raw: dict[str, Any], path: Path) -> None:
    """Select the checkpoint's controller in ``raw``; ``--set policy.*`` options win."""
    state = load_checkpoint(path)
    if not isinstance(state, dict) or "network" not in state or "policy_id" not in state:
        raise EsperError(f"{path}: not a policy checkpoint written by `esper train`")
    section_given = raw.get("policy")
    given: dict[str, Any] = section_given if isinstance(section_given, dict) else {}
    if "name" in given and given["name"] not in (
        state["policy_id"],
        state["policy_id"].split(":")[-1],
    ):
        raise EsperError(
            f"{path} holds a {state['policy_id']!r} controller, but the config selects "
            f"policy {given['name']!r}"
        )
    section: dict[str, Any] = dict(state.get("policy_config") or {})
    section.update({"name": state["policy_id"], "deterministic": True, "weights": str(path)})
    section.update({k: v for k, v in given.items() if k != "name"})
    raw["policy"] = section
