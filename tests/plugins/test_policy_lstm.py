"""The LSTM controller: network, rollout/update parity, hidden state, compile, plugins, engine."""

from __future__ import annotations

import io
import math

import pytest
import torch
from hypothesis import given, settings

from esper.contracts.actions import Op
from esper.contracts.policy import Policy
from esper.engine.environment import Environment
from esper.errors import EsperError
from esper.growth.catalog import BlueprintCatalog
from esper.lifecycle import Stage
from esper.plugin import PolicySpec, hookimpl
from esper.registry import Registries
from esper.rl.action_space import HEADS, ActionMasks, ActionSpace
from esper.rl.observation import Observation, ObservationBuilder
from esper_plugins.policies.config import DEFAULT_FLOORS, LSTMConfig
from esper_plugins.policies.lstm import LSTMPolicy
from esper_plugins.policies.lstm_network import RecurrentActorCritic

from support.envs import tiny_env
from support.signals import signal_batches, signals, view
from support.tiny import TinyImageTask

SLOTS = ("r0c0", "r0c1", "r0c2")


@pytest.fixture(scope="module")
def catalog(registries) -> BlueprintCatalog:
    return BlueprintCatalog(registries["blueprints"], "cnn")


def small_policy(catalog, **options) -> LSTMPolicy:
    options.setdefault("hidden_dim", 32)
    options.setdefault("feature_dim", 32)
    return LSTMPolicy(LSTMConfig(**options), catalog=catalog)


def env_signals(catalog, env: int, epoch: int):
    """A varied but deterministic slot picture per env and epoch."""
    stages = [Stage.DORMANT, Stage.TRAINING, Stage.BLENDING, Stage.HOLDING, Stage.GERMINATED]
    views = []
    for k, sid in enumerate(SLOTS):
        stage = stages[(env + epoch + k) % len(stages)]
        views.append(
            view(
                sid,
                stage,
                blueprint=catalog.ids[(env + k) % len(catalog)],
                alpha_holding=(epoch + k) % 2 == 0,
                epochs_total=epoch,
                contribution=None if epoch % 3 else 0.5 * k,
            )
        )
    return signals(
        views,
        epoch=epoch,
        max_epochs=40,
        val_loss=2.0 - 0.01 * epoch,
        val_accuracy=20.0 + epoch,
        plateau_epochs=epoch % 4,
        loss_history=tuple(2.0 - 0.01 * e for e in range(max(0, epoch - 4), epoch + 1)),
        accuracy_history=tuple(20.0 + e for e in range(max(0, epoch - 4), epoch + 1)),
    )


def rollout(policy: LSTMPolicy, catalog, envs: int, steps: int):
    """get_action step by step; returns the stacked inputs and the per-step results."""
    network = policy.build(SLOTS)
    hidden = network.initial_hidden(envs)
    obs_steps, mask_steps, results = [], [], []
    for t in range(steps):
        obs, states = policy.builder([env_signals(catalog, e, t) for e in range(envs)])
        masks = policy.space.masks(states)
        step = network.get_action(obs, masks, hidden)
        hidden = step.hidden
        obs_steps.append(obs)
        mask_steps.append(masks)
        results.append(step)
    obs = Observation(*(torch.stack(x, dim=1) for x in zip(*obs_steps, strict=True)))
    masks = ActionMasks(*(torch.stack(x, dim=1) for x in zip(*mask_steps, strict=True)))
    stacked = {
        name: torch.stack([getattr(r, name) for r in results], dim=1)
        for name in ("actions", "log_probs", "entropies", "value")
    }
    return obs, masks, stacked


# -- the network ------------------------------------------------------------------------------


