"""Every numeric option of CsvSinkConfig has a range: NaN, inf and 2**64 are refused.

The rule esper's own config classes follow, checked with esper's helper for plugin authors
(`esper.testing.check_numeric_bounds`): a value that type-checks but is absurd fails when the
config is loaded, naming its key, instead of later, inside the component.
"""

from __future__ import annotations

from esper.testing import check_numeric_bounds

from esper_plugin_template.config import CsvSinkConfig


def test_numeric_options_reject_nan_infinity_and_absurd_ints() -> None:
    # The template has no numeric option yet; a new one must come with its bounds.
    assert check_numeric_bounds(CsvSinkConfig) == []
