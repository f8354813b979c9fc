"""The engine honours the memory format a host declares (review T3-2).

Data moves to the device once, in the host's ``input_memory_format``; batches indexed out of
it arrive in that format (the host's own conversion is then a no-op), and seeds are built in
the format their injection point declares, after a resume too. Nothing in the engine assumes
channels-last.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from esper.contracts.actions import Action, Op, Style
from esper.engine.environment import Environment
from esper.registry import Registries
from esper_plugins.tasks.config import ImageTaskConfig
from esper_plugins.tasks.image import ImageTask

from support.envs import tiny_env

FORMATS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}


def _env(registries: Registries, memory_format: str) -> Environment:
    task = ImageTask(
        ImageTaskConfig(
            classes=4, train_size=96, val_size=48, host={"memory_format": memory_format}
        )
    )
    return tiny_env(registries, task=task, seed=1, max_epochs=4, batches_per_epoch=2)


def _in(x: torch.Tensor, memory_format: str) -> bool:
    wanted = FORMATS[memory_format]
    other = FORMATS["contiguous" if memory_format == "channels_last" else "channels_last"]
    return x.is_contiguous(memory_format=wanted) and not x.is_contiguous(memory_format=other)


@pytest.mark.parametrize("memory_format", list(FORMATS))
def test_data_batches_and_seeds_follow_the_host(registries: Registries, memory_format: str) -> None:
    env = _env(registries, memory_format)
    assert env.model.host.input_memory_format == memory_format
    assert _in(env.data.train_x, memory_format)
    assert _in(env.data.val_x, memory_format)
    seen: list[torch.Tensor] = []

    def record(_module: Any, args: tuple[torch.Tensor, ...]) -> None:
        seen.append(args[0])

    env.model.host.register_forward_pre_hook(record)
    env.step()
    # Training batches (after the on-device augmentation) and validation batches arrive in
    # the host's format: the host converts nothing.
    assert [x.shape[0] for x in seen] == [96, 48]  # one training batch, one validation batch
    assert all(_in(x, memory_format) for x in seen)
    assert env.apply(
        Action(op=Op.GERMINATE, slot="r0c1", blueprint="conv_light", style=Style.LINEAR_ADD)
    )
    module = env.model.records["r0c1"].module
    assert module is not None
    weights = [p for p in module.seed.parameters() if p.dim() == 4]
    assert weights
    assert all(_in(w, memory_format) for w in weights)
    # A resumed model rebuilds its seeds in the same format.
    state = env.state_dict()
    resumed = _env(registries, memory_format)
    resumed.load_state_dict(state)
    rebuilt = resumed.model.records["r0c1"].module
    assert rebuilt is not None
    assert all(_in(p, memory_format) for p in rebuilt.seed.parameters() if p.dim() == 4)


def test_environments_share_one_converted_copy_of_the_data(registries: Registries) -> None:
    first = _env(registries, "channels_last")
    task = first.task
    second = tiny_env(registries, task=task, seed=2, max_epochs=4, data=first.data)
    assert second.data.train_x.data_ptr() == first.data.train_x.data_ptr()


def test_crop_flip_keeps_the_layout_and_the_values() -> None:
    from esper_plugins.tasks.common import crop_flip

    x = torch.randn(16, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    plain = crop_flip(x, torch.Generator().manual_seed(1))
    nhwc = crop_flip(
        x.contiguous(memory_format=torch.channels_last), torch.Generator().manual_seed(1)
    )
    assert torch.equal(plain, nhwc)
    assert _in(plain, "contiguous")
    assert _in(nhwc, "channels_last")
