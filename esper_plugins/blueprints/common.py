"""Helpers shared by the built-in blueprint plugins. Imports nothing heavy (no torch).

`check_config` is the one place factories reject a config object of the wrong type.
"""

from __future__ import annotations


def check_config(blueprint: str, config: object, expected: type | None) -> None:
    """Raise TypeError unless ``config`` is None or an instance of ``expected``."""
    if config is None:
        return
    if expected is None:
        raise TypeError(f"blueprint {blueprint!r} takes no config, got {type(config).__name__}")
    if not isinstance(config, expected):
        raise TypeError(
            f"blueprint {blueprint!r} expects a {expected.__name__} config, "
            f"got {type(config).__name__}"
        )
