"""Typed telemetry: event records, the bus that fans them out to sinks, and the event-log reader."""

from esper.telemetry.bus import Sink, TelemetryBus
from esper.telemetry.events import (
    SCHEMA_VERSION,
    Event,
    event_from_dict,
    event_to_dict,
    event_types,
    read_event_objects,
    read_events,
    register_event,
)

__all__ = [
    "SCHEMA_VERSION",
    "Event",
    "Sink",
    "TelemetryBus",
    "event_from_dict",
    "event_to_dict",
    "event_types",
    "read_event_objects",
    "read_events",
    "register_event",
]
