"""The contribution reward: dense credit from counterfactual attribution (spec §5.4 SHAPED).

Each step's reward is the sum of named components (`COMPONENTS`, always all present):

* ``attribution``: credit for each live seed's measured contribution c (accuracy lost when
  it alone is switched off), damped by the seed's progress (harmonic mean with the accuracy
  gained since germination), by ``sigmoid(k * cf)`` while the seeds together hurt (cf < 0),
  and for seeds germinated early. A negative contribution is charged in full. The seed the
  action prunes has its attribution negated; a seed fossilized while cf < 0 gets none.
* ``ratio_penalty``: anti-gaming, for a contribution far larger than the total improvement.
* ``blending_warning`` / ``holding_indecision``: seeds blending while the seeds hurt, and
  good seeds left waiting in HOLDING, are charged more the longer it lasts.
* ``pbrs``: stage-potential shaping over all slots (`shaping.StagePotentials`).
* ``compute_rent``, ``alpha_shock``, ``capacity_rent``: costs of added parameters, of abrupt
  alpha changes, and of the number of seeds.
* ``action_shaping``, ``action_cost``, ``fossilize_bonus``: per-op shaping of the executed op.
* ``terminal``: 0.05 x validation accuracy at the last epoch.

With ``mode = "escrow"`` (spec §5.4 ESCROW) ``attribution`` instead pays the change of a
per-seed credit held in this object: the credit moves toward ``max(0, attribution + ratio
penalty)`` (progress measured from the minimum of the latest accuracies) by at most
``escrow_delta_clip`` a step, is refunded on PRUNE, frozen once the seed fossilizes and
forfeited at the last epoch otherwise; ``ratio_penalty`` is then 0 (it is in the target).

Deviations from the prior system, on purpose:

* Every seed is judged every step. The prior system judged only the slot its slot head
  picked (sampled even for WAIT); esper's WAIT names no slot, and judging only the named slot
  would let a controller choose which seed's credit it collects.
* PBRS covers all slots and uses the state after the action, so the germination bonus and
  the prune forfeit that the prior system paid as action shaping are part of ``pbrs`` here
  (the timing discount of the germination bonus stays in ``action_shaping``).
* The synergy bonus is omitted: the runner measures no pairwise interactions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType

import attrs

from esper.plugin import Op, RewardBreakdown, RewardContext, RewardFunction, SlotView, Stage
from esper_plugins.rewards.config import ContributionRewardConfig
from esper_plugins.rewards.shaping import (
    INTERVENTION_COSTS,
    LIVE_STAGES,
    RENTED_STAGES,
    STAGE_POTENTIALS,
    StagePotentials,
    log_rent,
    logistic,
    param_ratio,
    resolve_gamma,
    seed_age,
    slot_ids,
    stage_after,
)

COMPONENTS: tuple[str, ...] = (
    "attribution",
    "ratio_penalty",
    "blending_warning",
    "holding_indecision",
    "pbrs",
    "compute_rent",
    "alpha_shock",
    "capacity_rent",
    "action_shaping",
    "action_cost",
    "fossilize_bonus",
    "terminal",
)

#: ESCROW: stages after a step in which a seed may keep its credit.
KEPT_STAGES = LIVE_STAGES | {Stage.FOSSILIZED}
#: A seed "holds the host hostage" when removing it hurts (c > this) while the seeds
#: together make things worse (cf < RANSOM_CF).
RANSOM_CONTRIBUTION = 0.1
RANSOM_CF = -0.2
#: Immediate fossilization bonus at full legitimacy: 3 tanh(1/3) ~ 0.965.
FOSSILIZE_BONUS = 3.0 * math.tanh(1.0 / 3.0)


@attrs.frozen(kw_only=True)
class EscrowStep:
    """One seed's ESCROW credit in one step: ``credit == previous + delta`` (exactly)."""

    previous: float
    delta: float
    credit: float


def harmonic_attribution(contribution: float, progress: float | None) -> float:
    """Credit for a non-negative contribution c given the seed's progress p (both in pp).

    Unknown progress: 0.5 c. No progress (p <= 0): 0, whatever c claims. c >= p: the harmonic
    mean 2pc / (p + c), which lies between p and c. Otherwise c.
    """
    if progress is None:
        return 0.5 * contribution
    if progress <= 0:
        return 0.0
    if contribution >= progress:
        return 2.0 * progress * contribution / (progress + contribution)
    return contribution


