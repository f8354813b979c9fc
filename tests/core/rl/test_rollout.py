"""The rollout buffer: storage, padding, episode ends, GAE and advantage normalisation."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.overrides import TorchFunctionMode

from esper.contracts.actions import Op
from esper.contracts.trainable import Decision, PolicyStep
from esper.rl.action_space import HEADS, ActionMasks, ActionSpace
from esper.rl.observation import Observation, feature_size
from esper.rl.rollout import RolloutBuffer, RolloutError, normalize_advantages

SLOTS = 3
BLUEPRINTS = ("a:noop", "a:conv", "a:attn")
OBS = feature_size(SLOTS)


def space() -> ActionSpace:
    return ActionSpace(SLOTS, BLUEPRINTS)


def decision(sp: ActionSpace, k: int, seed: int, *, log_prob: float = -0.5) -> Decision:
    """A hand-made decision for ``k`` envs (all-valid masks, random head indices)."""
    g = torch.Generator().manual_seed(seed)
    masks = ActionMasks(
        op=torch.ones(k, 6, dtype=torch.bool),
        slot_by_op=torch.ones(k, 6, SLOTS, dtype=torch.bool),
        **{n: torch.ones(k, sp.sizes[n], dtype=torch.bool) for n in HEADS[2:]},
    )
    actions = torch.stack([torch.randint(sp.sizes[n], (k,), generator=g) for n in HEADS], dim=-1)
    step = PolicyStep(
        actions=actions,
        log_probs=torch.full((k, len(HEADS)), log_prob) - torch.rand(k, len(HEADS), generator=g),
        entropies=torch.rand(k, len(HEADS), generator=g),
        value=torch.randn(k, generator=g),
        hidden=(torch.zeros(1, k, 4), torch.zeros(1, k, 4)),
        op_logits=torch.zeros(k, 6),
    )
    obs = Observation(
        features=torch.randn(k, OBS, generator=g),
        blueprints=torch.randint(-1, len(BLUEPRINTS), (k, SLOTS), generator=g),
    )
    return Decision(actions=[], step=step, obs=obs, masks=masks)


def filled(envs: int, steps: int, lengths: list[int], terminal: list[bool], seed: int = 0):
    sp = space()
    buf = RolloutBuffer(envs=envs, steps=steps, space=sp, obs_size=OBS)
    g = torch.Generator().manual_seed(seed)
    for t in range(steps):
        live = [e for e in range(envs) if t < lengths[e]]
        if not live:
            break
        buf.record(live, t, decision(sp, len(live), seed * 1000 + t))
        buf.set_rewards(live, t, torch.randn(len(live), generator=g).tolist())
    for e in range(envs):
        buf.end_episode(e, lengths[e] - 1, terminal=terminal[e])
    buf.set_bootstrap(list(range(envs)), torch.randn(envs, generator=g))
    return buf


def gae_reference(rewards, values, bootstrap, lengths, terminal, gamma, lam):
    """The textbook backward recursion, per env, in float64 Python."""
    advantages = torch.zeros(values.shape, dtype=torch.float64)
    for e, n in enumerate(lengths):
        gae = 0.0
        for t in reversed(range(n)):
            last = t == n - 1
            nonterminal = 0.0 if (last and terminal[e]) else 1.0
            next_value = float(bootstrap[e]) if last else float(values[e, t + 1])
            delta = float(rewards[e, t]) + gamma * next_value * nonterminal - float(values[e, t])
            gae = delta + gamma * lam * nonterminal * gae
            advantages[e, t] = gae
    return advantages


# -- storage (invariant 26) --------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    envs=st.integers(1, 4),
    steps=st.integers(1, 8),
    seed=st.integers(0, 10_000),
    data=st.data(),
)
def test_buffer_stores_rewards_and_actions_exactly(envs, steps, seed, data) -> None:
    lengths = [data.draw(st.integers(1, steps)) for _ in range(envs)]
    sp = space()
    buf = RolloutBuffer(envs=envs, steps=steps, space=sp, obs_size=OBS)
    rewards = data.draw(
        st.lists(
            st.floats(-1e6, 1e6, allow_nan=False, width=32),
            min_size=envs * steps,
            max_size=envs * steps,
        )
    )
    stored = {}
    for t in range(steps):
        live = [e for e in range(envs) if t < lengths[e]]
        if not live:
            break
        d = decision(sp, len(live), seed + t)
        buf.record(live, t, d)
        buf.set_rewards(live, t, [rewards[e * steps + t] for e in live])
        for i, e in enumerate(live):
            stored[e, t] = (d, i)
    for (e, t), (d, i) in stored.items():
        assert torch.equal(buf.actions[e, t], d.step.actions[i])
        assert torch.equal(buf.log_probs[e, t], d.step.log_probs[i])
        assert buf.values[e, t] == d.step.value[i]
        assert torch.equal(buf.features[e, t], d.obs.features[i])
        assert torch.equal(buf.blueprints[e, t], d.obs.blueprints[i])
        assert buf.rewards[e, t].item() == rewards[e * steps + t]  # float32-representable draws
        assert buf.valid[e, t]
    assert buf.lengths == lengths
    assert int(buf.valid.sum()) == sum(lengths)
    assert (buf.log_probs <= 0).all()


def test_non_contiguous_env_rows_land_in_the_right_rows() -> None:
    sp = space()
    buf = RolloutBuffer(envs=4, steps=2, space=sp, obs_size=OBS)
    d = decision(sp, 2, 7)
    buf.record([3, 1], 0, d)
    assert torch.equal(buf.actions[3, 0], d.step.actions[0])
    assert torch.equal(buf.actions[1, 0], d.step.actions[1])
    assert buf.valid[:, 0].tolist() == [False, True, False, True]
    assert buf.lengths == [0, 1, 0, 1]


def test_reset_clears_every_row_back_to_padding() -> None:
    buf = filled(3, 5, [5, 2, 4], [False, True, False])
    fresh = RolloutBuffer(envs=3, steps=5, space=space(), obs_size=OBS)
    buf.reset()
    for name in (
        "features",
        "blueprints",
        "actions",
        "log_probs",
        "values",
        "rewards",
        "terminal",
        "valid",
        "bootstrap",
    ):
        assert torch.equal(getattr(buf, name), getattr(fresh, name)), name
    for a, b in zip(buf.action_masks(), fresh.action_masks(), strict=True):
        assert torch.equal(a, b)
    assert buf.lengths == [0, 0, 0]
    assert buf.ended == [False, False, False]
    # Usable again from step 0.
    buf.record([0], 0, decision(space(), 1, 1))
    assert buf.lengths == [1, 0, 0]


def test_padding_is_wait_with_canonical_heads_and_single_valid_op() -> None:
    buf = filled(2, 6, [6, 3], [False, True])
    sp = buf.space
    pad_action = sp.canonicalize([int(Op.WAIT)] + [0] * 7)
    assert buf.actions[1, 3:].tolist() == [pad_action] * 3
    assert not buf.valid[1, 3:].any()
    masks = buf.action_masks()
    assert masks.op[1, 3:].sum(-1).tolist() == [1, 1, 1]
    assert masks.op[1, 3:, int(Op.WAIT)].all()
    # Every head keeps at least one valid value after WAIT's canonicalisation.
    head_masks = sp.head_masks(masks, buf.actions[..., 0])
    for m in head_masks:
        assert m.any(dim=-1).all()
    # The canonical action is the one value its collapsed mask allows (log-prob exactly 0).
    for i, m in enumerate(head_masks, start=1):
        assert m[1, 3:].gather(-1, buf.actions[1, 3:, i : i + 1]).all()
    assert (buf.log_probs[1, 3:] == 0).all()
    assert (buf.blueprints[1, 3:] == -1).all()
    assert buf.forced()[1, 3:].sum() == 0  # padding is not "forced", it is invalid


def test_record_validation() -> None:
    sp = space()
    buf = RolloutBuffer(envs=2, steps=3, space=sp, obs_size=OBS)
    with pytest.raises(RolloutError, match="out of order"):
        buf.record([0], 1, decision(sp, 1, 0))
    with pytest.raises(RolloutError, match="outside"):
        buf.record([2], 0, decision(sp, 1, 0))
    with pytest.raises(RolloutError, match="shape"):
        buf.record([0, 1], 0, decision(sp, 1, 0))
    buf.record([0, 1], 0, decision(sp, 2, 0))
    buf.end_episode(0, 0, terminal=True)
    with pytest.raises(RolloutError, match="already ended"):
        buf.record([0], 1, decision(sp, 1, 0))
    with pytest.raises(RolloutError, match="no recorded"):
        buf.set_rewards([1], 2, [1.0])


def test_end_episode_before_the_last_recorded_step_drops_the_rest() -> None:
    sp = space()
    buf = RolloutBuffer(envs=1, steps=4, space=sp, obs_size=OBS)
    for t in range(4):
        buf.record([0], t, decision(sp, 1, t))
        buf.set_rewards([0], t, [1.0])
    buf.end_episode(0, 1, terminal=True)
    assert buf.lengths == [2]
    assert buf.valid[0].tolist() == [True, True, False, False]
    assert buf.rewards[0].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert buf.terminal[0].tolist() == [False, True, False, False]


# -- GAE ---------------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    envs=st.integers(1, 4),
    steps=st.integers(1, 12),
    seed=st.integers(0, 10_000),
    gamma=st.floats(0.5, 1.0),
    lam=st.floats(0.0, 1.0),
    data=st.data(),
)
def test_gae_matches_the_backward_recursion_per_env(envs, steps, seed, gamma, lam, data) -> None:
    lengths = [data.draw(st.integers(1, steps)) for _ in range(envs)]
    terminal = [data.draw(st.booleans()) for _ in range(envs)]
    buf = filled(envs, steps, lengths, terminal, seed)
    values = buf.values
    advantages, returns = buf.compute_gae(values, buf.bootstrap, gamma, lam)
    expected = gae_reference(buf.rewards, values, buf.bootstrap, lengths, terminal, gamma, lam)
    torch.testing.assert_close(advantages.double(), expected, atol=1e-4, rtol=1e-4)
    # returns = advantages + values on valid steps (invariant 24); 0 on padding.
    valid = buf.valid
    torch.testing.assert_close(returns[valid], (advantages + values)[valid])
    assert (advantages[~valid] == 0).all()
    assert (returns[~valid] == 0).all()


def test_truncation_bootstraps_and_a_terminal_cuts_the_chain() -> None:
    sp = space()
    buf = RolloutBuffer(envs=2, steps=1, space=sp, obs_size=OBS)
    d = decision(sp, 2, 0)
    buf.record([0, 1], 0, d)
    buf.set_rewards([0, 1], 0, [1.0, 1.0])
    buf.end_episode(0, 0, terminal=False)
    buf.end_episode(1, 0, terminal=True)
    values = torch.tensor([[0.25], [0.25]])
    bootstrap = torch.tensor([2.0, 2.0])
    advantages, returns = buf.compute_gae(values, bootstrap, 0.9, 0.95)
    assert advantages[0, 0].item() == pytest.approx(1.0 + 0.9 * 2.0 - 0.25)  # truncated
    assert advantages[1, 0].item() == pytest.approx(1.0 - 0.25)  # true terminal: no V(s')
    assert returns[:, 0].tolist() == pytest.approx([1.0 + 1.8, 1.0])


def test_envs_never_mix() -> None:
    buf = filled(3, 6, [6, 4, 5], [False, True, False], seed=3)
    a, _ = buf.compute_gae(buf.values, buf.bootstrap, 0.99, 0.95)
    buf.rewards[1] += 100.0
    buf.values[2, :2] -= 50.0
    b, _ = buf.compute_gae(buf.values, buf.bootstrap, 0.99, 0.95)
    assert torch.equal(a[0], b[0])


class _FloatOperands(TorchFunctionMode):
    """Records torch calls that receive a Python float operand."""

    def __init__(self) -> None:
        super().__init__()
        self.offenders: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        flat = list(args) + list(kwargs.values())
        flat += [x for a in args if isinstance(a, list | tuple) for x in a]
        if any(isinstance(x, float) for x in flat):
            self.offenders.append(getattr(func, "__name__", str(func)))
        return func(*args, **kwargs)


def test_gae_constants_are_device_tensors_and_no_python_float_enters_the_arithmetic() -> None:
    """Review T2-2: gamma and gamma*lambda live on the buffer's device as tensors."""
    buf = filled(2, 5, [5, 3], [False, True])
    gamma_t, gamma_lambda = buf.gae_constants(0.995, 0.98)
    for c in (gamma_t, gamma_lambda):
        assert isinstance(c, torch.Tensor)
        assert c.device == buf.device
        assert c.dtype == torch.float32
        assert c.dim() == 0
    assert gamma_lambda.item() == pytest.approx(0.995 * 0.98)
    assert buf.gae_constants(0.995, 0.98)[0] is gamma_t  # made once, reused
    # Every operation of compute_gae sees tensors, never a Python float (the old code did
    # ``delta + gamma * gae_lambda * next_non_terminal * last_gae`` with floats).
    with _FloatOperands() as mode:
        buf.compute_gae(buf.values, buf.bootstrap, 0.995, 0.98)
    assert mode.offenders == []
    # The mode does catch float operands (so the check above is not vacuous).
    with _FloatOperands() as mode:
        _ = buf.values * 0.995
    assert mode.offenders