def test_network_initialisation(catalog) -> None:
    torch.manual_seed(0)
    space = ActionSpace(3, catalog.ids, catalog.names)
    net = RecurrentActorCritic(space, hidden_dim=16, feature_dim=24, lstm_layers=2)
    h = 16
    for lstm in net.lstm.lstms:
        assert torch.equal(lstm.bias_ih_l0[h : 2 * h], torch.ones(h))
        assert torch.count_nonzero(lstm.bias_ih_l0[:h]) == 0
        assert torch.count_nonzero(lstm.bias_hh_l0) == 0
        for gate in range(4):
            w = lstm.weight_hh_l0[gate * h : (gate + 1) * h]
            torch.testing.assert_close(w @ w.T, torch.eye(h), atol=1e-5, rtol=0)
    for name in HEADS:
        last = net.heads[name][-1]
        assert last.out_features == space.sizes[name]
        sv = torch.linalg.svdvals(last.weight)
        torch.testing.assert_close(sv, torch.full_like(sv, 0.01), atol=1e-5, rtol=0)
    assert net.blueprint_embedding.table.num_embeddings == len(catalog) + 1
    assert isinstance(net.feature_net[1], torch.nn.LayerNorm)
    assert [type(n) for n in net.lstm.norms] == [torch.nn.LayerNorm] * 2
    sv = torch.linalg.svdvals(net.critic[-1].weight)
    torch.testing.assert_close(sv, torch.full_like(sv, 0.1), atol=1e-5, rtol=0)


def test_untrained_policy_is_near_uniform_over_valid_actions(catalog) -> None:
    policy = small_policy(catalog, floors=dict.fromkeys(DEFAULT_FLOORS, 0.0))
    _obs, _, out = rollout(policy, catalog, envs=2, steps=3)
    entropies = out["entropies"][..., 0]  # the op head: several ops are always valid
    assert (entropies > 0.99).all()


# -- rollout / update parity ------------------------------------------------------------------


def _both_legs(policy, catalog, amp, *, envs: int, steps: int):
    """The rollout leg (inference mode) and the update leg (autograd), each under its own
    autocast region, as in training: autocast caches its casts of the weights within a region,
    and on torch 2.10 (not 2.13) a cast made in inference mode was reused by the autograd leg and
    failed ("Inference tensors cannot be saved for backward")."""

    def autocast():
        return torch.autocast("cpu", dtype=amp or torch.float32, enabled=amp is not None)

    with autocast():
        obs, masks, out = rollout(policy, catalog, envs=envs, steps=steps)
    with autocast():
        evaluation = policy.network.evaluate_actions(obs, masks, out["actions"])
    return obs, masks, out, evaluation


@pytest.mark.parametrize("amp", [None, torch.bfloat16])
def test_rollout_and_update_give_the_same_log_probs_and_entropies(catalog, amp) -> None:
    policy = small_policy(catalog)
    _obs, _masks, out, evaluation = _both_legs(policy, catalog, amp, envs=3, steps=12)
    # One LSTM call over the sequence vs step by step: equal up to float32 rounding.
    tol = 1e-6 if amp is None else 1e-2
    torch.testing.assert_close(evaluation.log_probs, out["log_probs"], atol=tol, rtol=0)
    torch.testing.assert_close(evaluation.entropies, out["entropies"], atol=tol, rtol=0)
    torch.testing.assert_close(evaluation.values, out["value"], atol=tol, rtol=0)
    assert evaluation.log_probs.dtype == torch.float32
    # Heads the op does not use have exactly one value: log-prob 0 on both legs.
    irrelevant = ~evaluation.relevance
    assert (evaluation.log_probs[irrelevant] == 0).all()
    assert (out["log_probs"][irrelevant] == 0).all()


@pytest.mark.parametrize("amp", [None, torch.bfloat16])
def test_a_single_step_is_bitwise_identical_on_both_legs(catalog, amp) -> None:
    policy = small_policy(catalog)
    _, _, out, evaluation = _both_legs(policy, catalog, amp, envs=4, steps=1)
    assert torch.equal(evaluation.log_probs, out["log_probs"])
    assert torch.equal(evaluation.entropies, out["entropies"])


