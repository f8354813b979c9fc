"""``esper.runners.sequential``: environments one after another (the reference runner)."""

from __future__ import annotations

from typing import Any

from esper.plugin import Environment, EpisodeResult, LockstepLoop, RolloutJob, Runner


class SequentialRunner(Runner):
    """Plays each episode to its end before building the next environment.

    Only one environment exists at a time, so memory stays at one host's worth; the policy
    decides for one environment per call.
    """

    def __init__(self, config: Any = None) -> None:
        self.config = config

    def collect(self, job: RolloutJob) -> list[EpisodeResult]:
        loop: LockstepLoop[Environment] = LockstepLoop(job)
        results = []
        for row, seed in enumerate(job.seeds):
            env = job.factory(row, seed)
            results += loop.run([env], [row])
            del env  # free this host before the next is built
        return results
