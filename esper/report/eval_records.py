"""The typed records of an evaluation directory that the report is drawn from, and `EvalData`.

`esper.report.evaluation` fills them from ``eval.json`` and the cells; the page
(`esper.report.evaluation_page`) and the charts (`esper.report.charts.evaluation`) read them.
"""

from __future__ import annotations

from pathlib import Path

import attrs


@attrs.frozen(kw_only=True)
class Estimate:
    """A mean over seeds with its spread: None where eval.json has null (not finite)."""

    n: int
    mean: float | None
    std: float | None
    low: float | None
    high: float | None

    @property
    def bounded(self) -> bool:
        """The interval has both ends (one seed gives none)."""
        return self.low is not None and self.high is not None


@attrs.frozen(kw_only=True)
class SeedResult:
    """One controller on one seed, as ``eval.json``'s ``per_seed`` has it."""

    final: float
    best: float
    flops_train: float | None
    params: int | None


@attrs.frozen(kw_only=True)
class ControllerRow:
    """One controller over its seeds. Only ``final`` and ``best`` are required."""

    label: str
    seeds: list[int]
    final: Estimate
    best: Estimate
    params: Estimate | None
    flops_train: Estimate | None
    epochs: Estimate | None
    wall_time_s: Estimate | None
    seeds_fossilized: Estimate | None
    per_seed: dict[int, SeedResult]


@attrs.frozen(kw_only=True)
class PairedPart:
    """``a - b`` of one figure (final or best) over the seeds both ran."""

    difference: Estimate
    p_value: float | None
    wins: int
    losses: int
    ties: int
    #: a is better / worse than b with an interval that excludes zero.
    a_better: bool
    a_worse: bool


@attrs.frozen(kw_only=True)
class Comparison:
    a: str
    b: str
    seeds: int
    final: PairedPart
    best: PairedPart | None


@attrs.frozen(kw_only=True)
class CurvePoint:
    """One epoch of one cell: the metric and the training FLOPs spent so far."""

    epoch: int
    value: float
    flops_train: float


@attrs.frozen(kw_only=True)
class EvalData:
    """Everything the report shows about one evaluation directory."""

    path: Path
    name: str
    task: str
    epochs: int | None
    seeds: list[int]
    #: ``val_accuracy`` (percent, higher is better) or ``val_perplexity`` (lower is better).
    metric: str
    higher_is_better: bool
    baseline: str | None
    reference: str | None
    #: In eval.json's order, ``static`` first when it is there.
    controllers: dict[str, ControllerRow]
    comparisons: list[Comparison]
    #: Each controller's learning curves by seed, from the cells.
    curves: dict[str, dict[int, list[CurvePoint]]]
    #: Cells eval.json counts that are not in ``cells/`` (their curves are not drawn).
    missing_cells: list[Path]
    #: ``plan.json``'s text, shown as it is ("" when there is none).
    plan_text: str = ""

    @property
    def metric_label(self) -> str:
        """``accuracy`` or ``perplexity``, as `esper eval`'s tables name it."""
        return self.metric.removeprefix("val_")

    @property
    def unit(self) -> str:
        """The metric's axis label with its unit."""
        if self.metric == "val_accuracy":
            return "validation accuracy (%)"
        return f"validation {self.metric_label}"
