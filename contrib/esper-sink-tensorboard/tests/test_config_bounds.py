"""Every numeric option of TensorBoardSinkConfig has a range: NaN, inf and 2**64 are refused.

The rule esper's own config classes follow, checked with esper's helper for plugin authors
(`esper.testing.check_numeric_bounds`): a value that type-checks but is absurd fails when the
config is loaded, naming its key, instead of inside the writer thread later.
"""

from __future__ import annotations

from esper.testing import check_numeric_bounds

from esper_sink_tensorboard.config import TensorBoardSinkConfig


def test_numeric_options_reject_nan_infinity_and_absurd_ints() -> None:
    assert check_numeric_bounds(TensorBoardSinkConfig) == ["flush_secs"]
