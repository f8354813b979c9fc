"""The incubator is exact for any seed output, and a non-finite seed is pruned, not rolled back.

A seed in TRAINING must leave the host exactly as if its slot were empty: the same output, bit
for bit, and the same host gradients, whatever the seed computes (inf, NaN, a value that
overflows when cast to the host's float16). The engine notices such a seed from counts kept on
the device, reports it (``seed.non_finite``) and prunes it; the host never needs a rollback.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn

from esper.contracts.actions import Action, Op, Style
from esper.engine.environment import Environment
from esper.growth.catalog import BlueprintCatalog
from esper.growth.model import MorphogeneticModel
from esper.growth.seed_module import SeedModule
from esper.lifecycle import Stage
from esper.plugin import BlueprintSpec
from esper.registry import Registries, registry_from
from esper.registry.manager import Registration
from esper.telemetry import Event
from esper.telemetry.events import event_to_dict

from support.envs import tiny_env
from support.tiny import SlotNet, TinyCNN


class Misbehaving(nn.Module):
    """A residual conv seed whose output is made non-finite in one of several ways.

    ``inf`` / ``nan``: the output itself; ``large``: 1e5, finite in float32 and inf once cast
    to float16; ``large_fp32``: 1e5 returned in float32 under float16 autocast, so only the
    cast to the host's dtype overflows; ``bad_grad``: a finite output whose gradient is NaN.
    """

    def __init__(self, channels: int, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x + self.conv(x)
        if self.kind == "inf":
            return y + math.inf
        if self.kind == "nan":
            return y * math.nan
        if self.kind == "large":
            return y * 0 + 1e5
        if self.kind == "large_fp32":
            return y.float() * 0 + 1e5
        if self.kind == "bad_grad":
            # sqrt(0) is 0, but its derivative is inf: 0 * inf = NaN in the backward pass.
            return y + (self.conv.weight.sum() * 0).sqrt()
        return y


X = torch.randn(6, 3, 8, 8, generator=torch.Generator().manual_seed(2))
Y = torch.tensor([0, 1, 2, 3, 4, 0])


def _incubating(kind: str) -> SeedModule:
    torch.manual_seed(1)
    module = SeedModule(Misbehaving(4, kind), channels=4)
    module.stage = Stage.TRAINING
    return module


def _forward_backward(
    net: SlotNet, autocast: torch.dtype | None
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    net.zero_grad()
    with torch.autocast("cpu", dtype=autocast or torch.float32, enabled=autocast is not None):
        out = net(X)
        loss = nn.functional.cross_entropy(out.float(), Y)
    loss.backward()
    grads = {
        name: p.grad.clone()
        for name, p in net.named_parameters()
        if p.grad is not None and not name.startswith("slot")
    }
    return out.detach(), grads


CASES = [
    ("inf", None),
    ("nan", None),
    ("inf", torch.float16),
    ("nan", torch.bfloat16),
    ("large", torch.float16),
    ("large_fp32", torch.float16),
]


@pytest.mark.parametrize(("kind", "autocast"), CASES, ids=[f"{k}-{a}" for k, a in CASES])
def test_a_non_finite_seed_leaves_host_output_and_gradients_bit_identical(
    kind: str, autocast: torch.dtype | None
) -> None:
    plain = SlotNet()
    seeded = SlotNet(_incubating(kind))
    plain_out, plain_grads = _forward_backward(plain, autocast)
    seeded_out, seeded_grads = _forward_backward(seeded, autocast)
    assert torch.equal(plain_out, seeded_out)
    assert torch.isfinite(seeded_out).all()
    assert plain_grads.keys() == seeded_grads.keys()
    for name, grad in plain_grads.items():
        assert torch.equal(grad, seeded_grads[name]), name
    module = seeded.slot
    assert isinstance(module, SeedModule)
    # The seed was trained (straight-through) and its bad output was counted on the device.
    assert module.seed.conv.weight.grad is not None
    assert int(module.nonfinite) == 1
    assert int(module.take_nonfinite()) == 1
    assert int(module.nonfinite) == 0


def test_a_finite_seed_gets_the_straight_through_gradient() -> None:
    # The seed's gradient is the host output's gradient, as if its output had been used:
    # the same as the prior formulation h + (s - s.detach()), bit for bit, for a finite seed.
    seeded = SlotNet(_incubating("none"))
    _forward_backward(seeded, None)
    module = seeded.slot
    assert isinstance(module, SeedModule)
    ours = {n: p.grad.clone() for n, p in module.seed.named_parameters() if p.grad is not None}

    class Reference(nn.Module):
        def __init__(self, seed: nn.Module) -> None:
            super().__init__()
            self.seed = seed

        def forward(self, h: torch.Tensor) -> torch.Tensor:
            s = self.seed(h.detach())
            return h + (s - s.detach())

    reference = SlotNet(Reference(module.seed))
    _forward_backward(reference, None)
    theirs = {n: p.grad for n, p in module.seed.named_parameters() if p.grad is not None}
    assert ours.keys() == theirs.keys()
    assert ours
    for name, grad in ours.items():
        assert torch.equal(grad, theirs[name]), name
    assert int(module.nonfinite) == 0


def test_a_training_seed_is_not_run_outside_training() -> None:
    calls = []
    module = _incubating("inf")
    module.seed.register_forward_hook(lambda *_: calls.append(1))
    net = SlotNet(module).eval()
    with torch.no_grad():
        assert torch.equal(net(X), SlotNet().eval()(X))
    assert calls == []
    assert int(module.nonfinite) == 0
    net.train()
    net(X)
    assert calls == [1]


def test_a_slot_output_may_be_modified_in_place() -> None:
    # The incubator hands the host a copy, not a view of its own features.
    class InPlace(SlotNet):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = torch.relu(self.a(x))
            assert self.slot is not None
            h = self.slot(h)
            h.mul_(2.0)
            out: torch.Tensor = self.head(torch.relu(self.b(h)).mean(dim=(2, 3)))
            return out

    net = InPlace(_incubating("none"))
    nn.functional.cross_entropy(net(X), Y).backward()
    assert net.a.weight.grad is not None


# -- the model and the engine -------------------------------------------------------------------


def _catalog(kind: str) -> BlueprintCatalog:
    regs = [
        Registration(
            "bad",
            BlueprintSpec(
                name="bad", topology="cnn", factory=lambda dim, config=None: Misbehaving(dim, kind)
            ),
        ),
        Registration(
            "bad",
            BlueprintSpec(
                name="ok", topology="cnn", factory=lambda dim, config=None: Misbehaving(dim, "")
            ),
        ),
    ]
    return BlueprintCatalog(registry_from(regs, "blueprints"), "cnn")


def test_prune_non_finite_reports_and_prunes_what_the_lifecycle_allows() -> None:
    events: list[Event] = []
    model = MorphogeneticModel(TinyCNN(), _catalog("nan"), emit=events.append)
    model.germinate("r0c0", "bad")
    model.advance("r0c0")
    model.germinate("r0c1", "ok")
    state = model.records["r0c1"].state
    assert state is not None
    for stage in (Stage.TRAINING, Stage.BLENDING, Stage.HOLDING, Stage.FOSSILIZED):
        state.transition(stage)
    events.clear()
    pruned = model.prune_non_finite({"r0c0": "output", "r0c1": "gradients"}, epoch=3)
    assert pruned == ["r0c0"]
    assert model.records["r0c0"].module is None
    found = [(e.type, event_to_dict(e)) for e in events]
    reports = [d for t, d in found if t == "seed.non_finite"]
    assert [(d["slot_id"], d["stage"], d["cause"], d["pruned"]) for d in reports] == [
        ("r0c0", "TRAINING", "output", True),
        ("r0c1", "FOSSILIZED", "gradients", False),
    ]
    prunes = [d for t, d in found if t == "seed.pruned"]
    assert [(d["slot_id"], d["reason"], d["initiator"], d["auto"]) for d in prunes] == [
        ("r0c0", "non_finite", "engine", True)
    ]


def _env(
    registries: Registries, events: list[Event] | None = None, batches: int | None = None
) -> Environment:
    return tiny_env(
        registries,
        governor=lambda info: registries["governors"].get("default").build(None, task=info),
        seed=3,
        max_epochs=6,
        batches_per_epoch=batches,
        emit=None if events is None else events.append,
        min_training_epochs=1,
    )


def _host_state(env: Environment) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in env.model.host.state_dict().items() if ".slots." not in k}


@pytest.mark.parametrize(
    ("kind", "cause"), [("nan", "output"), ("inf", "output"), ("bad_grad", "gradients")]
)
def test_the_engine_prunes_a_non_finite_seed_and_the_host_trains_as_if_it_never_was(
    registries: Registries, kind: str, cause: str
) -> None:
    events: list[Event] = []
    # One batch per epoch for bad gradients: after a second batch, the NaN step would have
    # made the seed's weights, and so its output, NaN as well.
    batches = 1 if cause == "gradients" else None
    grown, static = _env(registries, events, batches), _env(registries, None, batches)
    grown.model.catalog = _catalog(kind)
    results: list[Any] = []
    for epoch in range(1, 5):
        action = Action()
        if epoch == 1:
            action = Action(op=Op.GERMINATE, slot="r0c1", blueprint="bad", style=Style.LINEAR_ADD)
        elif epoch == 2:
            action = Action(op=Op.ADVANCE, slot="r0c1")
        observed = grown.observe()
        results.append(grown.act(action))
        static.step()
        assert not observed.rolled_back
    assert results[1].action_ok  # TRAINING from epoch 3 on
    reports = [event_to_dict(e) for e in events if e.type == "seed.non_finite"]
    assert [(r["epoch"], r["slot_id"], r["stage"], r["cause"], r["pruned"]) for r in reports] == [
        (3, "r0c1", "TRAINING", cause, True)
    ]
    prunes = [event_to_dict(e) for e in events if e.type == "seed.pruned"]
    assert [(p["epoch"], p["reason"], p["initiator"]) for p in prunes] == [
        (3, "non_finite", "engine")
    ]
    assert not [e for e in events if e.type.startswith("governor.")]
    state = grown.model.records["r0c1"].state
    assert state is not None
    assert state.stage is Stage.EMBARGOED
    # The host never saw the seed: it trained exactly as the static host did.
    ours, theirs = _host_state(grown), _host_state(static)
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        assert torch.equal(ours[key], value), key
    assert [r.val_loss for r in results] == [h["val_loss"] for h in static.history]
