"""The report page: one HTML file that links its charts by relative path.

Every string that comes from a run directory (its name, ``summary.json``, ``config.toml``,
event fields) goes through `esc` before it enters the page, in text, attribute values and
table cells alike. The page has inline CSS only and no external URLs, so the report directory
is complete on its own.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import attrs

from esper.report.records import RunData


def esc(value: object) -> str:
    """``value`` as text, escaped for HTML text and quoted attribute values."""
    return html.escape(str(value), quote=True)


@attrs.frozen(kw_only=True)
class RenderedChart:
    """A chart as the page shows it: file paths relative to the page, or the empty note."""

    title: str
    caption: str
    png: str | None
    svg: str | None
    empty: str = ""


@attrs.frozen(kw_only=True)
class RunSection:
    """One run's part of the page."""

    index: int
    run: RunData
    charts: list[RenderedChart]

    @property
    def anchor(self) -> str:
        return f"run{self.index}"


CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 64rem; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2rem; margin-top: 2.5rem;
     overflow-wrap: anywhere; }
h3 { font-size: 1.05rem; margin-bottom: 0.3rem; }
.meta { color: #666; font-size: 0.9rem; }
table { border-collapse: collapse; margin: 0.6rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left;
         overflow-wrap: anywhere; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f4f4f4; }
figure { margin: 0 0 1.5rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.9rem; }
.empty { color: #888; font-style: italic; }
pre { background: #f7f7f7; padding: 0.8rem; overflow-x: auto; font-size: 0.8rem; }
"""


def _fmt(value: Any, spec: str = "") -> str:
    """A summary value as (escaped) table text; ``spec`` formats a finite float or an int."""
    if value is None:
        return "\u2013"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return format(value, spec) if spec else f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return esc(value)
        if spec:
            return format(value, spec)
        return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.4g}"
    return esc(value)


def _cell(value: Any, spec: str = "") -> str:
    is_num = isinstance(value, int | float) and not isinstance(value, bool)
    return f'<td class="num">{_fmt(value, spec)}</td>' if is_num else f"<td>{_fmt(value)}</td>"


def _key_values(pairs: Sequence[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{esc(k)}</th>{_cell(v)}</tr>" for k, v in pairs)
    return f"<table>{rows}</table>"


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


#: Rows of an esper run's arm table: label, path into the arm's summary entry, float format.
_ARM_ROWS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("val accuracy (%)", ("val_accuracy",), ".2f"),
    ("best val accuracy (%)", ("best_val_accuracy",), ".2f"),
    ("val loss", ("val_loss",), ".4f"),
    ("val perplexity", ("val_perplexity",), ".2f"),
    ("parameters", ("params", "total"), ""),
    ("host parameters", ("params", "host"), ""),
    ("live seed parameters", ("params", "active_seeds"), ""),
    ("fossilized parameters", ("params", "fossilized"), ""),
    ("growth ratio", ("growth_ratio",), ".3f"),
    ("training FLOPs", ("flops", "train"), ".3e"),
    ("evaluation FLOPs", ("flops", "evaluate"), ".3e"),
    ("controller FLOPs", ("flops", "control"), ".3e"),
    ("seeds germinated", ("seeds", "germinated"), ""),
    ("seeds fossilized", ("seeds", "fossilized"), ""),
    ("seeds pruned", ("seeds", "pruned"), ""),
    ("governor rollbacks", ("rollbacks",), ""),
)

#: Arm names as column headings ("train" is the last update of an esper train run).
_ARM_LABELS = {"train": "esper train, last update"}


def _arm_order(arms: Sequence[str]) -> list[str]:
    known = ("static", "grown", "train")
    return sorted(arms, key=lambda a: known.index(a) if a in known else len(known))


def _arm_table(run: RunData, summary: dict[str, Any]) -> str:
    arms = _arm_order([k for k, v in summary.items() if isinstance(v, dict)])
    if not arms:
        return ""
    head = "<tr><th></th>" + "".join(f"<th>{esc(a)}</th>" for a in arms) + "</tr>"
    rows = []
    for label, path, spec in _ARM_ROWS:
        values = [_get(summary, arm, *path) for arm in arms]
        if all(v is None for v in values):
            continue
        rows.append(f"<tr><th>{esc(label)}</th>{''.join(_cell(v, spec) for v in values)}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _train_table(run: RunData) -> str:
    if not run.updates:
        return ""
    last = run.updates[-1]
    finite = [u.mean_accuracy for u in run.updates if math.isfinite(u.mean_accuracy)]
    pairs: list[tuple[str, Any, str]] = [
        ("last update", last.update + 1, ""),
        ("mean episode reward (last update)", last.mean_reward, ".4g"),
        ("mean final accuracy (last update, %)", last.mean_accuracy, ".2f"),
        ("best mean final accuracy (%)", max(finite) if finite else None, ".2f"),
        ("episodes with a governor rollback", sum(u.rollbacks for u in run.updates), ""),
    ]
    pairs += _diagnostics(run)
    rows = "".join(f"<tr><th>{esc(k)}</th>{_cell(v, spec)}</tr>" for k, v, spec in pairs)
    return f"<table>{rows}</table>"


def _share(run: RunData, key: str) -> float | None:
    flags = [u.metrics[key] for u in run.updates if key in u.metrics]
    return 100.0 * sum(f > 0 for f in flags) / len(flags) if flags else None


def _diagnostics(run: RunData) -> list[tuple[str, Any, str]]:
    """Why a controller learns or does not: the critic, the KL stop, the curriculum and the
    warm start, where the run recorded them."""
    last = run.updates[-1].metrics
    summary = run.summary or {}
    rates = summary.get("decisions_per_hour") or {}
    imitation = summary.get("imitation") or {}
    heldout = imitation.get("agreement_heldout")
    rows: list[tuple[str, Any, str]] = [
        ("explained variance, last update: before / after", _pair(last), ""),
        ("updates stopped early by the KL check (%)", _share(run, "early_stopped"), ".0f"),
        ("cheap updates", summary.get("cheap_updates"), ""),
        ("decisions per hour: cheap / full episodes", _rates(rates), ""),
        ("imitation teacher", imitation.get("teacher"), ""),
        (
            "agreement with the teacher, held out (%)",
            None if heldout is None else 100 * heldout,
            ".1f",
        ),
    ]
    return [row for row in rows if row[1] is not None]


def _pair(metrics: dict[str, float]) -> str | None:
    before, after = metrics.get("explained_variance"), metrics.get("explained_variance_after")
    if before is None:
        return None
    return f"{before:+.3f} / {after:+.3f}" if after is not None else f"{before:+.3f} / -"


def _rates(rates: dict[str, Any]) -> str | None:
    if not any(v is not None for v in rates.values()):
        return None
    return " / ".join(
        "-" if rates.get(k) is None else f"{rates[k]:,.0f}" for k in ("cheap", "full")
    )


def _rollbacks(run: RunData) -> str:
    if not run.rollbacks:
        return ""
    head = (
        "<tr><th>epoch</th><th>arm</th><th>reason</th><th>val loss</th><th>seeds pruned</th></tr>"
    )
    rows = "".join(
        f"<tr>{_cell(r.epoch)}<td>{_fmt(r.arm)}</td><td>{esc(r.reason)}</td>"
        f"{_cell(r.val_loss, '.4f')}<td>{esc(', '.join(r.seeds_pruned))}</td></tr>"
        for r in run.rollbacks
    )
    return f"<h3>Governor rollbacks</h3><table>{head}{rows}</table>"


def _summary(run: RunData) -> str:
    parts: list[str] = []
    if run.summary is None:
        status = f" (status: {run.status})" if run.status else ""
        parts.append(
            f'<p class="empty">No summary.json: the run did not finish{esc(status)}. '
            "The charts show what events.jsonl recorded.</p>"
        )
    else:
        scalars = [
            (k, v)
            for k, v in run.summary.items()
            if not isinstance(v, dict | list) and k != "command"
        ]
        parts.append(_key_values(scalars))
        if run.kind == "run":
            parts.append(_arm_table(run, run.summary))
    if run.kind == "run":
        parts.append(_rollbacks(run))
    if run.kind == "train":
        parts.append(_train_table(run))
    return "".join(parts)


def chart_html(chart: RenderedChart, run_name: str) -> str:
    """A chart's heading, image, caption and SVG link (or its empty note); ``run_name`` is in
    the image's alt text."""
    title = f"<h3>{esc(chart.title)}</h3>"
    if chart.png is None:
        return f'{title}<p class="empty">{esc(chart.empty)}</p>'
    alt = esc(f"{chart.title} \u2013 {run_name}")
    svg = f' (<a href="{esc(chart.svg)}">SVG</a>)' if chart.svg else ""
    return (
        f'{title}<figure><img src="{esc(chart.png)}" alt="{alt}">'
        f"<figcaption>{esc(chart.caption)}{svg}</figcaption></figure>"
    )


def _command(run: RunData) -> str:
    return "esper train" if run.kind == "train" else "esper run"


def _section(section: RunSection) -> str:
    run = section.run
    task = _get(run.config, "task", "name")
    policy = _get(run.config, "policy", "name")
    meta = " \u00b7 ".join(
        esc(x)
        for x in (
            _command(run),
            f"task {task}" if task else None,
            f"policy {policy}" if policy else None,
            f"status {run.status}" if run.status else None,
        )
        if x
    )
    charts = "".join(chart_html(c, run.name) for c in section.charts)
    return (
        f'<section id="{section.anchor}"><h2>{section.index}. {esc(run.name)}</h2>'
        f'<p class="meta">{meta}<br>{esc(run.path)}</p>'
        f"{_summary(run)}{charts}"
        f"<details><summary>config.toml</summary><pre>{esc(run.config_text)}</pre></details>"
        "</section>"
    )


def _comparison(sections: Sequence[RunSection], chart: RenderedChart) -> str:
    finals = [s.run.final_accuracy() for s in sections]
    arms: list[str] = []
    for final in finals:
        arms += [a for a in final if a not in arms]
    arms = _arm_order(arms)
    head = (
        "<tr><th>run</th><th>command</th><th>task</th>"
        + "".join(f"<th>{esc(_ARM_LABELS.get(a, a))} (%)</th>" for a in arms)
        + "</tr>"
    )
    rows = []
    for s, final in zip(sections, finals, strict=True):
        cells = "".join(_cell(final.get(a), ".2f") for a in arms)
        rows.append(
            f'<tr><td><a href="#{s.anchor}">{s.index}. {esc(s.run.name)}</a></td>'
            f"<td>{esc(_command(s.run))}</td><td>{esc(_get(s.run.config, 'task', 'name') or '')}</td>"
            f"{cells}</tr>"
        )
    return (
        '<section id="compare"><h2>Comparison</h2>'
        f"<table>{head}{''.join(rows)}</table>{chart_html(chart, 'all runs')}</section>"
    )


def render_page(
    sections: Sequence[RunSection],
    comparison: RenderedChart | None,
    *,
    generated: str,
    version: str,
) -> str:
    """The whole page. ``comparison`` is drawn when there are several runs."""
    names = ", ".join(s.run.name for s in sections)
    toc = "".join(
        f'<li><a href="#{s.anchor}">{s.index}. {esc(s.run.name)}</a> ({esc(_command(s.run))})</li>'
        for s in sections
    )
    if comparison is not None:
        toc = '<li><a href="#compare">Comparison</a></li>' + toc
    body = "".join(_section(s) for s in sections)
    if comparison is not None:
        body = _comparison(sections, comparison) + body
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>esper report: {esc(names)}</title><style>{CSS}</style></head><body>"
        "<h1>esper report</h1>"
        f'<p class="meta">esper {esc(version)} \u00b7 generated {esc(generated)}</p>'
        f"<ul>{toc}</ul>{body}</body></html>\n"
    )
