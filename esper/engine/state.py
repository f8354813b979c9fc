"""An environment's checkpoint state: what `esper resume` needs to continue bit for bit.

The grown model (topology, lifecycle, weights), the optimizer, the fp16 scaler, the data-order
and augmentation generators, the environment's own random streams, the signal tracker, the
controller's and the governor's state, and the history. Tensors and plain containers only, so
a checkpoint loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from esper.engine.environment import Environment


def environment_state(env: Environment) -> dict[str, Any]:
    """``env``'s state as a plain dict."""
    return {
        "epoch": env.epoch,
        "model": env.model.grown_state(),
        "optimizer": env.optimizer.state_dict(),
        "scaler": env.scaler.state_dict() if env.scaler is not None else None,
        "data_generator": env.data_generator.get_state(),
        "aug_generator": env.aug_generator.get_state(),
        "rng_cpu": env.streams.cpu,
        "rng_cuda": env.streams.cuda,
        "tracker": env.tracker.state_dict(),
        "policy": env.policy.state_dict(),
        "governor": env.governor.state_dict() if env.governor is not None else None,
        "history": env.history,
        "flops": env.compute.state_dict(),
    }


def restore_environment(env: Environment, state: dict[str, Any]) -> None:
    """Put ``env`` (built like the one that saved ``state``) in the saved state."""
    with env.streams.own():  # rebuilding seeds must not disturb anyone's random stream
        env.model.load_grown_state(state["model"])
    env.optimizer.load_state_dict(state["optimizer"])
    if env.scaler is not None and state["scaler"] is not None:
        env.scaler.load_state_dict(state["scaler"])
    env.data_generator.set_state(state["data_generator"])
    env.aug_generator.set_state(state["aug_generator"])
    env.streams.cpu = state["rng_cpu"]
    env.streams.cuda = state["rng_cuda"]
    env.tracker.load_state_dict(state["tracker"])
    env.policy.load_state_dict(state["policy"])
    if env.governor is not None and state["governor"] is not None:
        env.governor.load_state_dict(state["governor"])
    env.history = list(state["history"])
    env.compute.load_state_dict(state.get("flops"))
    env.epoch = int(state["epoch"])
