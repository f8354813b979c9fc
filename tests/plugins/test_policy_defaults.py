"""What the built-in controllers grow and keep by default, per host topology."""

from __future__ import annotations

import pytest

from esper.growth.catalog import BlueprintCatalog
from esper.registry import Registries
from esper_plugins.policies.config import (
    DEFAULT_MIN_CONTRIBUTION,
    FALLBACK_MIN_CONTRIBUTION,
    GradientConfig,
    HeuristicConfig,
    min_contribution,
)
from esper_plugins.policies.gradient import GradientPolicy
from esper_plugins.policies.heuristic import HeuristicPolicy


@pytest.mark.parametrize(("topology", "threshold"), [("cnn", 0.5), ("transformer", 0.1)])
def test_the_fossilization_threshold_defaults_to_the_topologys(
    registries: Registries, topology: str, threshold: float
) -> None:
    catalog = BlueprintCatalog(registries["blueprints"], topology)
    assert HeuristicPolicy(catalog=catalog).min_contribution == threshold
    assert GradientPolicy(catalog=catalog).min_contribution == threshold
    # A configured threshold wins on every topology, zero and negative ones included.
    for value in (0.0, -1.0, 2.5):
        heuristic = HeuristicPolicy(
            HeuristicConfig(fossilize_min_contribution=value), catalog=catalog
        )
        gradient = GradientPolicy(GradientConfig(min_contribution_pp=value), catalog=catalog)
        assert heuristic.min_contribution == gradient.min_contribution == value


def test_a_topology_without_a_default_gets_the_fallback() -> None:
    assert "graph" not in DEFAULT_MIN_CONTRIBUTION
    assert min_contribution(None, "graph") == FALLBACK_MIN_CONTRIBUTION


def test_on_a_transformer_both_controllers_grow_an_mlp_first(registries: Registries) -> None:
    """The stories host is attention-only: an MLP is what it lacks (docs/results.md)."""
    catalog = BlueprintCatalog(registries["blueprints"], "transformer")
    assert HeuristicPolicy(catalog=catalog).rotation[0] == "mlp"
    assert GradientPolicy(catalog=catalog).blueprints[0] == "mlp"
