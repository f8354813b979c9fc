"""esper's rule for plugin config classes: every numeric option has a range
(`esper.testing.check_numeric_bounds`). The W&B sink has no numeric option; should one be
added, this test fails until it is listed here, with a validator that refuses NaN, infinities
and absurd integers."""

from __future__ import annotations

from esper.testing import check_numeric_bounds

from esper_sink_wandb.config import WandbSinkConfig


def test_numeric_options_have_ranges() -> None:
    assert check_numeric_bounds(WandbSinkConfig) == []
