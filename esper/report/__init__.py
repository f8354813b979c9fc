"""``esper report``: a self-contained HTML report with charts of one or more run directories,
or of one evaluation directory of ``esper eval``.

`esper.report.data` reads run directories and `esper.report.evaluation` evaluation directories
(no torch, no matplotlib); `esper.report.charts` draws with matplotlib's Agg backend;
`esper.report.html` and `esper.report.evaluation_page` write the pages.
"""
