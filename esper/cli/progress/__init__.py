"""Progress output of ``esper run`` and ``esper train``.

Three modes, chosen once when the progress object is made:

- **quiet** (``--quiet``): nothing; the command prints only its final table or line;
- **lines** (stderr is not a terminal: a log file, CI, a pipe): one plain line per epoch for
  ``esper run`` and one per update for ``esper train``, on stderr (`lines`);
- **live** (stderr is a terminal): a rich Live display on stderr, redrawn in place: epoch (and
  update and environment for ``esper train``), loss, accuracy or perplexity, each slot's stage,
  the last action, elapsed time and an ETA (`live`, `table`). ``esper train`` also prints each
  update's line above it.

`RunProgress` (`run`) and `TrainProgress` (`train`) are what the commands use; `rows` holds
what they read from an epoch's result. Nothing here imports torch.
"""

from esper.cli.progress.formatting import format_clock, perplexity
from esper.cli.progress.rows import Row, SlotState, slot_states
from esper.cli.progress.run import RunProgress
from esper.cli.progress.table import STAGE_STYLES
from esper.cli.progress.train import TrainProgress

__all__ = [
    "STAGE_STYLES",
    "Row",
    "RunProgress",
    "SlotState",
    "TrainProgress",
    "format_clock",
    "perplexity",
    "slot_states",
]
