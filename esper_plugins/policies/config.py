"""Options of the built-in controllers (heuristic, gradient, LSTM). No torch."""

from __future__ import annotations

import attrs
from attrs import validators as v

from esper.plugin import MAX_EPOCHS, MAX_SEED, MAX_WIDTH, Style, finite

#: The contribution (percent points of the task's accuracy) a holding seed must exceed to be
#: fossilized, per host topology. A language model's next-token accuracy is measured over tens
#: of thousands of tokens, so it is far less noisy than an image classifier's over a thousand
#: images, and a seed that really helps moves it by less.
DEFAULT_MIN_CONTRIBUTION: dict[str, float] = {"cnn": 0.5, "transformer": 0.1}
#: The threshold for a topology `DEFAULT_MIN_CONTRIBUTION` does not name.
FALLBACK_MIN_CONTRIBUTION = 0.5


def min_contribution(configured: float | None, topology: str) -> float:
    """The fossilization threshold: ``configured``, or the topology's default."""
    if configured is not None:
        return configured
    return DEFAULT_MIN_CONTRIBUTION.get(topology, FALLBACK_MIN_CONTRIBUTION)


#: Most seeds a controller may budget for: far more slots than any host declares.
_MAX_SEEDS = 1024


def _non_empty(
    _inst: object, attribute: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]
) -> None:
    if not value:
        raise ValueError(f"'{attribute.name}' must name at least one blueprint")


@attrs.frozen(kw_only=True)
class HeuristicConfig:
    """Defaults suit esper's short CPU runs (40 epochs). The prior system's values, tuned for
    75-150 epoch episodes: plateau_epochs 3, min_epoch 5, tempo 5, wait_for_stabilization true.
    """

    plateau_epochs: int = attrs.field(default=2, validator=[v.ge(1), v.le(MAX_EPOCHS)])
    min_epoch: int = attrs.field(default=3, validator=[v.ge(0), v.le(MAX_EPOCHS)])
    #: Prune a seed whose accuracy fell this many points since its stage began...
    prune_drop_pp: float = attrs.field(default=2.0, validator=[finite, v.gt(0)])
    #: ...after at least this many epochs in the stage.
    prune_after_epochs: int = attrs.field(default=5, validator=[v.ge(1), v.le(MAX_EPOCHS)])
    #: Fossilize a holding seed whose measured contribution exceeds this (percent points;
    #: None: the topology's default, `DEFAULT_MIN_CONTRIBUTION`).
    fossilize_min_contribution: float | None = attrs.field(
        default=None, validator=v.optional(finite)
    )
    embargo_epochs: int = attrs.field(default=5, validator=[v.ge(0), v.le(MAX_EPOCHS)])
    #: Blueprints to try, in order (names valid for the host's topology).
    blueprints: tuple[str, ...] = attrs.field(
        default=("conv_light", "conv_heavy", "attention", "norm", "depthwise"),
        converter=tuple,
        validator=_non_empty,
    )
    prune_penalty: float = attrs.field(default=2.0, validator=[finite, v.ge(0)])
    penalty_decay: float = attrs.field(default=0.5, validator=[v.ge(0), v.le(1)])
    penalty_threshold: float = attrs.field(default=3.0, validator=[finite, v.gt(0)])
    #: Seeds germinated in all before the controller stops (None: no cap; 0: never).
    max_seeds: int | None = attrs.field(
        default=None, validator=v.optional([v.instance_of(int), v.ge(0), v.le(_MAX_SEEDS)])
    )
    #: Tempo, in epochs, of the seeds it germinates.
    tempo: int = attrs.field(default=3, validator=[v.ge(0), v.le(MAX_EPOCHS)])
    #: Wait for the host to stabilise before the first germination.
    wait_for_stabilization: bool = False


#: Blend styles by config name ("sigmoid_add", ...), in `Style` order.
STYLE_NAMES: tuple[str, ...] = tuple(style.name.lower() for style in Style)


