"""The heuristic controller: grows on a plateau, advances seeds through the gates, prunes failures.

The heuristic acts on measurements the engine really takes each epoch — the counterfactual
contribution of every blended seed and the gradient health of every seed — so its seeds do
advance to fossilization (the prior system's heuristic never measured them and stalled).

Per epoch, after the blueprint penalties decay:

* no live seed: wait during the embargo after a prune, until the host has stabilised, before
  ``min_epoch``, when no slot is free or the seed budget is spent; germinate the next
  blueprint into the first free slot once accuracy has plateaued for ``plateau_epochs``;
* otherwise act on the first live seed: GERMINATED -> advance; TRAINING -> prune if failing,
  else advance (the gate decides when); BLENDING -> prune if failing, advance once alpha holds
  at its target; HOLDING -> prune on the "ransomware" signature (it contributes only because
  the host now depends on it, while accuracy fell since it arrived), wait for a contribution
  measurement, fossilize above ``fossilize_min_contribution``, else prune.
"""

from __future__ import annotations

from typing import Any

from esper.plugin import (
    Action,
    BlueprintCatalog,
    ConfigError,
    Op,
    Policy,
    Signals,
    SlotView,
    Stage,
    Style,
)
from esper_plugins.policies.config import HeuristicConfig, min_contribution

DEFAULT_ROTATION: dict[str, tuple[str, ...]] = {
    "cnn": ("conv_light", "conv_heavy", "attention", "norm", "depthwise"),
    "transformer": ("mlp", "attention", "mlp_small", "lora_large", "norm"),
}


class HeuristicPolicy(Policy):
    def __init__(self, config: HeuristicConfig | None = None, *, catalog: BlueprintCatalog) -> None:
        self.config = config or HeuristicConfig()
        rotation = self.config.blueprints
        if rotation == HeuristicConfig().blueprints:
            rotation = DEFAULT_ROTATION.get(
                catalog.topology, tuple(n for n in catalog.names if n != "noop")
            )
        unknown = [name for name in rotation if name not in catalog.names]
        if unknown:
            raise ConfigError(
                [
                    f"config.policy.blueprints: {unknown} are not {catalog.topology} blueprints "
                    f"(available: {', '.join(catalog.names)})"
                ]
            )
        self.rotation = tuple(rotation)
        self.min_contribution = min_contribution(
            self.config.fossilize_min_contribution, catalog.topology
        )
        self.reset()

    def reset(self) -> None:
        self.next_index = 0
        self.penalties: dict[str, float] = {}
        self.last_prune_epoch: int | None = None
        self.germinated = 0

    # -- decisions ---------------------------------------------------------------------------

    def decide(self, signals: Signals) -> Action:
        self._decay()
        live = [view for view in signals.slots if view.live]
        if not live:
            return self._maybe_germinate(signals)
        seed = live[0]
        if seed.stage is Stage.GERMINATED:
            return Action(op=Op.ADVANCE, slot=seed.slot_id, reason="start training")
        if seed.stage is Stage.TRAINING:
            if self._failing(seed):
                return self._prune(seed, signals, "accuracy fell while training")
            return Action(op=Op.ADVANCE, slot=seed.slot_id, reason="try to start blending")
        if seed.stage is Stage.BLENDING:
            if self._failing(seed):
                return self._prune(seed, signals, "accuracy fell while blending")
            if seed.alpha_holding and seed.alpha >= seed.alpha_target:
                return Action(op=Op.ADVANCE, slot=seed.slot_id, reason="blend complete")
            return Action(reason="blending")
        if seed.stage is Stage.HOLDING:
            c = seed.contribution
            if (
                c is not None
                and c > 0.1
                and seed.total_improvement is not None
                and seed.total_improvement < 0.0
            ):
                return self._prune(seed, signals, "host became dependent while accuracy fell")
            if c is None:
                return Action(reason="waiting for a contribution measurement")
            if c > self.min_contribution:
                return Action(op=Op.FOSSILIZE, slot=seed.slot_id, reason=f"contributes {c:.2f} pp")
            return self._prune(seed, signals, f"contributes only {c:.2f} pp")
        return Action()

    def _maybe_germinate(self, signals: Signals) -> Action:
        cfg = self.config
        if (
            self.last_prune_epoch is not None
            and signals.epoch - self.last_prune_epoch < cfg.embargo_epochs
        ):
            return Action(reason="embargo after a prune")
        if cfg.wait_for_stabilization and not signals.host_stabilized:
            return Action(reason="host not yet stable")
        if signals.epoch < cfg.min_epoch:
            return Action(reason="too early")
        if cfg.max_seeds is not None and self.germinated >= cfg.max_seeds:
            return Action(reason="seed budget spent")
        free = [view for view in signals.slots if view.free]
        if not free:
            return Action(reason="no free slot")
        if signals.plateau_epochs < cfg.plateau_epochs:
            return Action(reason="still improving")
        blueprint = self._next_blueprint()
        self.germinated += 1
        return Action(
            op=Op.GERMINATE,
            slot=free[0].slot_id,
            blueprint=blueprint,
            style=Style.SIGMOID_ADD,
            tempo=cfg.tempo,
            alpha_target=1.0,
            reason=f"plateau for {signals.plateau_epochs} epochs",
        )

    def _failing(self, seed: SlotView) -> bool:
        drop = seed.improvement_since_stage_start
        return (
            seed.epochs_in_stage >= self.config.prune_after_epochs
            and drop is not None
            and drop < -self.config.prune_drop_pp
        )

    def _prune(self, seed: SlotView, signals: Signals, reason: str) -> Action:
        self.last_prune_epoch = signals.epoch
        if seed.blueprint is not None:
            name = seed.blueprint.split(":")[-1]
            self.penalties[name] = self.penalties.get(name, 0.0) + self.config.prune_penalty
        # Instant removal (alpha_speed 0): a failing seed should not linger.
        return Action(op=Op.PRUNE, slot=seed.slot_id, alpha_speed=0, reason=reason)

    def _decay(self) -> None:
        for name in list(self.penalties):
            self.penalties[name] *= self.config.penalty_decay
            if self.penalties[name] < 0.1:
                del self.penalties[name]

    def _next_blueprint(self) -> str:
        n = len(self.rotation)
        for offset in range(n):
            name = self.rotation[(self.next_index + offset) % n]
            if self.penalties.get(name, 0.0) < self.config.penalty_threshold:
                self.next_index = (self.next_index + offset + 1) % n
                return name
        # Everything is penalised: take the least penalised (name breaks ties).
        return min(self.rotation, key=lambda b: (self.penalties.get(b, 0.0), b))

    # -- checkpoints ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "next_index": self.next_index,
            "penalties": dict(self.penalties),
            "last_prune_epoch": self.last_prune_epoch,
            "germinated": self.germinated,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.next_index = int(state["next_index"])
        self.penalties = {str(k): float(v) for k, v in state["penalties"].items()}
        self.last_prune_epoch = (
            None if state["last_prune_epoch"] is None else int(state["last_prune_epoch"])
        )
        self.germinated = int(state["germinated"])
