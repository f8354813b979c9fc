"""From a structuring error to the lines of a `esper.errors.ConfigError`, each led by its full
key path (``config.policy.lr: must be > 0``), one line per problem.

cattrs reports ``message @ path`` and, for attrs validators, only "invalid value"; the messages
here keep what the validator said is allowed and move the field's name into the key path.
"""

from __future__ import annotations

import re

import cattrs
from cattrs.v import format_exception

from esper.config.converter import StrictTypeError

#: The top of every key path in a config error.
ROOT = "config"

#: Brackets a field name that `_format` moved out of a message, for `problems_of` to take.
_FIELD_MARK = "\x00"

_FIELD_PATTERNS = (
    re.compile(r"^Length of '(\w+)' "),  # attrs' min_len / max_len
    re.compile(r"^[A-Z]\w*\.(\w+) must "),  # "GateConfig.min_training_epochs must ..."
    # "kernel_size must be odd ...", "min_samples (30) must be <= history_window (20)"
    re.compile(r"^([a-z_][a-z0-9_]*)(?: \([^)]*\))? must "),
)


def _format(exc: BaseException, type_: type | None) -> str:
    # attrs validators raise ValueError("'field' must be ...", ...): keep that message, which
    # says what is allowed (cattrs' default would only say "invalid value"), and move the
    # field name into the key path.
    if isinstance(exc, ValueError) and exc.args and isinstance(exc.args[0], str):
        match = re.match(r"^'(\w+)' (.+)$", exc.args[0], flags=re.S)
        if match:
            return f"{_FIELD_MARK}{match.group(1)}{_FIELD_MARK}{match.group(2)}"
        # Other validators name their field elsewhere ("Length of 'x' ...", "Cls.x must ...").
        field = _field_named(exc.args[0])
        if field is not None:
            return f"{_FIELD_MARK}{field}{_FIELD_MARK}{exc.args[0]}"
    if isinstance(exc, StrictTypeError):
        return str(exc)
    return format_exception(exc, type_)


def _field_named(message: str) -> str | None:
    """The field a validator's message names, when it says so in one of the usual ways."""
    for pattern in _FIELD_PATTERNS:
        match = pattern.match(message)
        if match:
            return match.group(1)
    return None


def problems_of(exc: Exception, path: str) -> list[str]:
    """The problems ``exc`` (raised structuring the table at ``path``) stands for."""
    if isinstance(exc, cattrs.BaseValidationError):
        out = []
        for line in cattrs.transform_error(exc, path=path, format_exception=_format):
            # cattrs writes "message @ path"; lead with the path, one line per unknown key.
            message, sep, where = line.rpartition(" @ ")
            extra = re.match(r"^extra fields found \((.*)\)$", message)
            field = re.match(f"^{_FIELD_MARK}(\\w+){_FIELD_MARK}(.*)$", message)
            if sep and field:
                out.append(f"{where}.{field.group(1)}: {field.group(2)}")
            elif sep and extra:
                out.extend(f"{where}.{key}: unknown key" for key in extra.group(1).split(", "))
            else:
                out.append(f"{where}: {message}" if sep else line)
        return out
    return [f"{path}: {exc}"]
