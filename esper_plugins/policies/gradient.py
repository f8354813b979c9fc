"""The gradient-probe controller: it grows where a new seed's gradient promises the most.

Sources. GradMax (Evci et al. 2022, "GradMax: Growing Neural Networks using Gradient
Information"): for a new branch whose output is still zero, the norm of the loss gradient with
respect to its parameters is the first-order rate at which training it can reduce the loss, so
it ranks places to grow before anything is grown. Self-expanding neural networks (Mitchell et
al. 2023) add capacity only when a natural-gradient expansion score says the addition pays, and
otherwise keep the network as it is. TINY / GroMo (Verbockhaven et al.) locate "expressivity
bottlenecks": the part of the desired update at a layer that the layer cannot follow, which is
what a module added there can take up.

esper's TRAINING stage is the probe these methods need: an incubating seed leaves the host's
output bit-identical and its input detached (so probes change nothing the host computes or
learns), yet it receives the gradient it would get if its output were added. After one epoch
of incubation the engine has measured its parameter-gradient norm on the epoch's last batch
(`SlotView.gradient_norm`): that is the probe's score. (It is measured after one epoch of
the seed's own training, not at birth: a GERMINATED seed does not run.)

Each epoch, one action, in this order:

1. **Tend the grown seed** (TRAINING after it won, BLENDING, HOLDING): ask to advance it (the
   gates decide when; after a refusal the next epoch goes to a pending prune if there is one);
   prune it while blending if accuracy fell ``prune_drop_pp`` over ``prune_after_epochs``;
   once HOLDING with a measured contribution, fossilize it above ``min_contribution_pp``,
   else prune it (and wait ``embargo_epochs``).
2. **Probe** (a round is open): advance a GERMINATED probe into incubation; germinate the
   round's blueprint into the next free slot not yet probed this round (at most one probe per
   slot per round, ``max_probes`` per round); once every probe is scored, advance the best
   (the seed that grows) if it scored at least ``min_score``; else close the round, grow
   nothing and wait ``embargo_epochs``.
3. **Prune** a seed that can no longer win (a scored probe below the best or below
   ``min_score``, a leftover of a closed round) once the action masks allow it (age
   `MIN_PRUNE_AGE`, alpha not moving). Probes cost compute, not accuracy, so this comes last.
4. **Open a round** when nothing is alive: after ``min_epoch``, a plateau of
   ``plateau_epochs``, outside the embargo, with the seed budget not spent, a free slot, and
   time left to score every probe (two epochs each) before the run's last epoch.

Scores are raw gradient norms. Normalising by the square root of the seed's parameter count
would need that count: the blueprint declares an exact formula of the slot width
(`BlueprintSpec.param_count`), but a controller sees neither the width nor the seed's size
(`SlotView` carries neither). Every probe of a round uses the same blueprint, so a round
compares places, not blueprints; a wider slot may still score higher for its size, which is
GradMax's own criterion (the loss decrease per unit norm of new weights). For the same reason
the cost of a seed is paid in the currency the controller sees: the measured contribution must
exceed ``min_contribution_pp``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from esper.plugin import (
    Action,
    ConfigError,
    Op,
    Policy,
    Signals,
    SlotView,
    Stage,
    Style,
)
from esper_plugins.policies.config import GradientConfig, min_contribution

if TYPE_CHECKING:  # at run time the catalogue comes in; importing it would import torch
    from esper.plugin import BlueprintCatalog

#: Probe blueprints per topology when the config names none: cheap ones that can change what
#: the host computes at a slot (spatial convolutions, MLPs, attention).
DEFAULT_PROBES: dict[str, tuple[str, ...]] = {
    "cnn": ("conv_light", "depthwise", "conv_small", "attention", "norm"),
    "transformer": ("mlp", "attention", "mlp_small", "lora", "norm"),
}

#: `esper.rl.action_space.MIN_PRUNE_AGE`: the masks let no younger seed be pruned. A
#: torch-free copy (the action space imports torch); a test keeps the two equal.
MIN_PRUNE_AGE = 5

_GROWN_STAGES = (Stage.BLENDING, Stage.HOLDING)


class GradientPolicy(Policy):
    """Probe rounds, one grown seed at a time (see the module docstring); deterministic."""

    def __init__(self, config: GradientConfig | None = None, *, catalog: BlueprintCatalog) -> None:
        self.config = config or GradientConfig()
        self.blueprints = _probe_blueprints(self.config.blueprints, catalog)
        self.min_contribution = min_contribution(self.config.min_contribution_pp, catalog.topology)
        self.style = Style[self.config.style.upper()]
        self.reset()

    def reset(self) -> None:
        self.next_blueprint = 0
        #: The open round's blueprint (None: no round open), its slots, those probed so far
        #: (germinated, whatever became of them) and the probes' scores (kept until the next
        #: round opens).
        self.round_blueprint: str | None = None
        self.round_slots: list[str] = []
        self.probed: list[str] = []
        self.scores: dict[str, float] = {}
        #: The slot of the seed that won a round and is being grown.
        self.grown_slot: str | None = None
        self.embargo_start: int | None = None
        self.grown = 0

    # -- decisions ---------------------------------------------------------------------------

    def decide(self, signals: Signals) -> Action:
        views = {view.slot_id: view for view in signals.slots}
        self._record_scores(views)
        seed = self._grown_seed(signals, views)
        if seed is not None:
            return self._tend(seed, signals)
        if self.round_blueprint is not None:
            return self._probe(signals, views)
        return self._maybe_open_round(signals, views)

    def _record_scores(self, views: dict[str, SlotView]) -> None:
        """Score each probe that has incubated for an epoch (once: later epochs train it)."""
        for slot in self.probed:
            view = views.get(slot)
            if slot in self.scores or view is None:
                continue
            if view.stage is Stage.TRAINING and view.epochs_in_stage >= 1:
                # No gradient reached the seed at all: no first-order gain to offer.
                self.scores[slot] = view.gradient_norm or 0.0

    def _grown_seed(self, signals: Signals, views: dict[str, SlotView]) -> SlotView | None:
        if self.grown_slot is not None:
            view = views.get(self.grown_slot)
            if view is not None and view.live:
                return view
            if view is None or view.stage is not Stage.FOSSILIZED:
                self.embargo_start = signals.epoch  # it was pruned, by the engine or by us
            self.grown_slot = None
        # A blended seed this controller did not grow (its state was reset): tend it anyway.
        for view in signals.slots:
            if view.stage in _GROWN_STAGES:
                self.grown_slot = view.slot_id
                return view
        return None

    def _tend(self, seed: SlotView, signals: Signals) -> Action:
        if seed.stage is Stage.HOLDING:
            c = seed.contribution
            if c is None:
                return self._idle(signals, "waiting for a contribution measurement")
            if c > self.min_contribution:
                return Action(op=Op.FOSSILIZE, slot=seed.slot_id, reason=f"contributes {c:.2f} pp")
            return self._prune_grown(seed, signals, f"contributes only {c:.2f} pp")
        if seed.stage is Stage.BLENDING:
            if self._failing(seed):
                return self._prune_grown(seed, signals, "accuracy fell while blending")
            if seed.alpha_holding and seed.alpha >= seed.alpha_target:
                return Action(op=Op.ADVANCE, slot=seed.slot_id, reason="blend complete")
            return self._idle(signals, "blending")
        # TRAINING: the gate knows how long a seed must incubate; the controller asks, and
        # after a refusal spends an epoch on a pending prune, if any, before asking again.
        if signals.last_action_op is Op.ADVANCE and signals.last_action_ok is False:
            prune = self._prune_loser(signals, keep=seed.slot_id)
            if prune is not None:
                return prune
        return Action(op=Op.ADVANCE, slot=seed.slot_id, reason="grow: try to start blending")

    def _probe(self, signals: Signals, views: dict[str, SlotView]) -> Action:
        live = [slot for slot in self.probed if _live(views.get(slot))]
        for slot in live:
            if views[slot].stage is Stage.GERMINATED:
                return Action(op=Op.ADVANCE, slot=slot, reason="probe: start incubating")
        pending = [
            slot
            for slot in self.round_slots
            if slot not in self.probed and slot in views and views[slot].free
        ]
        if pending:
            return self._germinate(pending[0], signals)
        best = self._best(live)
        if all(slot in self.scores for slot in live):
            summary = self._summary(best)
            self._close_round()
            if best is None:
                self.embargo_start = signals.epoch
                return self._idle(signals, f"nothing to grow: {summary}")
            self.grown_slot = best
            self.grown += 1
            return Action(op=Op.ADVANCE, slot=best, reason=f"grow at {best}: {summary}")
        return self._idle(signals, "probe incubating", keep=best)

    def _maybe_open_round(self, signals: Signals, views: dict[str, SlotView]) -> Action:
        cfg = self.config
        if any(view.live for view in signals.slots):
            return self._idle(signals, "waiting to prune a leftover probe")
        if (
            self.embargo_start is not None
            and signals.epoch - self.embargo_start < cfg.embargo_epochs
        ):
            return Action(reason="embargo")
        if signals.epoch < cfg.min_epoch:
            return Action(reason="too early")
        if cfg.max_seeds is not None and self.grown >= cfg.max_seeds:
            return Action(reason="seed budget spent")
        free = [view.slot_id for view in signals.slots if view.free]
        if not free:
            return Action(reason="no free slot")
        if signals.plateau_epochs < cfg.plateau_epochs:
            return Action(reason="still improving")
        slots = free[: cfg.max_probes]
        if signals.max_epochs - signals.epoch <= 2 * len(slots):
            return Action(reason="too late: the round could not finish")
        self.round_blueprint = self.blueprints[self.next_blueprint]
        self.next_blueprint = (self.next_blueprint + 1) % len(self.blueprints)
        self.round_slots, self.scores = slots, {}
        return self._probe(signals, views)

    # -- helpers ------------------------------------------------------------------------------

    def _germinate(self, slot: str, signals: Signals) -> Action:
        self.probed.append(slot)
        return Action(
            op=Op.GERMINATE,
            slot=slot,
            blueprint=self.round_blueprint,
            style=self.style,
            tempo=self.config.tempo,
            alpha_target=1.0,
            reason=f"probe {len(self.probed)}/{len(self.round_slots)} "
            f"(plateau {signals.plateau_epochs} epochs)",
        )

    def _best(self, live: list[str]) -> str | None:
        """The live scored probe with the largest score (the earlier slot on a tie), if that
        score reaches ``min_score``."""
        scored = [slot for slot in live if slot in self.scores]
        if not scored:
            return None
        best = max(scored, key=lambda slot: self.scores[slot])  # max keeps the first of ties
        return best if self.scores[best] >= self.config.min_score else None

    def _summary(self, best: str | None) -> str:
        """The round's scores for the log, best first."""
        ranked = sorted(self.scores.items(), key=lambda item: -item[1])
        listed = ", ".join(f"{slot} {score:.4g}" for slot, score in ranked) or "no probe scored"
        if best is None:
            return f"gradient norms {listed} (min_score {self.config.min_score:g})"
        return f"gradient norms {listed}"

    def _close_round(self) -> None:
        # The scores stay until the next round opens: prune reasons quote them.
        self.round_blueprint = None
        self.round_slots, self.probed = [], []

    def _idle(self, signals: Signals, reason: str, *, keep: str | None = None) -> Action:
        """Nothing else to do: prune a seed that can no longer win, else wait."""
        return self._prune_loser(signals, keep=keep) or Action(reason=reason)

    def _prune_loser(self, signals: Signals, *, keep: str | None) -> Action | None:
        """PRUNE the first live seed (not ``keep``, not the grown one, not an unscored probe)
        that the masks let go, or None."""
        for view in signals.slots:
            slot = view.slot_id
            if slot in (keep, self.grown_slot) or not _prunable(view):
                continue
            if slot in self.probed and slot not in self.scores:
                continue  # still to be scored
            score = self.scores.get(slot)
            reason = "leftover seed" if score is None else f"probe scored {score:.4g}"
            return Action(op=Op.PRUNE, slot=slot, alpha_speed=0, reason=reason)
        return None

    def _prune_grown(self, seed: SlotView, signals: Signals, reason: str) -> Action:
        if not _prunable(seed):
            return self._idle(signals, f"{reason}: waiting until it may be pruned")
        self.grown_slot = None
        self.embargo_start = signals.epoch
        # Instant removal (alpha_speed 0): a failing seed should not linger.
        return Action(op=Op.PRUNE, slot=seed.slot_id, alpha_speed=0, reason=reason)

    def _failing(self, seed: SlotView) -> bool:
        drop = seed.improvement_since_stage_start
        return (
            seed.epochs_in_stage >= self.config.prune_after_epochs
            and drop is not None
            and drop < -self.config.prune_drop_pp
        )

    # -- checkpoints ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "next_blueprint": self.next_blueprint,
            "round_blueprint": self.round_blueprint,
            "round_slots": list(self.round_slots),
            "probed": list(self.probed),
            "scores": dict(self.scores),
            "grown_slot": self.grown_slot,
            "embargo_start": self.embargo_start,
            "grown": self.grown,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.next_blueprint = int(state["next_blueprint"]) % len(self.blueprints)
        self.round_blueprint = _optional_str(state["round_blueprint"])
        self.round_slots = [str(slot) for slot in state["round_slots"]]
        self.probed = [str(slot) for slot in state["probed"]]
        self.scores = {str(k): float(v) for k, v in state["scores"].items()}
        self.grown_slot = _optional_str(state["grown_slot"])
        start = state["embargo_start"]
        self.embargo_start = None if start is None else int(start)
        self.grown = int(state["grown"])


def _prunable(view: SlotView) -> bool:
    """What the action masks allow: a live seed old enough whose alpha is not moving."""
    return view.live and view.epochs_total >= MIN_PRUNE_AGE and view.alpha_holding


def _live(view: SlotView | None) -> bool:
    return view is not None and view.live


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


def _probe_blueprints(names: tuple[str, ...], catalog: BlueprintCatalog) -> tuple[str, ...]:
    """The configured blueprints (each must be in the catalogue), or the topology's defaults
    that the catalogue has, or else every catalogue blueprint but "noop"."""
    if names:
        unknown = [name for name in names if name not in catalog.names]
        if unknown:
            raise ConfigError(
                [
                    f"config.policy.blueprints: {unknown} are not {catalog.topology} blueprints "
                    f"(available: {', '.join(catalog.names)})"
                ]
            )
        return names
    defaults = [n for n in DEFAULT_PROBES.get(catalog.topology, ()) if n in catalog.names]
    chosen = tuple(defaults or (n for n in catalog.names if n != "noop"))
    if not chosen:
        raise ConfigError(
            [f"config.policy.blueprints: the {catalog.topology} catalogue has nothing to grow"]
        )
    return chosen