class ThreeBlueprints:
    ids = (
        "esper.blueprints.cnn:conv_light",
        "esper.blueprints.cnn:noop",
        "esper.blueprints.cnn:norm",
    )
    names = ("conv_light", "noop", "norm")


_POLICIES: dict[int, LSTMPolicy] = {}


@settings(max_examples=25, deadline=None)
@given(batch=signal_batches(["esper.blueprints.cnn:conv_light", "esper.blueprints.cnn:norm"]))
def test_sampled_actions_always_respect_the_masks(batch) -> None:
    slot_ids = [v.slot_id for v in batch[0].slots]
    if len(slot_ids) not in _POLICIES:
        config = LSTMConfig(hidden_dim=8, feature_dim=8)
        _POLICIES[len(slot_ids)] = LSTMPolicy(config, catalog=ThreeBlueprints())
    policy = _POLICIES[len(slot_ids)]
    network = policy.build(slot_ids)
    obs, states = policy.builder(batch)
    masks = policy.space.masks(states)
    step = network.get_action(obs, masks, network.initial_hidden(len(batch)))
    for e, row in enumerate(step.actions.tolist()):
        op = row[0]
        assert masks.op[e, op]
        if op != Op.WAIT:
            assert masks.slot_by_op[e, op, row[1]]
        if op == Op.GERMINATE:
            assert row[2] != 1  # never NOOP
        policy.space.to_action(row, slot_ids)  # always representable
    assert torch.isfinite(step.log_probs).all()
    assert (step.log_probs <= 0).all()


# -- hidden state (T1-4, T3-3) ----------------------------------------------------------------


def test_initial_hidden_is_inference_mode_and_update_state_is_differentiable(catalog) -> None:
    policy = small_policy(catalog)
    obs, masks, out = rollout(policy, catalog, envs=2, steps=4)
    network = policy.network
    h, c = network.initial_hidden(2)
    assert h.is_inference()
    assert c.is_inference()
    assert not h.requires_grad
    evaluation = network.evaluate_actions(obs, masks, out["actions"])  # fresh state
    (evaluation.log_probs.sum() + evaluation.values.sum()).backward()
    lstm = network.lstm.lstms[0]
    assert lstm.weight_hh_l0.grad is not None
    assert lstm.weight_hh_l0.grad.abs().sum() > 0
    network.zero_grad()
    # Handing it the rollout's inference-mode state by mistake still trains.
    evaluation = network.evaluate_actions(obs, masks, out["actions"], hidden=(h, c))
    evaluation.log_probs.sum().backward()
    assert lstm.weight_ih_l0.grad.abs().sum() > 0


def test_the_lockstep_loop_updates_the_state_of_acting_envs_in_place(catalog) -> None:
    # T3-3: the recurrent state of every environment lives in one pair of tensors; after a
    # decision, only the rows of the environments that acted change, written in place.
    from esper.engine.lockstep import _select, _store

    policy = small_policy(catalog)
    network = policy.build(SLOTS)
    hidden = network.initial_hidden(4)
    pointers = (hidden[0].data_ptr(), hidden[1].data_ptr())
    obs, states = policy.builder([env_signals(catalog, e, 5) for e in range(4)])
    _store(
        hidden, torch.arange(4), network.get_action(obs, policy.space.masks(states), hidden).hidden
    )
    before = (hidden[0].clone(), hidden[1].clone())
    active = [1, 3]  # envs 0 and 2 have finished (or were rolled back)
    index, state = _select(hidden, active)
    assert torch.equal(state[0], before[0][:, active])
    obs, states = policy.builder([env_signals(catalog, e, 6) for e in active])
    new = network.get_action(obs, policy.space.masks(states), state).hidden
    _store(hidden, index, new)
    assert (hidden[0].data_ptr(), hidden[1].data_ptr()) == pointers
    for now, old, fresh in zip(hidden, before, new, strict=True):
        assert torch.equal(now[:, [0, 2]], old[:, [0, 2]])
        assert torch.equal(now[:, active], fresh)
        assert not torch.equal(now[:, active], old[:, active])


