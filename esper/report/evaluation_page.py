"""The report page of an evaluation directory: its two tables, its charts and ``plan.json``.

The tables say what ``esper eval`` prints (`esper.cli.cmd_eval.print_tables`), with the same
figures written the same way: ``mean [low, high]`` of the 95% interval over seeds, ``(1 seed)``
where one seed gives no interval, and ``+`` / ``-`` after a paired difference whose interval
excludes zero in a's favour / against it. As on a run's page, every string from the directory
goes through `esc`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from esper.report.eval_records import Comparison, ControllerRow, Estimate, EvalData, PairedPart
from esper.report.html import CSS, RenderedChart, chart_html, esc

#: Shown for a figure eval.json does not have (or has as null).
_NONE = "\u2013"
_EVAL_CSS = """
td.better { color: #1a7f1a; font-weight: 600; }
td.worse { color: #b42318; font-weight: 600; }
.tag { color: #666; font-size: 0.8rem; }
"""


def number(value: float | None, digits: int = 2) -> str:
    """A figure with ``digits`` decimals, or a dash when it is missing or not finite."""
    return _NONE if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def interval(est: Estimate | None, digits: int = 2) -> str:
    """``mean [low, high]``, or ``mean (1 seed)`` when the interval has no ends."""
    if est is None:
        return _NONE
    if not est.bounded:
        return f"{number(est.mean, digits)} (1 seed)"
    return f"{number(est.mean, digits)} [{number(est.low, digits)}, {number(est.high, digits)}]"


def _mean(est: Estimate | None, spec: str) -> str:
    if est is None or est.mean is None or not math.isfinite(est.mean):
        return _NONE
    return format(est.mean, spec)


def _num(text: str, extra: str = "") -> str:
    return f'<td class="num{extra}">{esc(text)}</td>'


def _tags(ev: EvalData, label: str) -> str:
    """What the controller is to the evaluation, beside its name."""
    tags = [
        tag
        for tag, on in (
            ("baseline", label == ev.baseline),
            ("sizes larger-static", label == ev.reference),
        )
        if on
    ]
    return f' <span class="tag">({esc(", ".join(tags))})</span>' if tags else ""


def _controller_row(ev: EvalData, row: ControllerRow) -> str:
    n = row.final.n
    return (
        f"<tr><td>{esc(row.label)}{_tags(ev, row.label)}</td>{_num(str(n))}"
        f"{_num(interval(row.final))}{_num(interval(row.best))}{_num(number(row.final.std))}"
        f"{_num(_mean(row.params, ',.0f'))}{_num(_mean(row.flops_train, '.3e'))}"
        f"{_num(_mean(row.epochs, '.1f'))}{_num(_mean(row.seeds_fossilized, '.1f'))}"
        f"{_num(_mean(row.wall_time_s, '.1f'))}</tr>"
    )


def controllers_table(ev: EvalData) -> str:
    """One row per controller: mean [95% CI] of the final and best metric, and the means of
    the rest."""
    metric = ev.metric_label
    columns = (
        "controller",
        "seeds",
        f"final {metric}",
        f"best {metric}",
        "std final",
        "params",
        "train FLOPs",
        "epochs",
        "seeds fossilized",
        "wall s",
    )
    head = "<tr>" + "".join(f"<th>{esc(c)}</th>" for c in columns) + "</tr>"
    rows = "".join(_controller_row(ev, row) for row in ev.controllers.values())
    return f"<table>{head}{rows}</table>"


def _paired_cells(part: PairedPart | None, *, wins: bool) -> str:
    """The difference (with its mark), p and, ``wins``, wins/losses of one figure."""
    if part is None:
        return _num(_NONE) * (3 if wins else 2)
    mark, cls = (
        (" +", " better") if part.a_better else (" -", " worse") if part.a_worse else ("", "")
    )
    cells = _num(interval(part.difference) + mark, cls) + _num(number(part.p_value, 3))
    if wins:
        cells += _num(f"{part.wins}/{part.losses}")
    return cells


def _comparison_row(comp: Comparison) -> str:
    return (
        f"<tr><td>{esc(comp.a)} \u2212 {esc(comp.b)}</td>{_num(str(comp.seeds))}"
        f"{_paired_cells(comp.final, wins=True)}{_paired_cells(comp.best, wins=False)}</tr>"
    )


def comparisons_table(ev: EvalData) -> str:
    """One row per paired comparison ``a - b``: final and best difference, p, wins/losses."""
    if not ev.comparisons:
        return (
            '<p class="empty">No comparison: it takes static (or a baseline) and another '
            "controller.</p>"
        )
    columns = ("a \u2212 b", "seeds", "final", "p", "W/L", "best", "p")
    head = "<tr>" + "".join(f"<th>{esc(c)}</th>" for c in columns) + "</tr>"
    rows = "".join(_comparison_row(c) for c in ev.comparisons)
    return (
        f"<table>{head}{rows}</table>"
        '<p class="meta">Mean [95% CI] of a \u2212 b over the seeds both ran; p of the paired '
        "t test; W/L: seeds where a \u2212 b is positive / negative. + / -: a is better / worse "
        "than b with a 95% interval that excludes zero.</p>"
    )


def _meta(ev: EvalData) -> str:
    better = "higher" if ev.higher_is_better else "lower"
    parts = [
        "esper eval",
        f"task {ev.task}" if ev.task else None,
        f"{len(ev.seeds)} seeds" if ev.seeds else None,
        f"{ev.epochs} epochs" if ev.epochs is not None else None,
        f"{ev.metric_label}, {better} is better",
        f"baseline {ev.baseline}" if ev.baseline else None,
        f"larger-static sized by {ev.reference}" if ev.reference else None,
    ]
    return " \u00b7 ".join(esc(p) for p in parts if p)


def _missing(ev: EvalData) -> str:
    if not ev.missing_cells:
        return ""
    names = ", ".join(str(p.relative_to(ev.path)) for p in ev.missing_cells)
    return (
        f'<p class="empty">{len(ev.missing_cells)} cell file(s) of eval.json are not in '
        f"cells/, so their curves are not drawn: {esc(names)}. The tables and the other "
        "charts come from eval.json.</p>"
    )


def render_eval_page(
    ev: EvalData, charts: Sequence[RenderedChart], *, generated: str, version: str
) -> str:
    """The whole page of an evaluation directory."""
    plan = (
        f"<details><summary>plan.json</summary><pre>{esc(ev.plan_text)}</pre></details>"
        if ev.plan_text
        else ""
    )
    toc = (
        '<li><a href="#controllers">Controllers</a></li>'
        '<li><a href="#differences">Paired differences</a></li>'
        '<li><a href="#charts">Charts</a></li>'
    )
    figures = "".join(chart_html(c, ev.name) for c in charts)
    body = (
        f'<section id="evaluation"><h2>Evaluation {esc(ev.name)}</h2>'
        f'<p class="meta">{_meta(ev)}<br>{esc(ev.path)}</p>{_missing(ev)}'
        '<h3 id="controllers">Controllers (mean [95% CI] over seeds)</h3>'
        f"{controllers_table(ev)}"
        '<h3 id="differences">Paired differences</h3>'
        f'{comparisons_table(ev)}<div id="charts">{figures}</div>{plan}</section>'
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>esper report: evaluation {esc(ev.name)}</title>"
        f"<style>{CSS}{_EVAL_CSS}</style></head><body>"
        "<h1>esper report</h1>"
        f'<p class="meta">esper {esc(version)} \u00b7 generated {esc(generated)}</p>'
        f"<ul>{toc}</ul>{body}</body></html>\n"
    )
