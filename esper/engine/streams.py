"""An environment's own random streams and CUDA stream.

Each environment draws from random streams of its own (weight init, dropout, seeds' init):
`Streams.own` swaps its CPU (and CUDA) generator states in around each of its steps and saves
them after, so what an environment draws does not depend on what other environments in the
process do, and a resumed one continues its streams exactly. With ``use_stream`` on a CUDA
device it also has a CUDA stream of its own, so several environments can train on one GPU
at once (`Streams.on_stream`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


class Streams:
    def __init__(self, seed: int, device: torch.device, *, use_stream: bool = False) -> None:
        self.device = device
        #: The saved generator states (part of a checkpoint).
        self.cpu = torch.Generator().manual_seed(seed).get_state()
        self.cuda: torch.Tensor | None = None
        self._inside = False
        self.stream: torch.cuda.Stream | None = (
            torch.cuda.Stream(device=device) if device.type == "cuda" and use_stream else None
        )

    @contextlib.contextmanager
    def own(self) -> Iterator[None]:
        """Run the block in this environment's random streams (re-entrant)."""
        if self._inside:
            yield
            return
        cuda = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            torch.set_rng_state(self.cpu)
            if cuda and self.cuda is not None:
                torch.cuda.set_rng_state(self.cuda, self.device)
            self._inside = True
            try:
                yield
            finally:
                self._inside = False
                self.cpu = torch.get_rng_state()
                if cuda:
                    self.cuda = torch.cuda.get_rng_state(self.device)

    @contextlib.contextmanager
    def on_stream(self) -> Iterator[None]:
        """Run the block on this environment's CUDA stream, if it has one."""
        if self.stream is None:
            yield
            return
        with torch.cuda.stream(self.stream):
            yield
