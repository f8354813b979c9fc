"""Controller benchmarks: batched policy steps, and the update pass over a whole rollout.

* policy_step: one decision for N envs (observation, masks, LSTM step, sampling, one transfer,
  `Action` records) as one batched call vs N single-env calls, N = 4 and 16; reported as
  the speed-up of batching.
* policy_evaluate: `evaluate_actions` over a 4 envs x 150 steps rollout (forward and
  backward, as a PPO update runs it) with the whole sequence in one LSTM call, vs a reference
  written here that steps the LSTM one epoch at a time. Both give the same log-probabilities,
  entropies and values (checked before timing). Goal: one call at least 2x faster.

Both use the registered ``lstm`` policy with its default (CPU-sized) configuration.
"""

from __future__ import annotations

from typing import Any

import torch
from esper.contracts.signals import Signals, SlotView
from esper.growth.catalog import BlueprintCatalog
from esper.lifecycle import Stage
from esper.registry import Registries
from esper.registry.manager import build_manager
from esper.rl.distributions import MaskedCategorical
from esper.rl.observation import Observation

from esper_bench.suite import Figure, benchmark
from esper_bench.timing import compare, ratio

SLOTS = ("r0c0", "r0c1", "r0c2")
_CYCLE = (
    Stage.DORMANT,
    Stage.GERMINATED,
    Stage.TRAINING,
    Stage.BLENDING,
    Stage.HOLDING,
    Stage.FOSSILIZED,
    Stage.PRUNED,
)


def _policy() -> tuple[Any, BlueprintCatalog]:
    registries = Registries(build_manager(autoload=False))
    catalog = BlueprintCatalog(registries["blueprints"], "cnn")
    entry = registries["policies"].get("lstm")
    config_cls = entry.spec.load_config_cls()
    policy = entry.build(config_cls() if config_cls else None, catalog=catalog)
    policy.build(SLOTS)
    return policy, catalog


