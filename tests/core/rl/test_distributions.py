"""MaskedCategorical: masks, FP32 log-softmax, probability floors (invariant 31), errors."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from esper.errors import EsperError
from esper.rl.distributions import (
    MASKED_LOGIT,
    EmptyMaskError,
    MaskedCategorical,
    NonFiniteLogitsError,
)


@st.composite
def logits_and_masks(draw: st.DrawFn, scale: float = 20.0) -> tuple[torch.Tensor, torch.Tensor]:
    rows = draw(st.integers(1, 4))
    n = draw(st.integers(1, 13))
    values = draw(
        st.lists(st.floats(-scale, scale, width=32), min_size=rows * n, max_size=rows * n)
    )
    bits = draw(st.lists(st.booleans(), min_size=rows * n, max_size=rows * n))
    mask = torch.tensor(bits).view(rows, n)
    mask[:, draw(st.integers(0, n - 1))] = True  # at least one valid action per row
    return torch.tensor(values).view(rows, n), mask


@settings(max_examples=150, deadline=None)
@given(data=logits_and_masks(), floor=st.sampled_from([0.0, 0.05, 0.12, 0.15, 0.3, 0.9]))
def test_probability_floor_invariants(data, floor) -> None:
    """Invariant 31."""
    logits, mask = data
    dist = MaskedCategorical(logits, mask, floor=floor)
    p = dist.probs
    valid = mask.sum(-1, keepdim=True).float()
    f_eff = torch.clamp(0.99 / valid, max=floor)
    torch.testing.assert_close(p.sum(-1), torch.ones(p.shape[0]), atol=1e-5, rtol=0)
    assert (p[~mask] == 0).all()
    assert (p >= f_eff - 1e-6)[mask].all()
    assert (dist.log_probs[~mask] == MASKED_LOGIT).all()
    samples = torch.stack([dist.sample() for _ in range(20)], dim=-1)
    assert mask.gather(-1, samples).all()
    for a in range(mask.shape[1]):
        actions = torch.full((mask.shape[0],), a)
        lp = dist.log_prob(actions)
        ok = mask[:, a]
        torch.testing.assert_close(lp[ok], torch.log(p[ok, a]), atol=1e-5, rtol=1e-5)
    # Actions above the floor keep their relative odds.
    raw = torch.softmax(logits.masked_fill(~mask, -math.inf), dim=-1)
    above = (p > f_eff + 1e-6) & mask
    for r in range(mask.shape[0]):
        idx = above[r].nonzero().flatten()
        if idx.numel() >= 2:
            ratio = p[r, idx] / raw[r, idx]
            torch.testing.assert_close(ratio, ratio[:1].expand_as(ratio), rtol=1e-3, atol=0)
    if floor == 0.0:
        exact = torch.log_softmax(
            (logits - logits.masked_fill(~mask, -math.inf).amax(-1, keepdim=True)).masked_fill(
                ~mask, MASKED_LOGIT
            ),
            dim=-1,
        )
        assert torch.equal(dist.log_probs[mask], exact[mask])


def test_the_floor_lifts_rare_actions_and_leaves_a_spread_policy_alone() -> None:
    logits = torch.log(torch.tensor([[0.9, 0.06, 0.04], [0.4, 0.35, 0.25]]))
    dist = MaskedCategorical(logits, torch.ones(2, 3, dtype=torch.bool), floor=0.15)
    assert dist.probs[0].tolist() == pytest.approx([0.7, 0.15, 0.15], abs=1e-6)
    assert dist.probs[1].tolist() == pytest.approx([0.4, 0.35, 0.25], abs=1e-6)


def test_gradients_flow_at_a_peaked_distribution() -> None:
    logits = torch.tensor([[12.0, -6.0, -6.0, -6.0]], requires_grad=True)
    dist = MaskedCategorical(logits, torch.ones(1, 4, dtype=torch.bool), floor=0.15)
    (dist.log_prob(torch.tensor([1])) + dist.entropy()).sum().backward()
    assert logits.grad is not None
    assert logits.grad.abs().sum() > 1e-3


@settings(max_examples=150, deadline=None)
@given(data=logits_and_masks(scale=65504.0), floor=st.sampled_from([0.0, 0.1]))
def test_fp16_logits_with_masks_never_give_nan(data, floor) -> None:
    logits, mask = data
    half = logits.half()
    dist = MaskedCategorical(half, mask, floor=floor)
    assert torch.isfinite(dist.log_probs).all()
    assert torch.isfinite(dist.probs).all()
    assert torch.isfinite(dist.entropy()).all()
    assert dist.log_probs.dtype == torch.float32
    torch.testing.assert_close(dist.probs.sum(-1), torch.ones(mask.shape[0]), atol=1e-5, rtol=0)
    assert mask.gather(-1, dist.sample()[:, None]).all()
    assert mask.gather(-1, dist.mode()[:, None]).all()


def test_entropy_is_normalised_and_zero_with_one_valid_action() -> None:
    mask = torch.tensor([[True, True, True, True], [False, True, False, False]])
    dist = MaskedCategorical(torch.zeros(2, 4), mask, floor=0.1)
    assert dist.entropy().tolist() == pytest.approx([1.0, 0.0], abs=1e-6)
    assert dist.log_prob(torch.tensor([0, 1]))[1].item() == 0.0
    peaked = MaskedCategorical(torch.tensor([[30.0, 0.0, 0.0]]), torch.ones(1, 3, dtype=torch.bool))
    assert 0.0 <= peaked.entropy().item() < 1e-6


def test_empty_masks_and_non_finite_logits_raise_typed_errors() -> None:
    mask = torch.tensor([[True, False], [False, False]])
    with pytest.raises(EmptyMaskError) as info:
        MaskedCategorical(torch.zeros(2, 2), mask)
    assert isinstance(info.value, EsperError)
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(NonFiniteLogitsError):
            MaskedCategorical(torch.tensor([[0.0, bad]]), torch.ones(1, 2, dtype=torch.bool))
    # Unvalidated (hot loops): an empty row is treated as all valid, never NaN.
    dist = MaskedCategorical(torch.zeros(2, 2), mask, validate=False)
    assert torch.isfinite(dist.log_probs).all()


def test_masking_allocates_no_constant_tensor(monkeypatch) -> None:
    """Review T2-8: the masked-logit constant is a Python float, not a tensor per call."""
    assert isinstance(MASKED_LOGIT, float)
    assert torch.tensor(MASKED_LOGIT, dtype=torch.float16).item() == MASKED_LOGIT

    def forbidden(*args, **kwargs):
        raise AssertionError("allocated a constant tensor")

    logits, mask = torch.randn(3, 5), torch.rand(3, 5) > 0.3
    mask[:, 0] = True
    for name in ("tensor", "full", "full_like", "scalar_tensor", "as_tensor"):
        monkeypatch.setattr(torch, name, forbidden)
    dist = MaskedCategorical(logits, mask, floor=0.1, validate=False)
    assert (dist.log_probs[~mask] == MASKED_LOGIT).all()
