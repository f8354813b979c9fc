"""FLOP counts of a model's passes (esper.growth.flops), checked against hand counts."""

from __future__ import annotations

import torch

from esper.growth.flops import FlopMeter, PassFlops, count_pass, forward_flops, growth_structure
from esper.growth.model import MorphogeneticModel

from support.tiny import TinyCNN, catalog


def conv(out_hw: int, c_in: int, c_out: int, k: int = 3) -> int:
    """A convolution's FLOPs for one sample: a multiply-add (2 FLOPs) per weight per output
    pixel."""
    return 2 * out_hw * out_hw * c_out * c_in * k * k


def linear(c_in: int, c_out: int) -> int:
    return 2 * c_in * c_out


# TinyCNN on one 3x8x8 image: stem conv 3->4 at 8x8, max-pool, mid conv 4->8 at 4x4, head 8->5.
STEM, MID, HEAD = conv(8, 3, 4), conv(4, 4, 8), linear(8, 5)
SAMPLE = torch.randn(1, 3, 8, 8)


def model() -> MorphogeneticModel:
    torch.manual_seed(0)
    return MorphogeneticModel(TinyCNN(), catalog("cnn"))


def test_a_host_costs_its_convolutions_and_matmuls_forward_and_backward() -> None:
    flops = count_pass(model(), SAMPLE, backward=True)
    assert flops.forward == STEM + MID + HEAD == 23_120
    # Backward: every weight gradient, and the input gradient of every layer but the first
    # (the image needs none).
    assert flops.backward == STEM + 2 * MID + 2 * HEAD
    assert flops.total == flops.forward + flops.backward


def test_a_training_seed_adds_its_own_cost_and_none_through_the_isolated_input() -> None:
    grown = model()
    grown.germinate("r0c0", "conv")
    assert grown.advance("r0c0").passed  # TRAINING: the seed runs on detached host features
    seed = conv(8, 4, 4)  # ConvSeed: a 4->4 convolution at the first slot (8x8)
    flops = count_pass(grown, SAMPLE, backward=True)
    assert flops.forward == STEM + MID + HEAD + seed
    # The seed's weight gradient only: its input is detached from the host.
    assert flops.backward == STEM + 2 * MID + 2 * HEAD + seed


def test_counting_changes_nothing_in_the_model_or_the_random_streams() -> None:
    m = model()
    m.train()  # BatchNorm would update its running statistics on a real pass
    before = {k: v.clone() for k, v in m.state_dict().items()}
    rng = torch.get_rng_state()
    count_pass(m, SAMPLE, backward=True)
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    assert all(p.grad is None for p in m.parameters())
    assert torch.equal(torch.get_rng_state(), rng)


def test_the_fused_evaluation_of_one_configuration_costs_one_forward() -> None:
    m = model()
    evaluated = count_pass(
        m, SAMPLE, backward=False, call=lambda mod, x: mod.fused_forward(x, [{}])
    )
    assert evaluated == PassFlops(STEM + MID + HEAD, 0)


def test_the_meter_counts_once_per_structure(monkeypatch) -> None:
    import esper.growth.flops as flops_module

    calls: list[bool] = []
    real = flops_module.count_pass

    def counting(*args, **kwargs):
        calls.append(kwargs["backward"])
        return real(*args, **kwargs)

    monkeypatch.setattr(flops_module, "count_pass", counting)
    meter, m = FlopMeter(), model()
    first = meter.train_step(m, SAMPLE, growth_structure(m.records))
    assert meter.train_step(m, SAMPLE, growth_structure(m.records)) == first
    assert calls == [True]
    m.germinate("r0c0", "conv")
    assert growth_structure(m.records) == (("r0c0", "tiny:conv", 2),)
    # GERMINATED: the seed exists but the slot still passes the host's features through.
    assert meter.train_step(m, SAMPLE, growth_structure(m.records)) == first
    assert calls == [True, True]


def test_a_counting_pass_sets_the_modules_hooks_aside() -> None:
    m = model()
    seen: list[torch.Tensor] = []
    handle = m.host.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    count_pass(m, SAMPLE, backward=True)
    assert seen == []
    m(SAMPLE)
    assert len(seen) == 1  # and they are back afterwards
    handle.remove()


def test_forward_flops_counts_a_multi_input_network_on_meta_tensors() -> None:
    """An LSTM step and a linear head: 2 FLOPs per weight of every matmul, for any device the
    module lives on (the meta count does not depend on which kernels a device has)."""
    torch.manual_seed(0)

    class Step(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(6, 10, batch_first=True)
            self.head = torch.nn.Linear(10, 3)

        def forward(
            self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
        ) -> torch.Tensor:
            out, _ = self.lstm(x, state)
            result: torch.Tensor = self.head(out)
            return result

    net = Step()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    zeros = torch.zeros(1, 1, 10)
    flops = forward_flops(net, torch.zeros(1, 1, 6), (zeros, zeros))
    assert flops == linear(6, 4 * 10) + linear(10, 4 * 10) + linear(10, 3)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