def timing_discount(germinated_at: int | None, *, epochs: int, floor: float) -> float:
    """Discount for a seed germinated at ``germinated_at``: floor at epoch 0, 1 from ``epochs`` on."""
    if germinated_at is None or germinated_at >= epochs:
        return 1.0
    return floor + (1.0 - floor) * max(germinated_at, 0) / epochs


def ratio_penalty(contribution: float, cf: float) -> float:
    """Anti-gaming: a contribution much larger than the total improvement cf (<= 0)."""
    if contribution <= 1.0:
        return 0.0
    if cf > 0.1:
        ratio = contribution / cf
        return -min(0.3, 0.1 * (ratio - 5.0) / 5.0) if ratio > 5.0 else 0.0
    return -0.3 * min(1.0, contribution / 10.0)


def _finite(name: str, value: float | None) -> float | None:
    if value is not None and math.isnan(value):
        raise ValueError(f"{name} is NaN")
    return value


class ContributionReward(RewardFunction):
    """The default dense reward; see the module docstring for its components.

    Called as ``ContributionReward(config_or_None, gamma=agent_gamma)``.
    """

    def __init__(self, config: ContributionRewardConfig | None = None, *, gamma: float) -> None:
        self.config = config or ContributionRewardConfig()
        if not isinstance(self.config, ContributionRewardConfig):
            raise TypeError(f"expected a ContributionRewardConfig, got {type(config).__name__}")
        self.gamma = resolve_gamma(self.config.gamma, gamma)
        self._pbrs = StagePotentials(gamma=self.gamma, weight=self.config.pbrs_weight)
        # ESCROW ledger: slot -> (seed id, credit held), and the last step's credit changes.
        self._credit: dict[str, tuple[str | None, float]] = {}
        self._escrow_steps: dict[str, EscrowStep] = {}
        self._last_epoch: int | None = None

    def reset(self) -> None:
        self._pbrs.reset()
        self._credit.clear()
        self._escrow_steps.clear()
        self._last_epoch = None

    def credit(self, slot_id: str) -> float:
        """ESCROW: the credit the seed in ``slot_id`` holds after the last step (0 if none)."""
        entry = self._credit.get(slot_id)
        return 0.0 if entry is None else entry[1]

    @property
    def escrow_steps(self) -> Mapping[str, EscrowStep]:
        """ESCROW: each slot's credit change in the last step (slots with a seed or credit)."""
        return MappingProxyType(self._escrow_steps)

    def __call__(self, context: RewardContext) -> RewardBreakdown:
        cfg = self.config
        parts = dict.fromkeys(COMPONENTS, 0.0)
        cf = _finite("counterfactual total", context.counterfactual_total)
        op = context.op
        target = context.target
        if cfg.mode == "escrow":
            self._escrow(context, cf, parts)
        else:
            self._shaped(context, cf, parts)
        if not cfg.disable_pbrs:
            parts["pbrs"] = self._pbrs(context)
        parts["compute_rent"] = self._compute_rent(context)
        if not cfg.disable_anti_gaming:
            parts["alpha_shock"] = self._alpha_shock(context)
        parts["capacity_rent"] = self._capacity_rent(context)
        parts["action_shaping"] = self._action_shaping(op, target, context, cf)
        parts["action_cost"] = INTERVENTION_COSTS[op]
        if (
            op is Op.FOSSILIZE
            and not cfg.disable_terminal_reward
            and target is not None
            and target.stage is Stage.HOLDING
            and cf is not None
            and cf >= 0
            and (target.contribution or 0.0) >= cfg.fossilize_min_contribution
        ):
            parts["fossilize_bonus"] = FOSSILIZE_BONUS * self._legitimacy(target)
        if context.terminal and not cfg.disable_terminal_reward:
            parts["terminal"] = cfg.terminal_weight * context.signals.val_accuracy
        return RewardBreakdown(components=parts)

    def _shaped(self, context: RewardContext, cf: float | None, parts: dict[str, float]) -> None:
        """SHAPED attribution, ratio penalty, blending warning and holding indecision."""
        op = context.op
        target_id = context.target.slot_id if context.target is not None else None
        for view in context.signals.slots:
            if view.stage not in LIVE_STAGES:
                continue
            acted = view.slot_id == target_id
            value, penalty = self._attribution(view, context, cf)
            deciding = acted and op in (Op.FOSSILIZE, Op.PRUNE)
            if value > 0 and view.stage is Stage.HOLDING and not deciding:
                parts["holding_indecision"] -= self.indecision(view.epochs_in_stage)
            if view.stage is Stage.BLENDING and cf is not None and cf < 0:
                parts["blending_warning"] -= 0.1 + min(0.05 * view.epochs_in_stage, 0.3)
            if acted and op is Op.FOSSILIZE and cf is not None and cf < 0:
                value = 0.0
            if acted and op is Op.PRUNE:
                value = -value
            parts["attribution"] += value
            parts["ratio_penalty"] += penalty

    def _escrow(self, context: RewardContext, cf: float | None, parts: dict[str, float]) -> None:
        """ESCROW attribution, blending warning and holding indecision (spec §5.4).

        Each seed holds a credit. The step pays its change as ``attribution``: toward the
        target ``max(0, attribution + ratio penalty)`` (clipped), back to 0 on PRUNE, on removal, on
        a negative contribution (which is also charged in full) and at the last epoch unless
        the seed fossilized. A fossil's credit, and an unmeasured seed's, stays as it is.
        """
        cfg = self.config
        if self._last_epoch is not None and context.epoch <= self._last_epoch:
            self._credit.clear()  # a new episode, as in `StagePotentials`
        self._last_epoch = context.epoch
        self._escrow_steps.clear()
        op = context.op
        target_id = context.target.slot_id if context.target is not None else None
        progress_drop = self._progress_drop(context)
        visited: set[str] = set()
        for view in context.signals.slots:
            sid = view.slot_id
            visited.add(sid)
            previous = self._credit.pop(sid, (view.seed_id, 0.0))
            if previous[0] != view.seed_id:
                # Another seed took the slot: the old one left without fossilizing and gives
                # its credit back (not recorded in `escrow_steps`, which follow the new seed).
                parts["attribution"] -= previous[1]
                previous = (view.seed_id, 0.0)
            held = previous[1]
            if view.stage is Stage.DORMANT and held == 0.0:
                continue
            acted = sid == target_id
            after = stage_after(context, sid)
            # charge: a negative contribution, paid in full; worth: the credit target.
            charge, worth, measured = 0.0, held, False
            if view.stage in LIVE_STAGES:
                c = self._measured(view, cf)
                if c is not None and cf is not None:
                    measured = True
                    if c < 0:
                        charge, worth = c, 0.0
                    else:
                        progress = view.total_improvement
                        if progress is not None:
                            progress -= progress_drop
                        value, penalty = self._credited(view, context, c, cf, progress)
                        worth = max(0.0, value + penalty)
                deciding = acted and op in (Op.FOSSILIZE, Op.PRUNE)
                if view.stage is Stage.HOLDING and worth > 0 and not deciding:
                    parts["holding_indecision"] -= self.indecision(view.epochs_in_stage)
                if view.stage is Stage.BLENDING and cf is not None and cf < 0:
                    parts["blending_warning"] -= 0.1 + min(0.05 * view.epochs_in_stage, 0.3)
            if acted and op is Op.PRUNE:
                charge, delta = 0.0, -held  # PRUNE refunds the credit, whatever the seed did
            elif view.stage is Stage.FOSSILIZED and after is Stage.FOSSILIZED:
                delta = 0.0  # frozen, and kept at the end
            elif view.stage not in LIVE_STAGES or after not in KEPT_STAGES:
                delta = -held  # removed without fossilizing
            elif context.terminal and after is not Stage.FOSSILIZED:
                delta = -held  # forfeited: only fossilized seeds keep their credit
            elif acted and op is Op.FOSSILIZE and cf is not None and cf < 0:
                charge, delta = 0.0, 0.0  # as SHAPED, which pays nothing for this step
            elif not measured:
                delta = 0.0  # nothing new is known: no proxy credit
            elif charge < 0:
                delta = -held
            else:
                clip = cfg.escrow_delta_clip
                delta = min(max(worth - held, -clip), clip)
            parts["attribution"] += charge
            self._settle(sid, view.seed_id, held, delta, parts)
        for sid in [s for s in self._credit if s not in visited]:
            # A slot the controller no longer sees: nothing can keep its credit.
            _, held = self._credit.pop(sid)
            self._settle(sid, None, held, -held, parts)

    def _settle(
        self,
        slot_id: str,
        seed_id: str | None,
        previous: float,
        delta: float,
        parts: dict[str, float],
    ) -> None:
        """Change a seed's credit by ``delta`` and pay the change as attribution.

        ``previous + delta`` never goes below 0: the delta is at least ``-previous`` (a refund)
        or moves toward a target >= 0, and rounding is monotone.
        """
        credit = previous + delta
        parts["attribution"] += delta
        self._escrow_steps[slot_id] = EscrowStep(previous=previous, delta=delta, credit=credit)
        if credit != 0.0:
            self._credit[slot_id] = (seed_id, credit)

    def _progress_drop(self, context: RewardContext) -> float:
        """How far the stable accuracy (min of the latest ones) lies below the current one."""
        signals = context.signals
        window = signals.accuracy_history[-self.config.stable_accuracy_window :]
        accuracies = (*window, signals.val_accuracy)
        if any(math.isnan(a) for a in accuracies):
            raise ValueError("validation accuracy history contains NaN")
        return signals.val_accuracy - min(accuracies)

    @staticmethod
    def indecision(epochs_in_holding: int) -> float:
        """The (positive) charge for leaving a good seed in HOLDING: 0 for the first 2 epochs,
        then 0.1 rising by 0.05 an epoch, capped at 0.3."""
        if epochs_in_holding < 2:
            return 0.0
        return min(0.1 + 0.05 * (epochs_in_holding - 2), 0.3)

    # -- components -----------------------------------------------------------------------

    def _attribution(
        self, view: SlotView, context: RewardContext, cf: float | None
    ) -> tuple[float, float]:
        """(attribution before the op's flip, ratio penalty) of one live seed."""
        c = self._measured(view, cf)
        if c is None or cf is None:
            # Unmeasured (e.g. the first blended epoch), or a stale value of a seed that is not
            # blended (nothing was ablated this epoch): a small proxy from the stage's gain.
            gain = view.improvement_since_stage_start
            if view.stage in (Stage.BLENDING, Stage.HOLDING) and gain is not None and gain > 0:
                return self.config.proxy_weight * gain, 0.0
            return 0.0, 0.0
        if c < 0:
            return c, 0.0
        return self._credited(view, context, c, cf, view.total_improvement)

    @staticmethod
    def _measured(view: SlotView, cf: float | None) -> float | None:
        """The seed's contribution when this step measured it, else None."""
        c = _finite(f"contribution of slot {view.slot_id}", view.contribution)
        if c is not None and cf is None and view.alpha > 0:
            raise ValueError(
                f"slot {view.slot_id} is blended (alpha {view.alpha}) with a measured "
                "contribution, but the step has no counterfactual total "
                "(RewardContext.all_off_accuracy is None)"
            )
        return None if cf is None else c

    def _credited(
        self,
        view: SlotView,
        context: RewardContext,
        c: float,
        cf: float,
        progress: float | None,
    ) -> tuple[float, float]:
        """(discounted credit, ratio penalty) of a measured, non-negative contribution."""
        cfg = self.config
        discount = logistic(cfg.sigmoid_steepness * cf) if cf < 0 else 1.0
        germinated = context.germinated_at.get(view.slot_id)
        if germinated is None:
            germinated = context.epoch - view.epochs_total
        value = (
            harmonic_attribution(c, progress)
            * discount
            * timing_discount(
                germinated,
                epochs=cfg.early_germination_epochs,
                floor=cfg.early_germination_floor,
            )
        )
        penalty = 0.0
        if not cfg.disable_anti_gaming and discount >= 0.5:
            penalty = ratio_penalty(c, cf)
        return value, penalty

    def _legitimacy(self, view: SlotView) -> float:
        """How long the seed proved itself in HOLDING, as a fraction of the required epochs."""
        return min(1.0, view.epochs_in_stage / self.config.legitimacy_epochs)

    def _compute_rent(self, context: RewardContext) -> float:
        cfg = self.config
        effective = 0.0
        for sid in slot_ids(context):
            if stage_after(context, sid) in RENTED_STAGES:
                alpha = context.alphas_after.get(sid, 0.0)
                params = context.seed_params.get(sid, 0)
                effective += cfg.seed_overhead * context.host_params + alpha * params
        growth = param_ratio(effective, context.host_params)
        return log_rent(growth, weight=cfg.rent_weight, cap=cfg.max_rent)

    def _alpha_shock(self, context: RewardContext) -> float:
        cfg = self.config
        shock = 0.0
        for sid in {**context.alphas_before, **context.alphas_after}:
            change = context.alphas_after.get(sid, 0.0) - context.alphas_before.get(sid, 0.0)
            shock += (
                change * change * param_ratio(context.seed_params.get(sid, 0), context.host_params)
            )
        return -min(cfg.alpha_shock_weight * shock, cfg.max_alpha_shock)

    def _capacity_rent(self, context: RewardContext) -> float:
        cfg = self.config
        stages = [stage_after(context, sid) for sid in slot_ids(context)]
        occupied = sum(1 for s in stages if s in LIVE_STAGES or s is Stage.FOSSILIZED)
        fossils = sum(1 for s in stages if s is Stage.FOSSILIZED)
        return -(cfg.capacity_rent * max(0, occupied - cfg.free_seeds) + cfg.fossil_rent * fossils)

    def _action_shaping(
        self, op: Op, target: SlotView | None, context: RewardContext, cf: float | None
    ) -> float:
        cfg = self.config
        if op is Op.GERMINATE:
            if target is not None and target.stage is not Stage.DORMANT:
                return -0.3
            if cfg.disable_pbrs:
                return 0.0
            # The germination bonus is paid in full by ``pbrs``; early germinations give back
            # the part the timing discount withholds.
            bonus = cfg.pbrs_weight * self.gamma * STAGE_POTENTIALS[Stage.GERMINATED]
            discount = timing_discount(
                context.epoch,
                epochs=cfg.early_germination_epochs,
                floor=cfg.early_germination_floor,
            )
            return -bonus * (1.0 - discount)
        if op is Op.FOSSILIZE:
            return self._fossilize_shaping(target, cf)
        if op is Op.PRUNE:
            return self._prune_shaping(target, context)
        if op is Op.ADVANCE and target is not None and target.stage is Stage.TRAINING:
            return -0.1
        return 0.0

    def _fossilize_shaping(self, target: SlotView | None, cf: float | None) -> float:
        if target is None or target.stage is not Stage.HOLDING or cf is None:
            return -1.0
        c = target.contribution
        if cf < 0:
            ransom = c is not None and c > RANSOM_CONTRIBUTION and cf < RANSOM_CF
            return -0.5 - min(0.2 * abs(cf), 1.0) - (0.3 if ransom else 0.0)
        if c is not None and c >= self.config.fossilize_min_contribution:
            return (0.5 + 0.1 * c) * self._legitimacy(target)
        return -0.2

    def _prune_shaping(self, target: SlotView | None, context: RewardContext) -> float:
        if target is None or target.stage is Stage.DORMANT:
            return -0.2
        if target.stage is Stage.FOSSILIZED:
            return -1.0
        age = seed_age(context, target.slot_id) or 0
        c = target.contribution
        # A clearly harmful seed may go early (less credit when very young); otherwise an
        # early prune is judged before the seed had a chance.
        if c is not None and c < -0.5:
            return 0.15 - (0.1 if age < 3 else 0.0)
        min_age = self.config.min_prune_age
        if age < min_age:
            return -0.3 * (min_age - age)
        if c is None:
            return 0.0
        if c < 0:
            return 0.1
        return max(-0.3 - 0.05 * c, -0.9)
