"""The saved form of a grown model (`MorphogeneticModel.grown_state`), written and read back.

A grown state holds the host's topology, each live seed's lifecycle record and blend settings,
every slot's germination count and the model's weights: only tensors and plain containers, so
it loads with ``torch.load(weights_only=True)``. `grown_state` writes it; `check_grown_state`,
`clear_records` and `restore_slot` read it back into the model's slot records
(`esper.growth.model.MorphogeneticModel.load_grown_state` rebuilds the seed modules).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from esper.errors import EsperError
from esper.growth.slots import SlotRecord
from esper.lifecycle import SeedState
from esper.lifecycle.alpha import parse_algorithm, parse_curve
from esper.telemetry import Event

#: Version of `MorphogeneticModel.grown_state`; loading another version raises.
GROWN_STATE_SCHEMA = 1


def _saved_slot(record: SlotRecord, state: SeedState) -> dict[str, Any]:
    return {
        "state": state.to_dict(),
        "algorithm": record.algorithm.name,
        "alpha_target": record.alpha_target,
        "tempo": record.tempo,
        "curve": record.curve.name,
        "steepness": record.steepness,
        "pending_prune": record.pending_prune,
        "seeds_germinated": record.seeds_germinated,
        "isolate": record.module.isolate if record.module is not None else None,
        "frozen": (
            record.module is not None
            and not any(p.requires_grad for p in record.module.parameters())
        ),
    }


def grown_state(
    topology: str, records: Mapping[str, SlotRecord], weights: Mapping[str, Any]
) -> dict[str, Any]:
    """The saved form of a model with this host ``topology``, slot ``records`` and ``weights``
    (its state dict)."""
    slots: dict[str, Any] = {}
    for sid, record in records.items():
        if record.state is None:
            continue
        slots[sid] = _saved_slot(record, record.state)
    return {
        "schema": GROWN_STATE_SCHEMA,
        "topology": topology,
        "slots": slots,
        # Every slot's count, also of slots whose last seed is gone: seed ids and the
        # run's germination figures continue from it after a resume.
        "germinated": {sid: r.seeds_germinated for sid, r in records.items()},
        "weights": weights,
    }


def check_grown_state(data: Mapping[str, Any], topology: str, enabled: Collection[str]) -> None:
    """Raise `EsperError` unless ``data`` is a grown state this model can load."""
    if data.get("schema") != GROWN_STATE_SCHEMA:
        raise EsperError(
            f"grown-model state has schema {data.get('schema')!r}, expected {GROWN_STATE_SCHEMA}"
        )
    if data.get("topology") != topology:
        raise EsperError(f"state is for a {data.get('topology')!r} host, this host is {topology!r}")
    unknown = set(data["slots"]) - set(enabled)
    if unknown:
        raise EsperError(
            f"state has seeds in slot(s) {sorted(unknown)} that this model does not enable"
        )


def clear_records(records: dict[str, SlotRecord], germinated: Mapping[str, int]) -> None:
    """Give each slot a fresh record, with the saved state's count of ``germinated`` seeds."""
    for sid in list(records):
        records[sid] = SlotRecord(point=records[sid].point)
    for sid, count in germinated.items():
        if sid in records:
            records[sid].seeds_germinated = int(count)


def restore_slot(
    record: SlotRecord, saved: Mapping[str, Any], *, emit: Callable[[Event], None] | None
) -> SeedState:
    """Put a saved seed's lifecycle record and blend settings into its (fresh) slot record."""
    state = SeedState.from_dict(saved["state"], emit=emit)
    record.state = state
    record.algorithm = parse_algorithm(saved["algorithm"])
    record.alpha_target = float(saved["alpha_target"])
    record.tempo = int(saved["tempo"])
    record.curve = parse_curve(saved["curve"])
    record.steepness = float(saved["steepness"])
    record.pending_prune = saved["pending_prune"]
    record.seeds_germinated = int(saved["seeds_germinated"])
    return state