def test_gae_over_a_long_rollout_stays_accurate() -> None:
    buf = filled(2, 150, [150, 90], [False, True], seed=5)
    advantages, _ = buf.compute_gae(buf.values, buf.bootstrap, 0.995, 0.98)
    expected = gae_reference(
        buf.rewards, buf.values, buf.bootstrap, [150, 90], [False, True], 0.995, 0.98
    )
    torch.testing.assert_close(advantages.double(), expected, atol=2e-4, rtol=1e-4)


# -- advantage normalisation (invariant 24) ---------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    values=st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=2, max_size=60),
    pad=st.floats(-1e6, 1e6, allow_nan=False),
)
def test_normalized_advantages_have_mean_0_and_std_1_over_valid_entries(values, pad) -> None:
    x = torch.tensor(values + [pad] * 5, dtype=torch.float64)
    mask = torch.tensor([True] * len(values) + [False] * 5)
    out = normalize_advantages(x, mask, std_floor=0.1)
    valid = out[mask]
    raw_std = torch.tensor(values, dtype=torch.float64).std(unbiased=False).item()
    assert abs(valid.mean().item()) < 1e-9 * max(1.0, raw_std / 0.1) + 1e-9
    expected_std = 1.0 if raw_std >= 0.1 else raw_std / 0.1
    assert valid.std(unbiased=False).item() == pytest.approx(expected_std, rel=1e-6, abs=1e-9)
    assert (out[~mask] == 0).all()  # padding never enters nor leaves


