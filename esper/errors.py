"""The exceptions esper raises on purpose.

Every error a user can cause (a bad config value, a plugin that does not load, a corrupt
checkpoint) is an `EsperError`. The CLI prints its message and exits with its `exit_code`
(2, "usage error") without a traceback; anything else is a bug and keeps its traceback.
Failures of the machine rather than the input (a full disk, a task's data path raising
mid-run) are `StorageError` / `DataError`: reported the same way, with exit code 1.
"""

from __future__ import annotations


class EsperError(Exception):
    """Base class for errors caused by input, configuration or environment."""

    exit_code: int = 2


class PluginError(EsperError):
    """A plugin could not be found, imported, registered or validated."""


class RegistryError(EsperError):
    """A registry lookup failed, or two plugins registered the same id."""


class ConfigError(EsperError):
    """A configuration file or override is invalid.

    `problems` holds one ``"config.a.b: message"`` line per problem.
    """

    def __init__(self, problems: list[str], *, source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        head = f"invalid configuration in {source}" if source else "invalid configuration"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems))


class TaskDataError(EsperError):
    """A task's data breaks the task contract: labels outside ``[0, num_outputs)``, inputs
    that are not finite, inputs and targets of different lengths. Found once, at load."""


class TelemetryError(EsperError):
    """An event record or event log could not be read."""


class StorageError(EsperError):
    """A file could not be written (disk full, permissions); the previous version is intact."""

    exit_code = 1


class DataError(EsperError):
    """A task's data path failed during a run; the last checkpoint is intact and resumable."""

    exit_code = 1
