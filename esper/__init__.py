"""esper: morphogenetic neural networks for PyTorch.

The core package never imports torch at module import time, so that the CLI starts fast
and plugin discovery stays cheap; the modules that need torch import it themselves.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("esper")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
