"""The plain-JSON form of a seed's lifecycle record (`SeedState.to_dict` / `from_dict`).

`FIELD_KINDS` names the serialised kind of every persisted field, keyed by its init name (the
table is checked against the class where `SeedState` is defined); `encode_record` writes a
record's field values with the ``schema`` version, and `parse_record` checks a stored form and
parses it back into constructor arguments, naming the problem in a `LifecycleError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from esper.lifecycle.alpha import AlphaController, AlphaControllerError
from esper.lifecycle.errors import LifecycleError
from esper.lifecycle.measurements import finite
from esper.lifecycle.stages import Stage

#: Version of the `SeedState.to_dict` layout; `from_dict` refuses any other.
STATE_SCHEMA_VERSION = 1

# Serialised kind of every persisted field, keyed by its init name.
FIELD_KINDS: dict[str, str] = {
    "seed_id": "str",
    "slot_id": "str",
    "blueprint_id": "str",
    "stage": "stage",
    "previous_stage": "stage",
    "previous_epochs_in_stage": "count",
    "epochs_in_stage": "count",
    "epochs_total": "count",
    "epochs_by_stage": "stage_counts",
    "accuracy_at_start": "opt_float",
    "accuracy_at_stage_start": "opt_float",
    "accuracy_at_blend_start": "opt_float",
    "current_accuracy": "opt_float",
    "best_accuracy": "opt_float",
    "contribution": "opt_float",
    "previous_contribution": "opt_float",
    "contribution_measured_at": "opt_count",
    "gradient_norm": "opt_float",
    "gradient_health": "opt_float",
    "previous_gradient_health": "opt_float",
    "has_vanishing": "opt_bool",
    "has_exploding": "opt_bool",
    "gradient_ratio": "opt_float",
    "seed_params": "opt_count",
    "embargo_ticks": "count",
    "reset_ticks": "count",
    "prune_reason": "opt_str",
    "prune_initiator": "opt_str",
    "auto_pruned": "bool",
    "alpha_controller": "alpha",
}


def encode_record(values: Mapping[str, Any]) -> dict[str, Any]:
    """The stored form of a record whose field values, keyed like `FIELD_KINDS`, are ``values``."""
    data: dict[str, Any] = {"schema": STATE_SCHEMA_VERSION}
    for key, kind in FIELD_KINDS.items():
        value = values[key]
        if kind == "stage":
            value = value.name
        elif kind == "stage_counts":
            value = {stage.name: count for stage, count in sorted(value.items())}
        elif kind == "alpha":
            value = value.to_dict()
        data[key] = value
    return data


def parse_record(data: object) -> dict[str, Any]:
    """Constructor arguments of the record stored as ``data``.

    Raises `LifecycleError` naming the problem for another schema version, missing or unknown
    keys, a value of the wrong type, or a retired stage value.
    """
    if not isinstance(data, dict):
        raise LifecycleError(f"seed state must be a dict, got {type(data).__name__}")
    schema = data.get("schema")
    if schema != STATE_SCHEMA_VERSION:
        raise LifecycleError(
            f"seed state schema version {schema!r} is not supported "
            f"(expected {STATE_SCHEMA_VERSION})"
        )
    missing = sorted(key for key in FIELD_KINDS if key not in data)
    unknown = sorted(str(key) for key in data if key != "schema" and key not in FIELD_KINDS)
    if missing or unknown:
        raise LifecycleError(
            "seed state record is malformed: "
            + "; ".join(
                part
                for part in (
                    f"missing keys {missing}" if missing else "",
                    f"unknown keys {unknown}" if unknown else "",
                )
                if part
            )
        )
    kwargs: dict[str, Any] = {}
    for key, kind in FIELD_KINDS.items():
        try:
            kwargs[key] = _parse(kind, data[key])
        except (LifecycleError, AlphaControllerError, ValueError) as exc:
            raise LifecycleError(f"seed state field {key!r}: {exc}") from exc
    return kwargs


def _parse(kind: str, value: object) -> Any:
    if kind == "stage":
        return Stage.parse(value)
    if kind == "alpha":
        return AlphaController.from_dict(value)
    if kind == "stage_counts":
        if not isinstance(value, dict):
            raise ValueError(f"expected a mapping of stage name to count, got {value!r}")
        return {Stage.parse(name): _parse("count", count) for name, count in value.items()}
    if value is None and kind.startswith("opt_"):
        return None
    base = kind.removeprefix("opt_")
    if base == "str" and isinstance(value, str):
        return value
    if base == "bool" and isinstance(value, bool):
        return value
    if base == "count" and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if base == "float" and isinstance(value, int | float) and not isinstance(value, bool):
        return finite(value, "value")
    raise ValueError(f"expected {kind.replace('opt_', 'optional ')}, got {value!r}")
