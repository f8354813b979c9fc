"""``esper report``: a self-contained HTML report with charts of one or more run directories.

`esper.report.data` reads run directories (no torch, no matplotlib); `esper.report.charts`
draws with matplotlib's Agg backend; `esper.report.html` writes the page.
"""
