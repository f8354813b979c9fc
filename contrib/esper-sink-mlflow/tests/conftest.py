"""Every test keeps MLflow local and quiet: no tracking server from the environment, and
MLflow's own logging held to warnings. ``store`` gives a test a SQLite store of its own,
copied from one made once: MLflow takes about two seconds to make the tables of a new one."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from mlflow_reader import Store


@pytest.fixture(scope="session", autouse=True)
def local_mlflow() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
            patch.delenv(name, raising=False)
        patch.setenv("MLFLOW_LOGGING_LEVEL", "WARNING")
        yield


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store(empty_store: Path, tmp_path: Path) -> Store:
    """A store given by its tracking URI, as a shared one would be, in ``tmp_path/store``."""
    folder = tmp_path / "store"
    folder.mkdir()
    shutil.copyfile(empty_store, folder / "mlflow.db")
    return Store(uri=f"sqlite:///{folder / 'mlflow.db'}", artifacts=(folder / "files").as_uri())
