"""esper's benchmark suite: ratios measured side by side in one process, written as JSON and markdown.

Run it with ``esper bench`` (or ``nox -s bench``). Every figure is either a ratio of two
variants timed interleaved in the same process (so machine noise hits both alike), or a count.
Nothing here is asserted in tests: the numbers are measured and reported with the machine.
"""
