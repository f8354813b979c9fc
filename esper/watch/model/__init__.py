"""The dashboard's model, without textual: each run's events folded into what the panels show.

`RunState` (in `esper.watch.model.state`) holds one of each: `Overview`, `Curves`, `Lanes`,
`DecisionLog`, `PpoHistory`, `EnvTable`, each in a module of its own.
"""

from esper.watch.model.state import RunState

__all__ = ["RunState"]
