"""Built-in telemetry sinks."""
