"""The core configuration schema: frozen attrs classes with validators.

A config file has one table per part of a run::

    [run]                      # RunSection below
    seed = 7

    [task]                     # a component: `name` picks the plugin component,
    name = "image"             # every other key goes to that component's config class
    classes = 12

    [telemetry.sinks.jsonl]    # each selected sink with its own options
    fsync = true

Component sections are structured with the config class their plugin declares, so the core
never needs to know a plugin's options.
"""

from __future__ import annotations

import os
import re
from pathlib import PurePath
from typing import Any

import attrs
from attrs import validators as v

from esper.bounds import MAX_EPOCHS, MAX_SEED, finite
from esper.engine.options import CompileSection
from esper.lifecycle import GateConfig

#: Config table -> registry kind of the component it selects.
COMPONENT_KINDS: dict[str, str] = {
    "task": "tasks",
    "policy": "policies",
    "reward": "rewards",
    "agent": "agents",
    "governor": "governors",
    "runner": "runners",
}

#: Lifecycle gate settings of a run where the config does not set them. The gates' own
#: defaults are the prior system's, tuned for 150-epoch episodes; a run defaults to
#: 40 epochs, so a seed trains for 5 epochs (not 10) before it may blend.
RUN_LIFECYCLE_DEFAULTS: dict[str, object] = {"min_training_epochs": 5}


def _check_device(_inst: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not re.fullmatch(r"cpu|cuda(:\d+)?|mps|auto", value):
        raise ValueError(
            f"'{attribute.name}' must be cpu, cuda, cuda:N, mps or auto, got {value!r}"
        )


def _check_inside_cwd(_inst: object, attribute: attrs.Attribute[str], value: str) -> None:
    # Lexical on purpose: a config shared with someone must not aim their writes at
    # ../../somewhere; an absolute path is the user's explicit choice.
    if "\x00" in value:
        raise ValueError(f"'{attribute.name}' must not contain a NUL character")
    path = PurePath(value)
    if not path.is_absolute() and ".." in PurePath(os.path.normpath(value)).parts:
        raise ValueError(
            f"'{attribute.name}' must stay inside the working directory when relative, got "
            f"{value!r}; name an absolute path to write elsewhere"
        )


@attrs.frozen(kw_only=True)
class RunSection:
    """Options of the run itself."""

    #: Seeds the run's generators (seed, seed + 1, seed + 2), so at most MAX_SEED.
    seed: int = attrs.field(default=42, validator=[v.ge(0), v.le(MAX_SEED)])
    device: str = attrs.field(default="cpu", validator=_check_device)
    epochs: int = attrs.field(default=40, validator=[v.gt(0), v.le(MAX_EPOCHS)])
    #: Parent of run directories; relative to the working directory, which it may not climb
    #: out of (``../x``): name an absolute path to put runs elsewhere.
    out: str = attrs.field(default="runs", validator=[v.min_len(1), _check_inside_cwd])
    #: Epochs between checkpoints (at most the longest run).
    checkpoint_every: int = attrs.field(default=5, validator=[v.gt(0), v.le(MAX_EPOCHS)])
    #: Mixed precision: off, bf16, fp16 (CUDA only) or auto.
    amp: str = attrs.field(default="off", validator=v.in_(("off", "bf16", "fp16", "auto")))
    #: Slots seeds may grow in (empty: every slot the host declares).
    slots: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    #: Cap on training batches per epoch (0: a full pass over the training set).
    batches_per_epoch: int = attrs.field(default=0, validator=[v.ge(0), v.le(1_000_000_000)])
    #: Stop each arm once its training FLOPs reach this many (0: no budget), so that arms can
    #: be compared at equal compute; the epoch that reaches it stops at the batch that does.
    budget_flops: float = attrs.field(default=0.0, validator=[finite, v.ge(0), v.le(1e30)])
    #: Also train the static host (a controller that never grows) side by side for comparison.
    static_baseline: bool = True
    #: Where real datasets live (CIFAR-10, text files); embedded tasks ignore it.
    data_dir: str | None = None


IMITATE_PREFIX = "imitate:"


def _init_spec(_inst: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str):
        raise ValueError(f"'{attribute.name}' must be a string, got {value!r}")
    if value and (not value.startswith(IMITATE_PREFIX) or not value[len(IMITATE_PREFIX) :]):
        raise ValueError(
            f"'{attribute.name}' must be empty or 'imitate:<controller>' (a policy plugin such "
            f"as heuristic, or a policy.pt), got {value!r}"
        )


@attrs.frozen(kw_only=True)
class TrainSection:
    """Options of ``esper train`` (learning a controller). Defaults are sized for a CPU."""

    #: Host-training episodes in all (one per environment per update).
    episodes: int = attrs.field(default=8, validator=[v.gt(0), v.le(1_000_000)])
    #: Environments stepped together; each update learns from one episode of each.
    envs: int = attrs.field(default=2, validator=[v.gt(0), v.le(4096)])
    #: Write the policy checkpoint every this many updates (and after the last); at most
    #: the largest episode count, beyond which it means the same.
    checkpoint_every: int = attrs.field(default=1, validator=[v.gt(0), v.le(1_000_000)])
    #: How the controller starts: "" (its own initial weights) or "imitate:<controller>",
    #: behaviour cloning of a policy plugin or a policy.pt before the first PPO update.
    init: str = attrs.field(default="", validator=_init_spec)
    #: Imitation: the teacher's episodes the student learns from, and those held out to
    #: measure how often the student then decides as the teacher does.
    imitation_episodes: int = attrs.field(default=4, validator=[v.gt(0), v.le(100_000)])
    imitation_heldout: int = attrs.field(default=1, validator=[v.ge(0), v.le(100_000)])
    #: Passes of behaviour cloning over the teacher's episodes.
    imitation_epochs: int = attrs.field(default=300, validator=[v.gt(0), v.le(1_000_000)])
    #: Adam's learning rate for the fit (PPO keeps its own).
    imitation_lr: float = attrs.field(default=3e-3, validator=[finite, v.gt(0), v.le(1.0)])
    #: Cheap episodes, a curriculum: the first ``cheap_share`` of the updates (rounded down, so
    #: the last update is always a full one) and every imitation episode train only
    #: ``cheap_batches`` of each epoch's batches. The episode keeps its length, so the
    #: lifecycle's gates and the observation's horizon mean what they mean in a full run.
    cheap_share: float = attrs.field(default=0.75, validator=[finite, v.ge(0.0), v.le(1.0)])
    cheap_batches: float = attrs.field(default=0.25, validator=[finite, v.gt(0.0), v.le(1.0)])


@attrs.frozen(kw_only=True)
class Component:
    """A selected plugin component and its structured options."""

    id: str
    plugin: str
    options: Any = None


@attrs.frozen(kw_only=True)
class EsperConfig:
    """A resolved, validated configuration."""

    run: RunSection
    lifecycle: GateConfig
    components: dict[str, Component]
    sinks: dict[str, Component]
    required_plugins: tuple[str, ...] = ()
    train: TrainSection = attrs.field(factory=TrainSection)
    compile: CompileSection = attrs.field(factory=CompileSection)
