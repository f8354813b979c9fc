"""``esper watch``: a terminal dashboard that follows run directories from their event logs.

Three layers, the lower ones without textual so that they are tested (and ``--once`` runs)
without it:

- `esper.watch.tail`, `esper.watch.locate`, `esper.watch.source`: which run directories, and
  reading each ``events.jsonl`` incrementally, read-only, by byte offset;
- `esper.watch.model`: the fold of events into what the screens show (`RunState`);
- `esper.watch.views`: Rich renderables of each panel (charts, swimlanes, tables);
- `esper.watch.tui`: the Textual app, imported only when the dashboard starts.
"""
