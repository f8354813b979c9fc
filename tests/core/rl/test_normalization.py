"""Running normalisers (invariant 27): convergence, clipping, finiteness, state round trips."""

from __future__ import annotations

import io
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from esper.rl.normalization import (
    NormalizerError,
    RewardNormalizer,
    RunningMeanStd,
    ValueNormalizer,
)


def roundtrip(state):
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


# -- RunningMeanStd ----------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    loc=st.floats(-100, 100),
    scale=st.floats(0.5, 50),
    chunks=st.integers(1, 6),
    seed=st.integers(0, 1000),
)
def test_running_mean_std_converges_to_zero_mean_unit_variance(loc, scale, chunks, seed) -> None:
    g = torch.Generator().manual_seed(seed)
    data = loc + scale * torch.randn(3000, 3, generator=g, dtype=torch.float64)
    rms = RunningMeanStd((3,))
    for part in data.chunk(chunks):
        rms.update(part)
    out = rms.normalize(data)
    # The statistics are float32 buffers: exact to float32's precision.
    assert out.mean(dim=0).abs().max().item() < 1e-4
    assert (out.std(dim=0, unbiased=False) - 1).abs().max().item() < 1e-3
    # Chunked updates give the statistics of all samples.
    torch.testing.assert_close(rms.mean.double(), data.mean(dim=0), rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(
        rms.var.double(), data.var(dim=0, unbiased=False), rtol=1e-5, atol=1e-5
    )


def test_running_mean_std_clips_and_is_finite_on_constant_input() -> None:
    rms = RunningMeanStd((2,), clip=10.0)
    rms.update(torch.full((100, 2), 7.0))
    out = rms.normalize(torch.tensor([[7.0, 7.0], [8.0, -1e6]]))
    assert torch.isfinite(out).all()
    assert out[0].tolist() == [0.0, 0.0]
    assert out[1].tolist() == [10.0, -10.0]
    probe = torch.randn(5, 2)
    restored = RunningMeanStd((2,))
    restored.load_state_dict(roundtrip(rms.state_dict()))
    assert torch.equal(restored.normalize(probe), rms.normalize(probe))
    assert restored.count.item() == 100
    torch.testing.assert_close(restored.mean, rms.mean)


def test_running_mean_std_is_the_identity_until_fed() -> None:
    # The network normalises its input before any statistics exist (the first rollout).
    x = torch.randn(4, 3)
    torch.testing.assert_close(RunningMeanStd((3,))(x), x / math.sqrt(1 + 1e-4))


# -- RewardNormalizer --------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    rewards=st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=2, max_size=200),
    chunks=st.integers(1, 5),
)
def test_reward_normalizer_tracks_the_sample_std_without_shifting_the_mean(rewards, chunks) -> None:
    norm = RewardNormalizer(clip=10.0)
    x = torch.tensor(rewards, dtype=torch.float64)
    for part in x.chunk(chunks):
        norm.update(part)
    expected = max(x.std(unbiased=True).item(), 1e-8)
    assert norm.std == pytest.approx(expected, rel=1e-6, abs=1e-12)
    out = norm.normalize(x)
    # Divides only: the sign of every reward survives, and zero stays zero.
    assert (out[x > 0] >= 0).all()
    assert (out[x < 0] <= 0).all()
    assert out.abs().max().item() <= 10.0
    torch.testing.assert_close(out, (x / norm.std).clamp(-10, 10))


def test_reward_normalizer_converges_to_unit_scale() -> None:
    g = torch.Generator().manual_seed(0)
    norm = RewardNormalizer()
    for _ in range(50):
        norm.update(3.0 + 25.0 * torch.randn(64, generator=g))
    out = norm.normalize(3.0 + 25.0 * torch.randn(20_000, generator=g))
    assert out.std().item() == pytest.approx(1.0, abs=0.03)


def test_reward_normalizer_first_sample_only_clipped_and_constant_input_finite() -> None:
    norm = RewardNormalizer(clip=10.0)
    norm.update(torch.tensor([50.0]))
    assert norm.std == 1.0
    assert norm.normalize(torch.tensor([50.0, -3.0])).tolist() == [10.0, -3.0]
    const = RewardNormalizer()
    for _ in range(5):
        const.update(torch.full((10,), 2.5))
    out = const.normalize(torch.tensor([2.5, 0.0, -2.5]))
    assert torch.isfinite(out).all()
    assert out.tolist() == [10.0, 0.0, -10.0]  # std floored at 1e-8, clipped


def test_reward_normalizer_mask_and_nonfinite_entries_are_ignored() -> None:
    norm = RewardNormalizer()
    x = torch.tensor([1.0, 3.0, 1000.0, math.nan, math.inf])
    norm.update(x, torch.tensor([True, True, False, True, True]))
    assert norm.count == 2
    assert norm.std == pytest.approx(math.sqrt(2.0))


def test_reward_normalizer_state_round_trip() -> None:
    norm = RewardNormalizer(clip=5.0)
    norm.update(torch.tensor([1.0, 2.0, 4.0]))
    other = RewardNormalizer()
    other.load_state_dict(roundtrip(norm.state_dict()))
    assert other.state_dict() == norm.state_dict()
    x = torch.tensor([3.0, -40.0])
    assert torch.equal(other.normalize(x), norm.normalize(x))


def test_normalizer_options_are_validated() -> None:
    with pytest.raises(NormalizerError):
        RewardNormalizer(clip=0.0)
    with pytest.raises(NormalizerError):
        ValueNormalizer(momentum=1.0)
    with pytest.raises(NormalizerError):
        RunningMeanStd(eps=0.0)


# -- ValueNormalizer ---------------------------------------------------------------------------


def test_value_normalizer_is_identity_until_warmup_then_scales_without_mean_shift() -> None:
    norm = ValueNormalizer(warmup=32)
    norm.update(torch.arange(20, dtype=torch.float32))
    assert not norm.active
    x = torch.tensor([5.0, -2.0])
    assert torch.equal(norm.normalize(x), x)
    assert torch.equal(norm.denormalize(x), x)
    more = torch.arange(20, 40, dtype=torch.float32)
    norm.update(more)
    assert norm.active
    everything = torch.arange(40, dtype=torch.float64)
    assert norm.std == pytest.approx(everything.std(unbiased=True).item())
    torch.testing.assert_close(norm.normalize(x), x / norm.std)
    torch.testing.assert_close(norm.denormalize(norm.normalize(x)), x)


def test_value_normalizer_follows_a_changing_scale_by_ema() -> None:
    g = torch.Generator().manual_seed(1)
    norm = ValueNormalizer(warmup=32, momentum=0.9)
    norm.update(torch.randn(64, generator=g))
    assert norm.std == pytest.approx(1.0, abs=0.25)
    for _ in range(100):
        norm.update(10.0 * torch.randn(64, generator=g))
    assert norm.std == pytest.approx(10.0, rel=0.1)
    state = roundtrip(norm.state_dict())
    other = ValueNormalizer()
    other.load_state_dict(state)
    assert other.state_dict() == norm.state_dict()


def test_value_normalizer_constant_returns_stay_finite() -> None:
    norm = ValueNormalizer(warmup=4)
    for _ in range(10):
        norm.update(torch.full((8,), 3.0))
    out = norm.normalize(torch.tensor([3.0]))
    assert torch.isfinite(out).all()
    assert norm.std == pytest.approx(1e-4)