def test_std_floor_keeps_near_identical_advantages_small() -> None:
    x = torch.tensor([1.0, 1.01, 0.99, 1.0])
    out = normalize_advantages(x, torch.ones(4, dtype=torch.bool), std_floor=0.1)
    assert out.abs().max().item() < 0.11  # (0.01 / 0.1), not blown up to ~1.4
    assert math.isclose(out.sum().item(), 0.0, abs_tol=1e-6)


def test_buffer_normalize_advantages_uses_valid_and_extra_mask() -> None:
    buf = filled(2, 4, [4, 2], [False, False])
    x = torch.arange(8, dtype=torch.float32).reshape(2, 4)
    extra = torch.tensor([[True, True, False, True], [True, True, True, True]])
    out = buf.normalize_advantages(x, mask=extra)
    used = buf.valid & extra
    torch.testing.assert_close(out, normalize_advantages(x, used))
    assert (out[~used] == 0).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_record_and_gae_do_not_sync_on_cuda() -> None:
    sp = space()
    dev = torch.device("cuda")
    buf = RolloutBuffer(envs=4, steps=8, space=sp, obs_size=OBS, device=dev)
    ds = []
    for t in range(8):
        d = decision(sp, 4, t)
        ds.append(
            Decision(
                actions=[],
                step=PolicyStep(*(x.to(dev) if isinstance(x, torch.Tensor) else x for x in d.step)),
                obs=Observation(*(x.to(dev) for x in d.obs)),
                masks=ActionMasks(*(x.to(dev) for x in d.masks)),
            )
        )
    buf.gae_constants(0.995, 0.98)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for t, d in enumerate(ds):
            buf.record([0, 1, 2, 3] if t % 2 else [2, 0, 1, 3], t, d)
        a, _r = buf.compute_gae(buf.values, buf.bootstrap, 0.995, 0.98)
        buf.normalize_advantages(a)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert buf.lengths == [8, 8, 8, 8]