def _signals(catalog: BlueprintCatalog, env: int, epoch: int, max_epochs: int) -> Signals:
    views = []
    for k, sid in enumerate(SLOTS):
        stage = _CYCLE[(env * 3 + epoch // 4 + k) % len(_CYCLE)]
        if stage is Stage.DORMANT:
            views.append(SlotView(slot_id=sid, stage=stage))
            continue
        views.append(
            SlotView(
                slot_id=sid,
                stage=stage,
                seed_id=f"{sid}-{env}",
                blueprint=catalog.ids[(env + k) % len(catalog)],
                alpha=0.5,
                alpha_target=1.0,
                alpha_holding=epoch % 3 != 0,
                epochs_in_stage=epoch % 4,
                epochs_total=epoch % 12,
                contribution=None if epoch % 5 == 0 else 0.1 * (k - 1),
                gradient_health=0.9,
            )
        )
    history = tuple(2.0 - 0.005 * e for e in range(max(0, epoch - 4), epoch + 1))
    return Signals(
        epoch=epoch,
        max_epochs=max_epochs,
        train_loss=history[-1],
        train_accuracy=30.0 + 0.2 * epoch,
        val_loss=history[-1],
        val_accuracy=30.0 + 0.2 * epoch,
        loss_delta=0.005,
        accuracy_delta=0.2,
        plateau_epochs=epoch % 6,
        host_stabilized=epoch > 5,
        best_val_accuracy=30.0 + 0.2 * epoch,
        loss_history=history,
        accuracy_history=tuple(30.0 + 0.2 * e for e in range(max(0, epoch - 4), epoch + 1)),
        slots=tuple(views),
    )


@benchmark("policy_step")
def policy_step(quick: bool) -> list[Figure]:
    policy, catalog = _policy()
    figures = []
    for n in (4, 16):
        batch = [_signals(catalog, e, 12, 150) for e in range(n)]
        batched_hidden = policy.initial_hidden(n)
        single_hidden = [policy.initial_hidden(1) for _ in range(n)]

        def batched(batch: list[Signals] = batch, hidden: Any = batched_hidden) -> None:
            policy.act(batch, hidden)

        def single(batch: list[Signals] = batch, hidden: list[Any] = single_hidden) -> None:
            for sig, h in zip(batch, hidden, strict=True):
                policy.act([sig], h)

        timings = compare(
            {"batched": batched, "single": single}, repeats=10 if quick else 30, warmup=2
        )
        figures.append(
            Figure(
                name=f"one policy step for {n} envs: {n} single-env calls / one batched call",
                value=ratio(timings, "single", "batched"),
                unit="x",
                detail={
                    "batched_median_s": timings["batched"].median_s,
                    "single_median_s": timings["single"].median_s,
                },
            )
        )
    return figures


@benchmark("policy_evaluate")
def policy_evaluate(quick: bool) -> list[Figure]:
    policy, catalog = _policy()
    network, space, builder = policy.network, policy.space, policy.builder
    envs, steps = 4, 150
    torch.manual_seed(0)
    hidden = network.initial_hidden(envs)
    obs_steps, mask_steps, actions = [], [], []
    for t in range(steps):
        obs, states = builder([_signals(catalog, e, t, steps) for e in range(envs)])
        masks = space.masks(states)
        result = network.get_action(obs, masks, hidden)
        hidden = result.hidden
        obs_steps.append(obs)
        mask_steps.append(masks)
        actions.append(result.actions)
    obs = Observation(*(torch.stack(x, dim=1) for x in zip(*obs_steps, strict=True)))
    masks = type(mask_steps[0])(*(torch.stack(x, dim=1) for x in zip(*mask_steps, strict=True)))
    stored = torch.stack(actions, dim=1)
    network.train()

    def one_call() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = network.evaluate_actions(obs, masks, stored)
        return out.log_probs, out.entropies, out.values

    def per_step() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        shape = (network.lstm_layers, envs, network.hidden_dim)
        state = (torch.zeros(shape), torch.zeros(shape))
        log_probs, entropies, values = [], [], []
        for t in range(steps):
            logits, value, state = network(
                obs.features[:, t : t + 1], obs.blueprints[:, t : t + 1], state
            )
            step_masks = type(masks)(*(m[:, t] for m in masks))
            op = stored[:, t, 0]
            head_masks = [step_masks.op, *space.head_masks(step_masks, op)]
            lp, ent = [], []
            for i, mask in enumerate(head_masks):
                dist = MaskedCategorical(
                    logits[i][:, 0], mask, floor=network.floors[i], validate=False
                )
                lp.append(dist.log_prob(stored[:, t, i]))
                ent.append(dist.entropy())
            log_probs.append(torch.stack(lp, dim=-1))
            entropies.append(torch.stack(ent, dim=-1))
            values.append(value[:, 0])
        return (
            torch.stack(log_probs, dim=1),
            torch.stack(entropies, dim=1),
            torch.stack(values, dim=1),
        )

    reference, fast = per_step(), one_call()
    for name, a, b in zip(("log-probs", "entropies", "values"), reference, fast, strict=True):
        if not torch.allclose(a, b, atol=1e-5, rtol=0):
            raise RuntimeError(
                f"evaluate_actions {name} differ from the per-step reference by "
                f"{(a - b).abs().max().item():.3g}"
            )

    def backward(fn: Any) -> Any:
        def run() -> None:
            log_probs, entropies, values = fn()
            (log_probs.sum() + entropies.sum() + values.sum()).backward()
            network.zero_grad(set_to_none=True)

        return run

    timings = compare(
        {"one_call": backward(one_call), "per_step": backward(per_step)},
        repeats=3 if quick else 10,
        warmup=1,
    )
    network.eval()
    return [
        Figure(
            name=f"evaluate_actions, {envs} x {steps} rollout, fwd+bwd: per-step loop / one LSTM call",
            value=ratio(timings, "per_step", "one_call"),
            unit="x",
            goal=">= 2",
            detail={
                "one_call_median_s": timings["one_call"].median_s,
                "per_step_median_s": timings["per_step"].median_s,
                "hidden_dim": network.hidden_dim,
            },
        )
    ]
