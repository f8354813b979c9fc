"""The options of the ``mlflow`` sink: the ``[telemetry.sinks.mlflow]`` table."""

from __future__ import annotations

import attrs
from attrs import validators as v

#: MLflow refuses longer tag values (and names longer than 250 characters).
MAX_TAG_VALUE = 8000
MAX_NAME = 250


def _trimmed(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value != value.strip():
        raise ValueError(f"'{attribute.name}' has leading or trailing spaces: {value!r}")
    if len(value) > MAX_NAME and attribute.name in ("experiment", "run_name"):
        raise ValueError(f"'{attribute.name}' must have at most {MAX_NAME} characters")


def _not_blank(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value.strip():
        raise ValueError(f"'{attribute.name}' must not be empty, got {value!r}")


def _tags(_instance: object, attribute: attrs.Attribute[dict[str, str]], value: object) -> None:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(t, str) for k, t in value.items()
    ):
        raise TypeError(f"'{attribute.name}' must be a table of strings, got {value!r}")
    for key, text in value.items():
        if not key.strip() or len(key) > MAX_NAME or len(text) > MAX_TAG_VALUE:
            raise ValueError(
                f"'{attribute.name}' must have names of 1 to {MAX_NAME} characters and values "
                f"of at most {MAX_TAG_VALUE}, got {key!r}"
            )
        if key.startswith(("mlflow.", "esper.")):
            raise ValueError(
                f"'{attribute.name}' may not set {key!r}: mlflow.* and esper.* are set by "
                "MLflow and the sink"
            )


@attrs.frozen(kw_only=True)
class MlflowSinkConfig:
    """Options of the MLflow sink.

    An empty ``tracking_uri`` (the default) is a store of the run's own: the SQLite database
    ``mlflow/mlflow.db`` in the run directory, with the artifacts under ``mlflow/artifacts``.
    Any other value is handed to MLflow as it is: a server (``http://host:5000``), a shared
    database (``sqlite:////path/to/mlflow.db``), ``databricks``.

    ``artifact_location`` matters only when the sink makes the experiment (the first run
    into a store that lacks it): where that experiment keeps its runs' files, as a URI or an
    absolute path. Empty, it is ``mlflow/artifacts`` beside the run's own store, and MLflow's
    default otherwise: the server's artifact root, or ``./mlruns`` in the working directory
    for a database URI. An empty ``run_name`` is the run directory's name (the esper run id;
    the evaluation's name for ``esper eval``). ``tags`` are added to every run the sink starts.
    """

    tracking_uri: str = attrs.field(default="", validator=[v.instance_of(str), _trimmed])
    experiment: str = attrs.field(
        default="esper", validator=[v.instance_of(str), _not_blank, _trimmed]
    )
    artifact_location: str = attrs.field(default="", validator=[v.instance_of(str), _trimmed])
    run_name: str = attrs.field(default="", validator=[v.instance_of(str), _trimmed])
    tags: dict[str, str] = attrs.field(factory=dict, validator=_tags)
