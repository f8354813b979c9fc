"""What plugins implement and exchange: plain data and abstract classes.

Tasks (`task`), controllers (`policy`, `trainable`), rewards (`reward`), governors
(`governor`), agents (`agent`), runners (`runner`), the actions a controller takes
(`actions`) and the signals it sees (`signals`). These modules never import the engine or the
growing model at run time (their annotations name them for type checkers only), so a reward or a
heuristic policy stays plain Python. The import-linter contracts in ``pyproject.toml`` hold
this; plugin authors import everything from `esper.plugin`.
"""