def test_batched_step_equals_single_env_steps(catalog) -> None:
    policy = small_policy(catalog, deterministic=True)
    batch = [env_signals(catalog, e, 7) for e in range(4)]
    decision = policy.act(batch)
    actions, step = decision.actions, decision.step
    for e, sig in enumerate(batch):
        solo = policy.act([sig])
        alone, single = solo.actions, solo.step
        assert alone[0].op is actions[e].op
        assert alone[0].slot == actions[e].slot
        torch.testing.assert_close(single.log_probs[0], step.log_probs[e], atol=1e-6, rtol=0)


# -- torch.compile ----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["eager", pytest.param("inductor", marks=pytest.mark.slow)])
def test_get_action_works_under_torch_compile(catalog, backend) -> None:
    torch._dynamo.reset()
    policy = small_policy(catalog, validate=False)
    network = policy.build(SLOTS)
    obs, states = policy.builder([env_signals(catalog, e, 3) for e in range(2)])
    masks = policy.space.masks(states)
    hidden = network.initial_hidden(2)
    eager = network.get_action(obs, masks, hidden, deterministic=True)
    compiled = torch.compile(network.get_action, backend=backend)
    result = compiled(obs, masks, hidden, deterministic=True)
    assert torch.equal(result.actions, eager.actions)
    torch.testing.assert_close(result.log_probs, eager.log_probs, atol=1e-5, rtol=0)
    sampled = compiled(obs, masks, hidden)
    assert masks.op.gather(1, sampled.actions[:, :1]).all()


# -- as an esper controller --------------------------------------------------------------------


def make_env(registries, policy: Policy, seed: int = 0) -> Environment:
    return tiny_env(
        registries,
        task=TinyImageTask(n_train=64, n_val=32),
        policy=policy,
        seed=seed,
        max_epochs=10,
        min_training_epochs=1,
    )


def test_the_registered_lstm_runs_an_environment_and_resumes_exactly(registries) -> None:
    entry = registries["policies"].get("lstm")
    assert entry.spec.trainable
    catalog = BlueprintCatalog(registries["blueprints"], "cnn")
    config = LSTMConfig(hidden_dim=16, feature_dim=16)
    env = make_env(registries, entry.build(config, catalog=catalog))
    results = [env.step() for _ in range(2)]
    assert all(r.action.reason.startswith("lstm p=") for r in results)
    assert env.policy.hidden is not None
    state = env.state_dict()
    assert set(state["policy"]) >= {"network", "hidden"}
    buffer = io.BytesIO()
    torch.save(state, buffer)  # as a checkpoint does, before training moves on
    later = [env.step().action for _ in range(2)]

    resumed = make_env(registries, entry.build(config, catalog=catalog))
    buffer.seek(0)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    again = [resumed.step().action for _ in range(2)]
    assert again == later
    env.policy.reset()
    assert env.policy.hidden is None


def test_policy_state_refuses_another_catalogue_and_weights_load_from_a_file(
    registries, tmp_path
) -> None:
    cnn = BlueprintCatalog(registries["blueprints"], "cnn")
    policy = small_policy(cnn)
    policy.decide(env_signals(cnn, 0, 2))
    state = policy.state_dict()
    other = small_policy(BlueprintCatalog(registries["blueprints"], "transformer"))
    with pytest.raises(EsperError, match="another blueprint catalogue"):
        other.load_state_dict(state)
    path = tmp_path / "policy.pt"
    torch.save(state, path)
    loaded = small_policy(cnn, weights=str(path), init_seed=7)
    loaded.build(SLOTS)
    for key, value in policy.network.state_dict().items():
        assert torch.equal(loaded.network.state_dict()[key], value)
    wrong = small_policy(cnn, weights=str(path), hidden_dim=8)
    with pytest.raises(EsperError, match="do not fit"):
        wrong.build(SLOTS)


