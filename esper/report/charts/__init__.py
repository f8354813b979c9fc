"""The report's charts: one function per chart, each taking a `RunData` and returning a
matplotlib `Figure`, or None when the run holds nothing to draw (usable from a notebook).

One module per family: `style` (sizes, colours, safe text, the blank figure), `epochs` and
`seed_timeline` (``esper run``), `updates` (``esper train``), `comparison` (several runs),
`evaluation` (an ``esper eval`` directory, whose charts take an `EvalData`),
`catalogue` (which charts the page shows, with their text) and `saving` (PNG and SVG files).
Importing this package imports matplotlib, which is why `esper.report.build` imports it only
when a report is written.
"""

from esper.report.charts.catalogue import (
    ChartSpec,
    comparison_spec,
    evaluation_charts,
    run_charts,
)
from esper.report.charts.comparison import comparison_chart
from esper.report.charts.epochs import accuracy_chart, loss_chart, params_chart
from esper.report.charts.evaluation import (
    controller_colors,
    differences_chart,
    flops_chart,
    seed_dots_chart,
)
from esper.report.charts.saving import save_figure
from esper.report.charts.seed_timeline import seed_timeline_chart
from esper.report.charts.style import ARM_COLORS, DPI, HEIGHT, WIDTH, arm_color, plain
from esper.report.charts.updates import (
    action_mix_chart,
    entropy_chart,
    explained_variance_chart,
    kl_chart,
    reward_chart,
    train_accuracy_chart,
)
from esper.report.palette import OP_COLORS, OP_ORDER, STAGE_COLORS

__all__ = [
    "ARM_COLORS",
    "DPI",
    "HEIGHT",
    "OP_COLORS",
    "OP_ORDER",
    "STAGE_COLORS",
    "WIDTH",
    "ChartSpec",
    "accuracy_chart",
    "action_mix_chart",
    "arm_color",
    "comparison_chart",
    "comparison_spec",
    "controller_colors",
    "differences_chart",
    "entropy_chart",
    "evaluation_charts",
    "explained_variance_chart",
    "flops_chart",
    "kl_chart",
    "loss_chart",
    "params_chart",
    "plain",
    "reward_chart",
    "run_charts",
    "save_figure",
    "seed_dots_chart",
    "seed_timeline_chart",
    "train_accuracy_chart",
]
