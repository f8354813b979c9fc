"""Engine overhead: one training epoch through `Environment` vs a hand-written PyTorch loop.

Both train the same host on the same data with the same optimizer, batch order, augmentation
and gradient clipping; the plain loop simply has no lifecycle, governor, telemetry or
gradient-health bookkeeping. Goal: the engine costs at most 5% more.
"""

from __future__ import annotations

import copy

import torch
from esper.engine.environment import Environment
from esper.registry import Registries
from esper.registry.manager import build_manager
from torch import nn

from esper_bench.suite import Figure, benchmark
from esper_bench.timing import compare, ratio


@benchmark("engine_epoch")
def engine_epoch(quick: bool) -> list[Figure]:
    registries = Registries(build_manager(autoload=False))
    task_entry = registries["tasks"].get("image")
    task = task_entry.build(task_entry.spec.load_config_cls()(train_size=1536, val_size=256))
    policy = registries["policies"].get("static").build(None)
    env = Environment(
        task=task,
        registries=registries,
        policy=policy,
        governor=None,
        device=torch.device("cpu"),
        seed=0,
        max_epochs=1000,
    )
    data = env.data
    host = copy.deepcopy(env.model.host)
    optimizer = torch.optim.SGD(host.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    generator = torch.Generator().manual_seed(1)
    aug = torch.Generator().manual_seed(2)
    bs = task.info.batch_size

    def plain_epoch() -> None:
        host.train()
        order = torch.randperm(data.train_x.shape[0], generator=generator)
        loss_sum = torch.zeros(())
        for start in range(0, order.numel(), bs):
            idx = order[start : start + bs]
            x, y = data.train_x[idx], data.train_y[idx]
            if data.augment is not None:
                x = data.augment(x, aug)
            x = x.contiguous(memory_format=torch.channels_last)
            out = host(x)
            loss = nn.functional.cross_entropy(out, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(host.parameters(), 1.0, foreach=True)
            optimizer.step()
            loss_sum += loss.detach()
        loss_sum.item()

    timings = compare(
        {"engine": env.train_epoch, "plain": plain_epoch}, repeats=5 if quick else 15, warmup=1
    )
    return [
        Figure(
            name="one training epoch: Environment.train_epoch vs hand-written loop",
            value=ratio(timings, "engine", "plain"),
            unit="x",
            goal="<= 1.05",
            detail={
                "plain_median_s": timings["plain"].median_s,
                "train_samples": int(data.train_x.shape[0]),
            },
        )
    ]


@benchmark("governor_snapshot")
def governor_snapshot(quick: bool) -> list[Figure]:
    """The governor's rollback snapshot (a copy of the model's state) as a share of epoch time.

    The environment snapshots every ``snapshot_every`` epochs (5) and after a fossilization;
    the figure charges one snapshot per epoch, the worst case. Goal: under 1 % of an epoch
    (the prior system copied the state dict every epoch).
    """
    registries = Registries(build_manager(autoload=False))
    task_entry = registries["tasks"].get("image")
    task = task_entry.build(task_entry.spec.load_config_cls()(train_size=1536, val_size=256))
    governor = registries["governors"].get("default").build(None, task=task.info)
    env = Environment(
        task=task,
        registries=registries,
        policy=registries["policies"].get("static").build(None),
        governor=governor,
        device=torch.device("cpu"),
        seed=0,
        max_epochs=1000,
    )
    timings = compare(
        {"epoch": env.train_epoch, "snapshot": lambda: governor.snapshot(env.model)},
        repeats=5 if quick else 15,
        warmup=1,
    )
    return [
        Figure(
            name="governor snapshot per epoch, % of a training epoch (1,536 images)",
            value=100.0 * ratio(timings, "snapshot", "epoch"),
            unit="%",
            goal="<= 1.0",
            detail={
                "snapshot_median_s": timings["snapshot"].median_s,
                "epoch_median_s": timings["epoch"].median_s,
                "snapshot_bytes": int(getattr(governor, "snapshot_nbytes", 0)),
            },
        )
    ]
