"""The options of the ``wandb`` sink: the ``[telemetry.sinks.wandb]`` table."""

from __future__ import annotations

import attrs
from attrs import validators as v

#: How the run reaches W&B. ``offline`` writes everything under ``dir`` and never touches the
#: network (``wandb sync`` uploads it later); ``online`` streams to the server; ``disabled``
#: makes every call a no-op.
MODES = ("offline", "online", "disabled")
#: W&B refuses longer tags.
MAX_TAG_LENGTH = 64


def _blank_or_text(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value != value.strip():
        raise ValueError(f"'{attribute.name}' has leading or trailing spaces: {value!r}")


def _not_blank(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value.strip():
        raise ValueError(f"'{attribute.name}' must not be empty, got {value!r}")


def _as_tuple(value: object) -> object:
    # A TOML array arrives as a tuple (cattrs), a list from Python code; a string stays a
    # string, to be refused below rather than split into characters.
    return tuple(value) if isinstance(value, list) else value


def _tags(_instance: object, attribute: attrs.Attribute[tuple[str, ...]], value: object) -> None:
    if not isinstance(value, tuple) or not all(isinstance(tag, str) for tag in value):
        raise TypeError(f"'{attribute.name}' must be a list of strings, got {value!r}")
    for tag in value:
        if not tag.strip() or len(tag) > MAX_TAG_LENGTH:
            raise ValueError(
                f"'{attribute.name}' must each have 1 to {MAX_TAG_LENGTH} characters, got {tag!r}"
            )


@attrs.frozen(kw_only=True)
class WandbSinkConfig:
    """Options of the W&B sink.

    ``mode`` defaults to ``offline``: selecting the sink never needs an account, a login or a
    network, never sends anything anywhere by surprise, and a run never waits on a server.
    ``dir`` is where W&B puts its ``wandb/`` folder, relative to the run directory unless
    absolute (a relative path may not climb out of it). An empty ``entity`` is the account's
    default one, an empty ``name`` the run directory's name (the esper run id; the
    evaluation's name for ``esper eval``).
    """

    project: str = attrs.field(default="esper", validator=[v.instance_of(str), _not_blank])
    entity: str = attrs.field(default="", validator=[v.instance_of(str), _blank_or_text])
    mode: str = attrs.field(default="offline", validator=v.in_(MODES))
    dir: str = attrs.field(default=".", validator=[v.instance_of(str), _not_blank])
    name: str = attrs.field(default="", validator=[v.instance_of(str), _blank_or_text])
    group: str = attrs.field(default="", validator=[v.instance_of(str), _blank_or_text])
    tags: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple, validator=_tags)
