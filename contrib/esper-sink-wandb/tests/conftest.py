"""Every test runs W&B offline, quietly, with its files in a temporary directory.

The sink asks for offline mode itself; the environment says so too, so that nothing in the
tests (subprocesses included) can reach a server, ask for a login or write to the home
directory. A W&B API key in the environment is removed for the same reason.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def offline_wandb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    home = tmp_path_factory.mktemp("wandb-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WANDB_MODE", "offline")
        patch.setenv("WANDB_SILENT", "true")
        patch.setenv("WANDB_DISABLE_GIT", "true")
        for name in ("WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"):
            patch.setenv(name, str(home / name.lower()))
        for name in ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_ENTITY", "WANDB_PROJECT"):
            patch.delenv(name, raising=False)
        yield
