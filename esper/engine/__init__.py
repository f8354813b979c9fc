"""The training engine: one host-training environment, its signals, and the episode loop.

Its telemetry events (`events`) and their translation into numbered scalars for metrics
trackers (`scalars`) import no torch.
"""
