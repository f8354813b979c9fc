"""``esper.policies.lstm``: the recurrent actor-critic as an esper controller.

`LSTMPolicy` adapts `esper_plugins.policies.lstm_network.RecurrentActorCritic` to the
`esper.contracts.policy.Policy` contract: each epoch `LSTMPolicy.decide` encodes the env's `Signals`
(`esper.rl.observation`), masks the impossible actions (`esper.rl.action_space`), takes one step of
the network with the LSTM state it kept from the previous epoch, and returns the chosen
`esper.contracts.actions.Action`. `LSTMPolicy.reset` starts a new episode from a zero state.

The network is built on the first decision, when the slot count is known; its initial weights
depend only on ``init_seed`` (or come from ``weights``). `LSTMPolicy.state_dict` holds the
weights and the LSTM state, so a checkpointed run resumes with the same controller in the
same state.

Untrained, the controller is close to uniform over the valid actions (with the probability
floors): it exercises the whole action space, which is what a PPO agent starts from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from esper.plugin import (
    HEADS,
    Action,
    ActionMasks,
    ActionSpace,
    BlueprintCatalog,
    CheckpointError,
    Decision,
    EsperError,
    Evaluation,
    Hidden,
    Observation,
    ObservationBuilder,
    Signals,
    TrainablePolicy,
    forward_flops,
    load_weights_only,
)
from esper_plugins.policies.config import LSTMConfig
from esper_plugins.policies.lstm_network import RecurrentActorCritic

#: Version of `LSTMPolicy.state_dict`'s layout.
STATE_SCHEMA = 1


class LSTMPolicy(TrainablePolicy):
    def __init__(self, config: LSTMConfig | None = None, *, catalog: BlueprintCatalog) -> None:
        self.config = config or LSTMConfig()
        try:
            self.device = torch.device(self.config.device)
        except RuntimeError as exc:
            raise EsperError(f"config.policy.device: {exc}") from None
        self.blueprint_ids = tuple(catalog.ids)
        self.blueprint_names = tuple(catalog.names)
        self._network: RecurrentActorCritic | None = None
        self._space: ActionSpace | None = None
        self.builder: ObservationBuilder | None = None
        self.slot_ids: tuple[str, ...] = ()
        self.hidden: Hidden | None = None
        self._decision_flops: int | None = None

    # -- the network ----------------------------------------------------------------------------

    @property
    def network(self) -> RecurrentActorCritic:
        if self._network is None:
            raise EsperError("the LSTM controller is not built yet (it needs the slot ids)")
        return self._network

    @property
    def space(self) -> ActionSpace:
        if self._space is None:
            raise EsperError("the LSTM controller is not built yet (it needs the slot ids)")
        return self._space

    @property
    def built(self) -> bool:
        return self._network is not None

    def build(self, slot_ids: Sequence[str]) -> RecurrentActorCritic:
        """Create the network for these slots (done by the first `decide`; idempotent)."""
        if self._network is not None:
            if tuple(slot_ids) != self.slot_ids:
                raise EsperError(
                    f"the LSTM controller was built for slots {list(self.slot_ids)}, "
                    f"not {list(slot_ids)}"
                )
            return self._network
        cfg = self.config
        self.slot_ids = tuple(slot_ids)
        self._space = ActionSpace(len(self.slot_ids), self.blueprint_ids, self.blueprint_names)
        self.builder = ObservationBuilder(
            self.blueprint_ids, len(self.slot_ids), device=self.device
        )
        floors = cfg.head_floors()
        # Initial weights from their own seed: they do not depend on (or disturb) whoever's
        # random stream is current.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.init_seed)
            network = RecurrentActorCritic(
                self._space,
                hidden_dim=cfg.hidden_dim,
                feature_dim=cfg.feature_dim,
                lstm_layers=cfg.lstm_layers,
                blueprint_embed_dim=cfg.blueprint_embed_dim,
                head_hidden=cfg.head_hidden,
                floors=[floors[name] for name in HEADS],
                validate=cfg.validate,
                normalize_observations=cfg.normalize_observations,
            )
        self._network = network.to(self.device).eval()
        if cfg.weights:
            self._load_weights(Path(cfg.weights))
        return self._network

    def _load_weights(self, path: Path) -> None:
        try:
            data = load_weights_only(path, what="weights file")
        except CheckpointError as exc:
            raise EsperError(f"config.policy.weights: {exc}") from None
        if isinstance(data, dict) and "network" in data:
            data = data["network"]
        self._load_network(data, str(path))

    def _load_network(self, weights: Any, source: str) -> None:
        if self._network is None or not isinstance(weights, dict):
            raise EsperError(f"{source}: not a state dict of the LSTM controller's network")
        try:
            self._network.load_state_dict(weights)
        except RuntimeError as exc:
            raise EsperError(
                f"{source}: the weights do not fit this controller ({len(self.slot_ids)} "
                f"slots, {len(self.blueprint_ids)} blueprints, config sizes): {exc}"
            ) from None

    # -- acting ---------------------------------------------------------------------------------

    def act(
        self,
        signals: Sequence[Signals],
        hidden: Hidden | None = None,
        *,
        deterministic: bool | None = None,
    ) -> Decision:
        """One decision for each of several envs in one batched network call.

        ``hidden`` is the batch's LSTM state (None: zero). Returns the actions, the
        `PolicyStep` (device tensors, including the new state) and the observation and masks
        the step used. Actions, log-probabilities and values reach the CPU in one transfer.
        """
        network = self.build(tuple(view.slot_id for view in signals[0].slots))
        if self.builder is None:
            raise RuntimeError("build() did not set up the observation builder")
        space = self.space
        obs, states = self.builder(signals)
        masks = space.masks(states, max_seeds=self.config.max_seeds)
        if hidden is None:
            hidden = network.initial_hidden(len(signals))
        if deterministic is None:
            deterministic = self.config.deterministic
        result = network.get_action(obs, masks, hidden, deterministic=deterministic)
        packed = torch.cat(
            [
                result.actions.double(),
                result.log_probs.sum(dim=-1, keepdim=True).double(),
                result.value[:, None].double(),
            ],
            dim=-1,
        ).tolist()  # the step's one device-to-host transfer
        actions = []
        for row in packed:
            heads = [int(v) for v in row[: len(HEADS)]]
            prob, value = math.exp(row[len(HEADS)]), row[len(HEADS) + 1]
            actions.append(
                space.to_action(heads, self.slot_ids, reason=f"lstm p={prob:.3f} V={value:.3f}")
            )
        return Decision(actions=actions, step=result, obs=obs, masks=masks)

    def initial_hidden(self, batch: int) -> Hidden:
        return self.network.initial_hidden(batch)

    def decision_flops(self) -> int:
        """One environment's step of the network (the action sampling is not counted), counted
        once on meta tensors; 0 before the first decision builds the network."""
        if self._network is None:
            return 0
        if self._decision_flops is None:
            net = self._network
            state = torch.zeros(net.lstm_layers, 1, net.hidden_dim)
            self._decision_flops = forward_flops(
                net,
                torch.zeros(1, 1, net.obs_size),
                torch.zeros(1, 1, net.num_slots, dtype=torch.long),
                (state, state),
            )
        return self._decision_flops

    def evaluate(self, obs: Observation, masks: ActionMasks, actions: torch.Tensor) -> Evaluation:
        return self.network.evaluate_actions(obs, masks, actions)

    def value_parameters(self) -> list[torch.nn.Parameter]:
        """The critic MLP (the LSTM trunk is shared with the action heads)."""
        return list(self.network.critic.parameters())

    def observe_rollout(self, obs: Observation, valid: torch.Tensor) -> None:
        """Fold the rollout's valid observations into the input normaliser (when on)."""
        norm = self.network.obs_norm
        if norm is not None:
            norm.update(obs.features[valid])

    def decide(self, signals: Signals) -> Action:
        decision = self.act([signals], self.hidden)
        self.hidden = decision.step.hidden
        return decision.actions[0]

    def reset(self) -> None:
        self.hidden = None

    # -- checkpoints ----------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        network = self._network
        return {
            "schema": STATE_SCHEMA,
            "slot_ids": list(self.slot_ids),
            "blueprint_ids": list(self.blueprint_ids),
            "network": None
            if network is None
            else {k: v.detach().cpu().clone() for k, v in network.state_dict().items()},
            "hidden": None
            if self.hidden is None
            else [self.hidden[0].cpu().clone(), self.hidden[1].cpu().clone()],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("schema") != STATE_SCHEMA:
            raise EsperError(
                f"LSTM controller state has schema {state.get('schema')!r}, expected {STATE_SCHEMA}"
            )
        if list(state["blueprint_ids"]) != list(self.blueprint_ids):
            raise EsperError(
                "the LSTM controller's checkpoint was taken with another blueprint catalogue: "
                f"{state['blueprint_ids']} vs {list(self.blueprint_ids)}"
            )
        if state["network"] is None:
            self.hidden = None
            return
        self.build(tuple(state["slot_ids"]))
        self._load_network(state["network"], "checkpoint")
        hidden = state["hidden"]
        self.hidden = (
            None
            if hidden is None
            else (hidden[0].to(self.device).clone(), hidden[1].to(self.device).clone())
        )
