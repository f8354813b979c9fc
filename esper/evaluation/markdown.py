"""``eval.md``: an evaluation's tables as Markdown, to paste into notes, papers or docs."""

from __future__ import annotations

import math
from typing import Any


def number(value: float | None, digits: int = 2) -> str:
    """``value`` to ``digits`` decimals; ``-`` when unknown."""
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def interval(est: dict[str, Any], digits: int = 2) -> str:
    """An estimate as ``mean [low, high]``, or ``mean (1 seed)`` without an interval."""
    low, high = est["ci95"]
    if low is None or high is None:
        return f"{number(est['mean'], digits)} (1 seed)"
    return f"{number(est['mean'], digits)} [{number(low, digits)}, {number(high, digits)}]"


def _verdict(part: dict[str, Any]) -> str:
    if part["a_better"]:
        return "**better**"
    if part["a_worse"]:
        return "worse"
    return "no difference shown"


def render_markdown(doc: dict[str, Any]) -> str:
    """The controllers table and the paired-differences table of ``eval.json``."""
    metric = doc["metric"].removeprefix("val_")
    # Perplexity differences between controllers live in the third decimal.
    d = 4 if doc["metric"] == "val_perplexity" else 2
    better = "higher" if doc["higher_is_better"] else "lower"
    lines = [
        f"Task `{doc['task']}`, {len(doc['seeds'])} seeds ({doc['seeds'][0]}-{doc['seeds'][-1]}), "
        f"{doc['epochs']} epochs; validation {metric} ({better} is better), mean [95 % CI] over "
        "seeds.",
        "",
        f"| controller | final {metric} | best {metric} | std (final) | epoch-to-epoch noise "
        "| params | training FLOPs | epochs | wall s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, row in doc["controllers"].items():
        lines.append(
            f"| {label} | {interval(row['final'], d)} | {interval(row['best'], d)} "
            f"| {number(row['final']['std'], d)} | {number(row['tail_noise']['mean'], d)} "
            f"| {row['params']['mean']:,.0f} | {row['flops_train']['mean']:.3e} "
            f"| {number(row['epochs']['mean'], 1)} | {number(row['wall_time_s']['mean'], 1)} |"
        )
    if doc["comparisons"]:
        lines += [
            "",
            f"| a - b (paired, same seeds) | final {metric} | p | wins/losses | verdict "
            f"| best {metric} | p |",
            "|---|---:|---:|---:|---|---:|---:|",
        ]
        for c in doc["comparisons"]:
            final, best = c["final"], c["best"]
            lines.append(
                f"| {c['a']} - {c['b']} | {interval(final['difference'], d)} "
                f"| {number(final['p_value'], 3)} | {final['wins']}/{final['losses']} "
                f"| {_verdict(final)} | {interval(best['difference'], d)} "
                f"| {number(best['p_value'], 3)} |"
            )
    return "\n".join(lines) + "\n"
