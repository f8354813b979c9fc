"""esper-sink-wandb: a telemetry sink that logs esper runs and evaluations to Weights & Biases.

esper imports ``esper_sink_wandb.plugin`` (and with it this package) on every command, so
nothing here may import wandb or torch.
"""
