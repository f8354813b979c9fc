"""esper's benchmarks: ratios measured side by side in one process, written as JSON and markdown.

Run them with ``esper bench`` (this package registers the command; ``nox -s bench`` from a
checkout). Every figure is either a ratio of two variants timed interleaved in the same process
(so machine noise hits both alike), or a count. Nothing here is asserted in tests: the numbers
are measured and reported with the machine.

This is a measuring tool, not a plugin to copy: the benchmarks time esper's internals
(``esper.growth``, ``esper.engine``, ``esper.recipes``, the built-in plugins), so they import
internal modules that plugins must not use (plugins import ``esper.plugin`` only), and each
release of this package follows esper's. ``python -m esper_bench.gpu_check`` is the GPU
check and ``python -m esper_bench.ray`` the Ray runner benchmark.
"""
