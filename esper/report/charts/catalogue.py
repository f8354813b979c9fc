"""Which charts the page shows, in which order, with their titles, captions and empty texts.

The drawing is in the chart modules; this module is the page's table of contents for one run
(`run_charts`), for several (`comparison_spec`) and for an evaluation directory
(`evaluation_charts`).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
from matplotlib.figure import Figure

from esper.report.charts.comparison import comparison_chart
from esper.report.charts.epochs import accuracy_chart, loss_chart, params_chart
from esper.report.charts.evaluation import differences_chart, flops_chart, seed_dots_chart
from esper.report.charts.seed_timeline import seed_timeline_chart
from esper.report.charts.updates import (
    action_mix_chart,
    advantage_spread_chart,
    entropy_chart,
    explained_variance_chart,
    kl_chart,
    reward_chart,
    train_accuracy_chart,
    value_scale_chart,
)
from esper.report.eval_records import EvalData
from esper.report.records import RunData

#: Shown for a chart of ``esper run`` when the event log has no epoch.
_NO_EPOCHS = "no engine.epoch events in events.jsonl"


@attrs.frozen(kw_only=True)
class ChartSpec:
    """One chart of the page: the figure (None when there is nothing to draw) and its text."""

    slug: str
    title: str
    caption: str
    figure: Figure | None
    #: Shown instead of the chart when ``figure`` is None.
    empty: str = "nothing to draw"


def run_charts(run: RunData) -> list[ChartSpec]:
    """The charts of one run directory, in page order."""
    return _train_charts(run) if run.kind == "train" else _growth_charts(run)


def _train_charts(run: RunData) -> list[ChartSpec]:
    return [
        ChartSpec(
            slug="reward",
            title="Mean episode reward",
            caption="Mean total reward of the episodes of each update.",
            figure=reward_chart(run),
            empty="no updates recorded",
        ),
        ChartSpec(
            slug="accuracy",
            title="Mean final accuracy",
            caption="Mean validation accuracy at the last epoch of the episodes of each "
            "update (episodes that did not finish are left out).",
            figure=train_accuracy_chart(run),
            empty="no updates recorded",
        ),
        ChartSpec(
            slug="actions",
            title="Action mix",
            caption="Share of each operation among all actions the policy took in the "
            "episodes of each update.",
            figure=action_mix_chart(run),
            empty="no action counts (summary.json is missing or has no history)",
        ),
        *_agent_charts(run),
    ]


def _agent_charts(run: RunData) -> list[ChartSpec]:
    """What the agent reported per update: why the controller learns, or does not."""
    return [
        ChartSpec(
            slug="entropy",
            title="Policy entropy per head",
            caption="Entropy of each action head's distribution over its valid choices, "
            "divided by its maximum (1: uniform, 0: certain), averaged over the update "
            "(entropy_<head> metrics of the agent).",
            figure=entropy_chart(run),
            empty="the agent reported no entropy_<head> metrics",
        ),
        ChartSpec(
            slug="kl",
            title="Approximate KL divergence",
            caption="Approximate KL divergence between the policy that collected the "
            "rollout and the updated policy (approx_kl).",
            figure=kl_chart(run),
            empty="the agent reported no approx_kl metric",
        ),
        ChartSpec(
            slug="explained-variance",
            title="Explained variance",
            caption="How much of the variance of the returns the value head explained "
            "(1 is perfect, 0 is no better than the mean): before the update, with the "
            "values recorded in the rollout, and after it, asked of the critic the update "
            "trained (explained_variance, explained_variance_after).",
            figure=explained_variance_chart(run),
            empty="the agent reported no explained_variance metric",
        ),
        ChartSpec(
            slug="value-scale",
            title="Value-target scale",
            caption="Standard deviation of the raw returns the critic learns from "
            "(return_std), and the value normaliser's scale (value_scale).",
            figure=value_scale_chart(run),
            empty="the agent reported no return_std metric",
        ),
        ChartSpec(
            slug="advantage-spread",
            title="Advantage spread per head",
            caption="Standard deviation of the raw advantages over the steps where each "
            "head mattered (adv_std_<head>): a head with no spread gets no signal, whatever "
            "its entropy.",
            figure=advantage_spread_chart(run),
            empty="the agent reported no adv_std_<head> metrics",
        ),
    ]


def _growth_charts(run: RunData) -> list[ChartSpec]:
    return [
        ChartSpec(
            slug="accuracy",
            title="Validation accuracy",
            caption="Validation accuracy after each epoch, static and grown arms; red "
            "triangles and dotted lines mark governor rollbacks.",
            figure=accuracy_chart(run),
            empty=_NO_EPOCHS,
        ),
        ChartSpec(
            slug="loss",
            title="Loss",
            caption="Validation loss (solid) and training loss (dashed) after each epoch.",
            figure=loss_chart(run),
            empty=_NO_EPOCHS,
        ),
        ChartSpec(
            slug="seeds",
            title="Seed timeline (grown arm)",
            caption="Each slot that held a seed: the seed's stage after each epoch as coloured "
            "bands, its alpha as a black line (bottom of the band 0, top 1), and marks where "
            "a seed was germinated (with its blueprint), fossilized or pruned.",
            figure=seed_timeline_chart(run),
            empty="no seed was germinated in the grown arm",
        ),
        ChartSpec(
            slug="params",
            title="Parameters",
            caption="Total parameters of each arm after each epoch: host, live seeds and "
            "fossilized seeds.",
            figure=params_chart(run),
            empty=_NO_EPOCHS,
        ),
    ]


def comparison_spec(runs: Sequence[RunData]) -> ChartSpec:
    """The chart of a report on several runs: their final accuracies side by side."""
    return ChartSpec(
        slug="accuracy",
        title="Final accuracy",
        caption="Final validation accuracy of each run: one bar per arm of esper run "
        "(static, grown) and, for esper train, the last update's mean final accuracy.",
        figure=comparison_chart(runs),
        empty="no run has a final accuracy",
    )


def evaluation_charts(ev: EvalData) -> list[ChartSpec]:
    """The charts of an evaluation directory, in page order."""
    final = f"final {ev.unit}"
    return [
        ChartSpec(
            slug="seeds",
            title="Final metric per seed",
            caption=f"The {final} of every seed (dots; grey lines join the same seed, which "
            "gives every controller the same data and initial host) and each controller's "
            "mean with its 95% confidence interval (diamond and bar).",
            figure=seed_dots_chart(ev),
            empty="eval.json has no final metric to draw",
        ),
        ChartSpec(
            slug="flops",
            title="Metric against training compute",
            caption=f"The {ev.unit} of every seed after each epoch against the training FLOPs "
            f"spent so far (thin lines, from the cells), and each controller's mean {final} "
            "at its mean training FLOPs, with 95% intervals on both axes.",
            figure=flops_chart(ev),
            empty="no cell curves and no training FLOPs in eval.json",
        ),
        ChartSpec(
            slug="differences",
            title="Paired differences",
            caption=f"The mean difference a \u2212 b of the {final} over the seeds both ran, "
            "with its 95% interval: green where a is better than b with an interval that "
            "excludes zero, red where it is worse, grey otherwise.",
            figure=differences_chart(ev),
            empty="no comparison (it takes static or a baseline and another controller)",
        ),
    ]
