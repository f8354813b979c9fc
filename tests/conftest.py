"""Test-suite set-up: never autoload third-party plugins that happen to be installed."""

from __future__ import annotations

import os

os.environ["ESPER_DISABLE_PLUGIN_AUTOLOAD"] = "1"
os.environ.pop("ESPER_PLUGINS", None)
os.environ.pop("ESPER_STRICT_PLUGINS", None)
