"""The recurrent actor-critic behind ``esper.policies.lstm``.

Network (sizes from `esper_plugins.policies.config.LSTMConfig`)::

    blueprint indices [.., S] -> embedding (catalogue + "null" row) -> flatten [.., S*E]
    features [.., F] ++ embeddings -> Linear -> LayerNorm -> ReLU           (feature net)
        -> input projection (identity when the widths agree)
        -> per layer: x = x + LayerNorm(LSTM(x))                            (residual LSTM)
        -> one MLP per head (HEADS order): logits                            (actor)
        -> MLP with LayerNorms -> V(s)                                      (critic)

Initialisation: orthogonal weights (gain sqrt 2) and zero biases everywhere; LSTM weights
orthogonal with the forget-gate bias at 1 (remember by default); the last layer of every
action head has gain 0.01 (an untrained policy is near-uniform over the valid actions) and
the critic's last layer gain 0.1.

`RecurrentActorCritic.get_action` (rollout, one step for a batch of envs, inference mode) and
`RecurrentActorCritic.evaluate_actions` (update, a whole ``[envs, steps]`` rollout in one LSTM
call) share the masks, canonicalisation (`esper.rl.action_space.ActionSpace.head_masks`),
probability floors and `esper.rl.distributions.MaskedCategorical`, so their log-probabilities and
entropies are the same numbers.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from esper.plugin import (
    HEADS,
    ActionMasks,
    ActionSpace,
    Evaluation,
    Hidden,
    MaskedCategorical,
    Observation,
    PolicyStep,
    RunningMeanStd,
    check_heads,
    feature_size,
)

FORGET_GATE_BIAS = 1.0
HEAD_OUTPUT_GAIN = 0.01
VALUE_OUTPUT_GAIN = 0.1


def _init_linear(layer: nn.Linear, gain: float) -> None:
    nn.init.orthogonal_(layer.weight, gain=gain)
    nn.init.zeros_(layer.bias)


def _mlp(sizes: Sequence[int], out_gain: float, *, norm: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        linear = nn.Linear(a, b)
        last = i == len(sizes) - 2
        _init_linear(linear, out_gain if last else 2**0.5)
        layers.append(linear)
        if not last:
            if norm:
                layers.append(nn.LayerNorm(b))
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class BlueprintEmbedding(nn.Module):
    """One learned row per catalogue entry plus a "null" row for index -1 (no seed)."""

    def __init__(self, num_blueprints: int, dim: int) -> None:
        super().__init__()
        self.null_index = num_blueprints
        self.table = nn.Embedding(num_blueprints + 1, dim)
        nn.init.normal_(self.table.weight, std=0.02)

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.table(torch.where(index < 0, self.null_index, index))
        return out


class ResidualLSTM(nn.Module):
    """``layers`` single-layer LSTMs, each followed by LayerNorm and a residual add."""

    def __init__(self, input_dim: int, hidden_dim: int, layers: int) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.layers = layers
        self.proj: nn.Module = (
            nn.Identity() if input_dim == hidden_dim else nn.Linear(input_dim, hidden_dim)
        )
        if isinstance(self.proj, nn.Linear):
            _init_linear(self.proj, 1.0)
        lstms = [nn.LSTM(hidden_dim, hidden_dim, batch_first=True) for _ in range(layers)]
        self.lstms = nn.ModuleList(lstms)
        self.norms = nn.ModuleList(nn.LayerNorm(hidden_dim) for _ in range(layers))
        h = hidden_dim
        for lstm in lstms:
            for name, param in lstm.named_parameters():
                if name.startswith("weight"):
                    # Per gate block, so each gate's recurrent map is itself orthogonal.
                    for gate in range(4):
                        nn.init.orthogonal_(param.data[gate * h : (gate + 1) * h])
                else:
                    nn.init.zeros_(param)
            # PyTorch's gate order is input, forget, cell, output; one bias vector suffices.
            nn.init.constant_(lstm.get_parameter("bias_ih_l0")[h : 2 * h], FORGET_GATE_BIAS)

    def forward(self, x: torch.Tensor, hidden: Hidden) -> tuple[torch.Tensor, Hidden]:
        h0, c0 = hidden
        x = self.proj(x)
        hs: list[torch.Tensor] = []
        cs: list[torch.Tensor] = []
        for i, (lstm, norm) in enumerate(zip(self.lstms, self.norms, strict=True)):
            out, (h, c) = lstm(x, (h0[i : i + 1], c0[i : i + 1]))
            x = x + norm(out)
            hs.append(h)
            cs.append(c)
        return x, (torch.cat(hs), torch.cat(cs))


class RecurrentActorCritic(nn.Module):
    """Factored recurrent actor-critic over an `ActionSpace` (any slot count and catalogue)."""

    def __init__(
        self,
        space: ActionSpace,
        *,
        hidden_dim: int = 128,
        feature_dim: int = 128,
        lstm_layers: int = 1,
        blueprint_embed_dim: int = 4,
        head_hidden: int = 0,
        floors: Sequence[float] | None = None,
        validate: bool = True,
        normalize_observations: bool = False,
    ) -> None:
        super().__init__()
        self.space = space
        self.num_slots = space.num_slots
        self.obs_size = feature_size(space.num_slots)
        self.hidden_dim = hidden_dim
        self.lstm_layers = lstm_layers
        self.validate = validate
        self.floors = tuple(float(f) for f in (floors or [0.0] * len(HEADS)))
        if len(self.floors) != len(HEADS):
            raise ValueError(f"floors needs one value per head ({len(HEADS)})")
        # Running statistics of the features, in the state dict with the weights they go with.
        self.obs_norm = RunningMeanStd((self.obs_size,)) if normalize_observations else None
        self.blueprint_embedding = BlueprintEmbedding(space.sizes["blueprint"], blueprint_embed_dim)
        in_dim = self.obs_size + space.num_slots * blueprint_embed_dim
        linear = nn.Linear(in_dim, feature_dim)
        _init_linear(linear, 2**0.5)
        self.feature_net = nn.Sequential(linear, nn.LayerNorm(feature_dim), nn.ReLU())
        self.lstm = ResidualLSTM(feature_dim, hidden_dim, lstm_layers)
        width = head_hidden or max(hidden_dim // 2, 1)
        heads: dict[str, nn.Module] = {}
        for name in HEADS:
            size = space.sizes[name]
            if name == "blueprint":
                heads[name] = _mlp([hidden_dim, hidden_dim, width, size], HEAD_OUTPUT_GAIN)
            else:
                heads[name] = _mlp([hidden_dim, width, size], HEAD_OUTPUT_GAIN)
        self.heads = nn.ModuleDict(heads)
        self.critic = _mlp(
            [hidden_dim, max(hidden_dim // 2, 1), max(hidden_dim // 4, 1), 1],
            VALUE_OUTPUT_GAIN,
            norm=True,
        )

    # -- state --------------------------------------------------------------------------------

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.inference_mode()
    def initial_hidden(self, batch: int) -> Hidden:
        """Zero LSTM state ``([layers, batch, hidden], same)`` for rollouts.

        Warning: these are inference-mode tensors (created under ``torch.inference_mode``):
        they are not differentiable and cannot be saved for backward. For training, call
        `evaluate_actions` with ``hidden=None``, which creates fresh differentiable state.
        """
        shape = (self.lstm_layers, batch, self.hidden_dim)
        device = self._device()
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    # -- network ------------------------------------------------------------------------------

    def forward(
        self, features: torch.Tensor, blueprints: torch.Tensor, hidden: Hidden
    ) -> tuple[tuple[torch.Tensor, ...], torch.Tensor, Hidden]:
        """Logits per head ``[envs, steps, size]``, V(s) ``[envs, steps]`` and the new state."""
        if self.obs_norm is not None:
            features = self.obs_norm(features)
        embedded = self.blueprint_embedding(blueprints).flatten(-2)
        x = self.feature_net(torch.cat([features, embedded.to(features.dtype)], dim=-1))
        out, new_hidden = self.lstm(x, hidden)
        logits = tuple(self.heads[name](out) for name in HEADS)
        value = self.critic(out).squeeze(-1)
        return logits, value, new_hidden

    # -- acting -------------------------------------------------------------------------------

    @torch.inference_mode()
    def get_action(
        self,
        obs: Observation,
        masks: ActionMasks,
        hidden: Hidden,
        deterministic: bool = False,
    ) -> PolicyStep:
        """Sample (or, ``deterministic``, take the mode of) one action per env.

        ``obs`` is ``[envs, ...]``, ``masks`` ``[envs, ...]`` (`ActionSpace.masks`). The op is
        chosen first; every other head is then drawn from the same LSTM state with its mask
        canonicalised for that op. Returns device tensors: move ``actions`` to the CPU in one
        transfer (``step.actions.tolist()``), not head by head.
        """
        # Through __call__, not .forward: a compiled network (``--compile``) compiles __call__.
        logits, value, new_hidden = self(obs.features[:, None], obs.blueprints[:, None], hidden)
        logits = tuple(x[:, 0] for x in logits)
        op_dist = MaskedCategorical(logits[0], masks.op, floor=self.floors[0], validate=False)
        op = op_dist.mode() if deterministic else op_dist.sample()
        head_masks = self.space.head_masks(masks, op)
        actions = [op]
        log_probs = [op_dist.log_prob(op)]
        entropies = [op_dist.entropy()]
        for i, mask in enumerate(head_masks, start=1):
            dist = MaskedCategorical(logits[i], mask, floor=self.floors[i], validate=False)
            action = dist.mode() if deterministic else dist.sample()
            actions.append(action)
            log_probs.append(dist.log_prob(action))
            entropies.append(dist.entropy())
        if self.validate:
            check_heads(list(logits), [masks.op, *head_masks])
        return PolicyStep(
            actions=torch.stack(actions, dim=-1),
            log_probs=torch.stack(log_probs, dim=-1),
            entropies=torch.stack(entropies, dim=-1),
            value=value[:, 0],
            hidden=new_hidden,
            op_logits=logits[0],
        )

    def evaluate_actions(
        self,
        obs: Observation,
        masks: ActionMasks,
        actions: torch.Tensor,
        hidden: Hidden | None = None,
    ) -> Evaluation:
        """Log-probabilities, entropies and values of stored ``actions`` ``[envs, steps, heads]``.

        The whole rollout runs through the LSTM in one call. Each row is one episode from
        ``hidden`` (``None``: a fresh, differentiable zero state; inference-mode state from
        `initial_hidden` is copied into ordinary tensors first so gradients can flow).
        Nothing is checked on the host here (no sync): the masks were checked when the
        actions were taken, and a non-finite logit makes the loss non-finite, which the
        agent's gate catches.
        """
        envs = obs.features.shape[0]
        if hidden is None:
            shape = (self.lstm_layers, envs, self.hidden_dim)
            device = self._device()
            hidden = (torch.zeros(shape, device=device), torch.zeros(shape, device=device))
        elif hidden[0].is_inference() and not torch.is_inference_mode_enabled():
            hidden = (hidden[0].clone(), hidden[1].clone())
        logits, values, _ = self(obs.features, obs.blueprints, hidden)
        op = actions[..., 0]
        head_masks = self.space.head_masks(masks, op)
        all_masks = [masks.op, *head_masks]
        log_probs = []
        entropies = []
        for i, mask in enumerate(all_masks):
            dist = MaskedCategorical(logits[i], mask, floor=self.floors[i], validate=False)
            log_probs.append(dist.log_prob(actions[..., i]))
            entropies.append(dist.entropy())
        return Evaluation(
            log_probs=torch.stack(log_probs, dim=-1),
            entropies=torch.stack(entropies, dim=-1),
            values=values,
            relevance=self.space.relevance(op),
        )
