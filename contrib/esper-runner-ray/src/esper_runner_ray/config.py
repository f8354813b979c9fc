"""The ray runner's options: the ``[runner]`` table when ``name = "ray"`` (no ray, no torch)."""

from __future__ import annotations

import re
from typing import Any

import attrs
from attrs import validators as v
from esper.plugin import finite

#: ``HOST:PORT`` (a cluster's GCS, as ``ray start --head`` prints it) or ``ray://HOST:PORT``
#: (Ray Client); HOST may be a bracketed IPv6 address.
_ADDRESS = re.compile(r"(ray://)?([^\s:/\[\]]+|\[[0-9A-Fa-f:.]+\]):\d{1,5}")


def _check_address(_: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if value in ("", "local", "auto") or _ADDRESS.fullmatch(value):
        return
    # "'name' ..." is the form esper's config errors turn into the key path.
    raise ValueError(
        f"'{attribute.name}' is {value!r}: expected '' (a local Ray instance on this machine), "
        "'auto' (the cluster this machine belongs to), 'HOST:PORT' or 'ray://HOST:PORT'"
    )


def _positive_or_none(_: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"'{attribute.name}' must be positive (or left unset), got {value!r}")


#: Most CPUs an option may name (a local instance's, or one actor's share).
_MAX_CPUS = 65_536


@attrs.frozen(kw_only=True)
class RayRunnerConfig:
    """Where the environment actors run and what each asks of the cluster."""

    #: '' or 'local': start a Ray instance on this machine (loopback only, no dashboard);
    #: 'auto', 'HOST:PORT' or 'ray://HOST:PORT': join an existing cluster.
    address: str = attrs.field(default="", validator=_check_address)
    #: CPUs of the local instance (default: this machine's). Ignored when joining a cluster.
    num_cpus: int | None = attrs.field(
        default=None, validator=[_positive_or_none, v.optional(v.le(_MAX_CPUS))]
    )
    #: CPUs each environment actor reserves (default: min(1, cluster CPUs / envs), so every
    #: environment of an update is placed at once).
    cpus_per_env: float | None = attrs.field(
        default=None, validator=v.optional([finite, _positive_or_none, v.le(_MAX_CPUS)])
    )
    #: Environments sharing one GPU when the cluster has GPUs and run.device is not 'cpu':
    #: each actor asks for 1/envs_per_gpu of a GPU (default: envs spread evenly over the
    #: cluster's GPUs). 0: never use GPUs. At most 4096, the most environments a run steps
    #: together (train.envs).
    envs_per_gpu: int | None = attrs.field(
        default=None, validator=v.optional([v.ge(0), v.le(4096)])
    )
    #: torch intra-op threads in each actor (the vectorized runner uses the driver's count;
    #: equal counts give bit-identical CPU results). torch takes a C int; 1024 is plenty.
    torch_threads: int = attrs.field(default=1, validator=[v.ge(1), v.le(1024)])
    #: How often Ray restarts a dead actor before the runner gives up (-1: forever).
    max_restarts: int = attrs.field(default=3, validator=[v.ge(-1), v.le(1_000_000)])
    #: Seconds to wait for every actor to start (or restart) before failing with the
    #: resources the cluster offers; at most a day (Ray hands timeouts to C++ as integer
    #: milliseconds, which an enormous one overflows).
    start_timeout_s: float = attrs.field(default=300.0, validator=[finite, v.gt(0), v.le(86_400)])
    #: Ray's session directory for a local instance (default: <system temp>/esper-ray).
    temp_dir: str = ""
