"""esper: morphogenetic neural networks for PyTorch.

The core package never imports torch at module import time, so that the CLI starts fast
and plugin discovery stays cheap; the modules that need torch import it themselves.

The distribution is called ``esper-nn`` (``pip install esper-nn``): the name ``esper`` on the
package index belongs to an unrelated library (an entity-component system) that also installs
an import package called ``esper``. `esper plugins doctor` reports it when both are installed
in one environment (docs/development.md, "The name").
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

#: The distribution name on the package index (the import package and the command are `esper`).
DISTRIBUTION = "esper-nn"

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

# Modules moved in 0.2 stay importable under their old names, with a warning (esper.compat).
from esper import compat as _compat  # noqa: E402

_compat.install()

__all__ = ["DISTRIBUTION", "__version__"]