class RandomPolicy(Policy):
    """A third-party controller: a uniformly random valid action, from the public API only."""

    def __init__(self, config: object = None, *, catalog: BlueprintCatalog) -> None:
        self.catalog = catalog
        self.generator = torch.Generator().manual_seed(0)

    def decide(self, signals):
        slot_ids = [v.slot_id for v in signals.slots]
        space = ActionSpace.from_catalog(self.catalog, len(slot_ids))
        _, states = ObservationBuilder(self.catalog.ids, len(slot_ids))([signals])
        masks = space.masks(states)
        op = torch.multinomial(masks.op[0].float(), 1, generator=self.generator)
        heads = space.head_masks(masks, op)
        row = [int(op)] + [
            int(torch.multinomial(m[0].float(), 1, generator=self.generator)) for m in heads
        ]
        return space.to_action(row, slot_ids, reason="random")


def test_a_third_party_policy_plugs_in_through_the_hook(esper_manager, register_plugin) -> None:
    class RandomPlugin:
        @hookimpl
        def esper_policies(self):
            yield PolicySpec(name="random", factory=RandomPolicy, summary="Random valid actions.")

    register_plugin(RandomPlugin(), name="randomplug")
    registries = Registries(esper_manager)
    catalog = BlueprintCatalog(registries["blueprints"], "cnn")
    policy = registries["policies"].get("random").build(None, catalog=catalog)
    env = make_env(registries, policy)
    results = [env.step() for _ in range(4)]
    assert all(r.action.reason == "random" for r in results)
    ops = [r.action.op for r in results]
    assert any(op is not Op.WAIT for op in ops)
    # Masked actions are physically possible: the lifecycle accepts every non-gated one.
    for r in results:
        if r.action.op in (Op.GERMINATE, Op.PRUNE, Op.SET_ALPHA_TARGET):
            assert r.action_ok


def test_decide_gives_a_valid_action_with_probability_reason(catalog) -> None:
    policy = small_policy(catalog, deterministic=True)
    action = policy.decide(env_signals(catalog, 1, 4))
    prob = float(action.reason.split("p=")[1].split()[0])
    assert 0.0 < prob <= 1.0
    assert not math.isnan(prob)


def test_config_validates_floors_max_seeds_and_device() -> None:
    assert LSTMConfig(floors={"op": 0.0}).head_floors() == {**DEFAULT_FLOORS, "op": 0.0}
    with pytest.raises(ValueError, match="unknown head"):
        LSTMConfig(floors={"opp": 0.1})
    with pytest.raises(ValueError, match="within"):
        LSTMConfig(floors={"op": 1.0})
    with pytest.raises(ValueError, match="max_seeds"):
        LSTMConfig(max_seeds=0)
    with pytest.raises(ValueError, match="device"):
        LSTMConfig(device="gpu")


def test_max_seeds_masks_germination_at_the_cap(catalog) -> None:
    policy = small_policy(catalog, max_seeds=1, deterministic=True)
    busy = signals([view("r0c0", Stage.FOSSILIZED), view("r0c1"), view("r0c2")])
    for _ in range(5):
        assert policy.decide(busy).op is not Op.GERMINATE
    _, states = policy.builder([busy])
    assert not policy.space.masks(states, max_seeds=1).op[0, Op.GERMINATE]
    assert policy.space.masks(states, max_seeds=2).op[0, Op.GERMINATE]


def test_a_decision_costs_one_step_of_every_matmul_in_the_network(catalog) -> None:
    """2 FLOPs per weight of every linear layer and LSTM (one token, one environment); the
    blueprint embedding is a lookup and costs nothing. 0 before the network exists."""
    policy = small_policy(catalog)
    assert policy.decision_flops() == 0
    network = policy.build(SLOTS)
    weights = sum(
        p.numel()
        for name, p in network.named_parameters()
        if p.dim() == 2 and "embedding" not in name
    )
    assert policy.decision_flops() == 2 * weights
