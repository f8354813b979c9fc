"""esper-sink-mlflow: a telemetry sink that logs esper runs and evaluations to MLflow.

esper imports ``esper_sink_mlflow.plugin`` (and with it this package) on every command, so
nothing here may import mlflow or torch.
"""
