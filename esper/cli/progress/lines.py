"""The plain progress lines: what is printed when stderr is not a terminal (a log file, CI, a
pipe), one line per arm and epoch of ``esper run`` and one per update of ``esper train``."""

from __future__ import annotations

from typing import Any

from esper.cli.progress.formatting import perplexity


def run_line(arm: str, result: Any, env: Any) -> str:
    """The line of one arm's epoch; the grown arm's shows every slot and the action taken."""
    metric = (
        f"ppl {perplexity(result.val_loss):8.2f}"
        if env.info.kind == "language_model"
        else f"acc {result.val_accuracy:6.2f}%"
    )
    line = (
        f"[{arm:6}] epoch {result.epoch:3d}/{env.max_epochs}  loss {result.val_loss:7.4f}  {metric}"
    )
    if arm == "grown":
        slots = " ".join(
            f"{v.slot_id}:{v.stage.name.lower()}"
            + (f"({(v.blueprint or '').split(':')[-1]},a={v.alpha:.2f})" if v.blueprint else "")
            for v in result.signals.slots
        )
        op = result.action.op.name
        line += f"  {slots}" + (f"  -> {op} {result.action.slot or ''}" if op != "WAIT" else "")
        if result.rolled_back:
            line += "  [governor rollback]"
    return line


def update_line(record: dict[str, Any]) -> str:
    """The line of one update of ``esper train`` (its record as the training run reports it)."""
    m = record["metrics"]
    kind = "cheap episodes" if record.get("cheap") else "episodes"
    return (
        f"update {record['update'] + 1}: {record['episodes']} {kind}  "
        f"reward {record['mean_reward']:+8.3f}  acc {record['mean_accuracy']:6.2f}%  "
        f"fossilized {record['fossilized']}  rollbacks {record['rollbacks']}  "
        f"kl {m.get('approx_kl', float('nan')):.4f}  "
        f"ev {m.get('explained_variance', float('nan')):+.3f}  "
        f"{record['wall_time_s']:.1f} s"
    )
