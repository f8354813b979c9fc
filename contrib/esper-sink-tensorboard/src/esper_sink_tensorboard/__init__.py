"""esper-sink-tensorboard: a telemetry sink that writes TensorBoard event files.

Keep this file cheap to import: esper imports ``esper_sink_tensorboard.plugin`` (and so this
package) for every command, ``esper --help`` included.
"""
