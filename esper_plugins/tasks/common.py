"""Helpers shared by the built-in tasks: seeded streams, hosts by registry, augmentation."""

from __future__ import annotations

import hashlib
import importlib
import re
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import attrs
import torch
import torch.nn.functional as F

from esper.plugin import EsperError, Registries, RegistryError, SlottedHost


def stream_seed(seed: int, *labels: object) -> int:
    """A 63-bit seed for one named random stream of a run seed (``stream_seed(7, "image", "val")``).

    Hashing keeps the streams independent (the validation set does not change when the
    training set grows) and is the same on every platform and Python version.
    """
    text = ":".join(str(part) for part in (seed, *labels))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def optional_import(module: str, *, extra: str, purpose: str) -> ModuleType:
    """Import an optional dependency, or say which extra installs it (a user error, exit 2)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise EsperError(
            f"{purpose} needs the {module!r} package, which is not installed: "
            f"pip install 'esper-nn[{extra}]'"
        ) from None


def cpu_generator(seed: int, *labels: object) -> torch.Generator:
    """A CPU generator for one random stream; CPU streams are identical on every machine."""
    return torch.Generator(device="cpu").manual_seed(stream_seed(seed, *labels))


def build_host(
    registries: Registries,
    *,
    task: str,
    topology: str,
    host_name: str,
    preset: Mapping[str, Any],
    overrides: Mapping[str, Any],
    pinned: Mapping[str, Any] | None = None,
    probe: torch.Tensor | None = None,
    **build_kwargs: Any,
) -> SlottedHost:
    """Build ``host_name`` through the host registry with ``preset | overrides`` as its config.

    The options are structured with the host's own config class, so a wrong option is reported
    by the host plugin's validators, as a user error naming the task's ``host`` table.
    ``pinned`` options are fixed by the task's data (an image's channels): overriding them
    with another value is an error here rather than a shape mismatch mid-epoch. ``probe``, one
    input shaped like the task's, is passed through the new host (eval mode, no gradients, no
    random draws), so options the host accepts but the data does not fit (more pooling than
    the image has pixels) are a user error naming ``config.task.host`` too.
    """
    for key, value in (pinned or {}).items():
        if key in overrides and overrides[key] != value:
            raise EsperError(
                f"config.task.host.{key}: task {task!r}: its data fixes {key} = {value!r}, "
                f"got {overrides[key]!r}"
            )
    try:
        entry = registries["hosts"].get(host_name, where=lambda spec: spec.topology == topology)
    except RegistryError as exc:
        raise EsperError(f"config.task.host_name: {exc}") from None
    options = {**preset, **overrides}
    config_cls = entry.spec.load_config_cls()
    config: Any = None
    if config_cls is None:
        if options:
            raise EsperError(
                f"config.task.host: task {task!r}: host {entry.id!r} takes no options, "
                f"got {options}"
            )
    else:
        known = {a.name for a in attrs.fields(config_cls)}
        # Presets name options of the built-in host; another host may not have them all.
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise EsperError(
                f"config.task.host.{unknown[0]}: task {task!r}: unknown host option(s) "
                f"{', '.join(unknown)} for {entry.id!r}; known: {', '.join(sorted(known))}"
            )
        try:
            config = config_cls(**{k: val for k, val in options.items() if k in known})
        except (TypeError, ValueError) as exc:
            # attrs validators say "'field' must be ...": lead with that field's key path.
            text = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
            field = re.match(r"^'?([a-z_][a-z0-9_]*)'?(?: \([^)]*\))? must ", text)
            key = "config.task.host" + (f".{field.group(1)}" if field else "")
            raise EsperError(
                f"{key}: task {task!r}: invalid host option for {entry.id!r}: {text}"
            ) from None
    host = entry.build(config, **build_kwargs)
    if not isinstance(host, SlottedHost):
        raise EsperError(
            f"task {task!r}: host {entry.id!r} built a {type(host).__name__}, not a SlottedHost"
        )
    if probe is not None:
        _probe(host, probe, task=task, host_id=entry.id)
    return host


def _probe(host: SlottedHost, probe: torch.Tensor, *, task: str, host_id: str) -> None:
    training = host.training
    host.eval()
    try:
        with torch.no_grad():
            host(probe)
    except Exception as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise EsperError(
            f"config.task.host: task {task!r}: host {host_id!r} built with these options "
            f"cannot take the task's inputs {tuple(probe.shape)} ({type(exc).__name__}: {text})"
        ) from None
    finally:
        host.train(training)


def crop_flip(x: torch.Tensor, generator: torch.Generator, *, padding: int = 4) -> torch.Tensor:
    """Random crop after zero padding, and random horizontal flip, per image, on x's device.

    The random draws come from ``generator`` (best on ``x``'s device, so nothing syncs); the
    same generator state gives the same batch. Tensor ops only (no Python loop over images),
    so it is cheap on a GPU and traceable. The output keeps ``x``'s memory format (a
    channels-last batch is cropped as ``[B, H, W, C]``), so the host converts nothing.
    """
    if x.dim() != 4:
        raise ValueError(f"crop_flip expects [B, C, H, W], got shape {tuple(x.shape)}")
    b, c, h, w = x.shape
    dev = x.device
    gdev = generator.device
    offsets = torch.randint(0, 2 * padding + 1, (2, b), generator=generator, device=gdev)
    flip = torch.rand(b, generator=generator, device=gdev) < 0.5
    offsets, flip = offsets.to(dev), flip.to(dev)
    rows = offsets[0].view(b, 1) + torch.arange(h, device=dev)
    cols = offsets[1].view(b, 1) + torch.arange(w, device=dev)
    # A flipped crop reads its columns right to left.
    cols = torch.where(flip.view(b, 1), cols.flip(1), cols)
    if x.is_contiguous() or not x.is_contiguous(memory_format=torch.channels_last):
        padded = F.pad(x, (padding, padding, padding, padding))
        out = padded.gather(2, rows.view(b, 1, h, 1).expand(b, c, h, w + 2 * padding))
        return out.gather(3, cols.view(b, 1, 1, w).expand(b, c, h, w))
    # Channels-last: the same gathers on the [B, H, W, C] view, which is contiguous.
    nhwc = F.pad(x.permute(0, 2, 3, 1), (0, 0, padding, padding, padding, padding))
    out = nhwc.gather(1, rows.view(b, h, 1, 1).expand(b, h, w + 2 * padding, c))
    return out.gather(2, cols.view(b, 1, w, 1).expand(b, h, w, c)).permute(0, 3, 1, 2)
