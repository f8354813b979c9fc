"""The training engine: one host-training environment, its signals, and the episode loop."""