@attrs.frozen(kw_only=True)
class GradientConfig:
    """Options of the gradient-probe controller (`esper_plugins.policies.gradient`).

    Timing options default to the heuristic's, so the two controllers grow at the same moments
    and differ in where and what they grow.
    """

    #: Epochs without a 0.5 pp gain before a probe round starts (0: do not wait for a plateau).
    plateau_epochs: int = attrs.field(default=2, validator=[v.ge(0), v.le(MAX_EPOCHS)])
    min_epoch: int = attrs.field(default=3, validator=[v.ge(0), v.le(MAX_EPOCHS)])
    #: A probe scoring below this (its seed's gradient norm after one incubation epoch) can
    #: never be grown; a round whose probes all score below it grows nothing.
    min_score: float = attrs.field(default=1e-3, validator=[finite, v.ge(0)])
    #: Probes per round, in slot order (None: every free slot).
    max_probes: int | None = attrs.field(
        default=None, validator=v.optional([v.instance_of(int), v.ge(1), v.le(_MAX_SEEDS)])
    )
    #: Epochs without a new round after a round that grew nothing or a pruned grown seed.
    embargo_epochs: int = attrs.field(default=5, validator=[v.ge(0), v.le(MAX_EPOCHS)])
    #: Fossilize a holding seed whose measured contribution exceeds this (percent points;
    #: None: the topology's default, `DEFAULT_MIN_CONTRIBUTION`).
    min_contribution_pp: float | None = attrs.field(default=None, validator=v.optional(finite))
    #: Prune a blending seed whose accuracy fell this many points since blending began...
    prune_drop_pp: float = attrs.field(default=2.0, validator=[finite, v.gt(0)])
    #: ...after at least this many epochs of blending.
    prune_after_epochs: int = attrs.field(default=5, validator=[v.ge(1), v.le(MAX_EPOCHS)])
    #: Seeds grown (probes committed to) before the controller stops (None: no cap; 0: never).
    max_seeds: int | None = attrs.field(
        default=None, validator=v.optional([v.instance_of(int), v.ge(0), v.le(_MAX_SEEDS)])
    )
    #: Probe blueprints, one per round in turn (empty: the topology's default list).
    blueprints: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    #: How a grown seed blends in (one of STYLE_NAMES), and over how many epochs.
    style: str = attrs.field(default="sigmoid_add", validator=v.in_(STYLE_NAMES))
    tempo: int = attrs.field(default=3, validator=[v.ge(0), v.le(MAX_EPOCHS)])


#: Probability floor per head (the prior system's values): exploration that survives collapse.
DEFAULT_FLOORS: dict[str, float] = {
    "op": 0.15,
    "slot": 0.05,
    "blueprint": 0.12,
    "style": 0.08,
    "tempo": 0.12,
    "alpha_target": 0.08,
    "alpha_speed": 0.06,
    "alpha_curve": 0.06,
}


def _floors(_inst: object, attribute: attrs.Attribute[dict[str, float]], value: object) -> None:
    if not isinstance(value, dict):
        raise ValueError(f"'{attribute.name}' must be a table of head name -> floor")
    unknown = sorted(set(value) - set(DEFAULT_FLOORS))
    if unknown:
        raise ValueError(
            f"'{attribute.name}' names unknown head(s) {unknown} (heads: {', '.join(DEFAULT_FLOORS)})"
        )
    for head, floor in value.items():
        if isinstance(floor, bool) or not isinstance(floor, int | float) or not 0 <= floor < 1:
            raise ValueError(f"'{attribute.name}' must be within [0, 1), got {head} = {floor!r}")


@attrs.frozen(kw_only=True)
class LSTMConfig:
    """Options of the recurrent actor-critic controller.

    Sizes default to what trains quickly on a CPU; the prior system used
    ``hidden_dim = feature_dim = 512``.
    """

    hidden_dim: int = attrs.field(default=128, validator=[v.ge(4), v.le(MAX_WIDTH)])
    feature_dim: int = attrs.field(default=128, validator=[v.ge(4), v.le(MAX_WIDTH)])
    lstm_layers: int = attrs.field(default=1, validator=[v.ge(1), v.le(64)])
    #: Width of the learned blueprint embedding (one row per catalogue entry plus "null").
    blueprint_embed_dim: int = attrs.field(default=4, validator=[v.ge(1), v.le(MAX_WIDTH)])
    #: Hidden width of the per-head MLPs (0: hidden_dim // 2).
    head_hidden: int = attrs.field(default=0, validator=[v.ge(0), v.le(MAX_WIDTH)])
    #: Per-head probability floors; heads left out keep DEFAULT_FLOORS, 0 disables a floor.
    floors: dict[str, float] = attrs.field(factory=dict, validator=_floors)
    #: Take the most probable action instead of sampling.
    deterministic: bool = False
    #: Cap on seeds alive or fossilized at once (GERMINATE is masked at the cap).
    max_seeds: int | None = attrs.field(
        default=None, validator=v.optional([v.instance_of(int), v.ge(1), v.le(_MAX_SEEDS)])
    )
    #: Seed of the initial weights (the same seed gives the same untrained controller);
    #: it seeds torch's generator, hence at most MAX_SEED.
    init_seed: int = attrs.field(default=0, validator=[v.ge(0), v.le(MAX_SEED)])
    #: A file of trained weights (`torch.save` of the network's or the policy's state dict).
    weights: str | None = None
    #: Where the network runs: cpu, cuda, cuda:N or mps.
    device: str = attrs.field(default="cpu", validator=v.matches_re(r"cpu|cuda(:\d+)?|mps"))
    #: Normalise the observation features by their running mean and variance (the statistics
    #: live in the network's state dict, updated once per rollout by the agent).
    normalize_observations: bool = False
    #: Check masks and logits every step (one host sync); off only for speed in training loops.
    validate: bool = True

    def head_floors(self) -> dict[str, float]:
        return {**DEFAULT_FLOORS, **{k: float(f) for k, f in self.floors.items()}}
