"""The cattrs converter that structures config tables into their attrs classes, strictly.

cattrs on its own coerces (``int("7")``, ``int(3.9)``, a string into a tuple of characters);
a config value of the wrong type is an error here instead, raised as `StrictTypeError` so that
`esper.config.problems` keeps its message as it is.
"""

from __future__ import annotations

from typing import Any

import cattrs

converter = cattrs.Converter(forbid_extra_keys=True)


class StrictTypeError(TypeError):
    """A config value of the wrong type (the message says what was expected and what came)."""


def _strict(expected: type, accept: tuple[type, ...]) -> Any:
    # cattrs would run int("7") or int(3.9); a config value of the wrong type is an error.
    def hook(value: Any, _type: Any) -> Any:
        if isinstance(value, bool) and expected is not bool:
            raise StrictTypeError(f"expected {expected.__name__}, got a boolean ({value!r})")
        if not isinstance(value, accept):
            raise StrictTypeError(
                f"expected {expected.__name__}, got {type(value).__name__} ({value!r})"
            )
        return expected(value)

    return hook


converter.register_structure_hook(int, _strict(int, (int,)))
converter.register_structure_hook(float, _strict(float, (int, float)))
converter.register_structure_hook(str, _strict(str, (str,)))
converter.register_structure_hook(bool, _strict(bool, (bool,)))

_structure_tuple = converter.get_structure_hook(tuple[str, ...])


def _string_tuple(value: Any, type_: Any) -> Any:
    # A string (or a table) is iterable too: `slots = "r0c0"` would become ("r", "0", ...).
    if not isinstance(value, list | tuple):
        raise StrictTypeError(f"expected a list of strings, got {type(value).__name__} ({value!r})")
    return _structure_tuple(value, type_)


converter.register_structure_hook_func(lambda t: t == tuple[str, ...], _string_tuple)
