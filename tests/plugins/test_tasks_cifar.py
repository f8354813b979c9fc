"""The cifar10 task: the python-batch reader on fake files, torchvision (faked), and errors."""

from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import torch

from esper.errors import EsperError
from esper.registry import Registries
from esper_plugins.tasks import cifar
from esper_plugins.tasks.cifar import FOLDER, MEAN, STD, CIFAR10Task, read_python_batches
from esper_plugins.tasks.common import crop_flip
from esper_plugins.tasks.config import CIFAR10TaskConfig

from support.cifar import TEST_IMAGES, make_fake_cifar

np = pytest.importorskip("numpy")


@pytest.fixture(autouse=True)
def no_torchvision(monkeypatch: pytest.MonkeyPatch) -> None:
    # The reader path is what these tests check, whether or not torchvision is installed.
    monkeypatch.setattr(cifar, "import_torchvision", lambda: None)


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_reader_on_fake_batches(tmp_path: Path, protocol: int) -> None:
    make_fake_cifar(tmp_path, protocol=protocol)
    (train_x, train_y), (test_x, test_y) = read_python_batches(tmp_path)
    assert train_x.shape == (15, 3, 32, 32)
    assert train_x.dtype == torch.uint8
    assert train_y.tolist() == [i % 10 for i in range(15)]
    assert test_y.tolist() == [9, 8, 7, 6]
    assert test_x.shape == (TEST_IMAGES, 3, 32, 32)
    # Channel planes and row-major pixels land where CIFAR puts them.
    assert (train_x[4, 0] == 10 * 4 + 4).all()
    assert (train_x[4, 1] == 104).all()
    assert train_x[4, 2, 0, :].tolist() == list(range(32))
    assert train_x[4, 2, 1, 0].item() == 32


def test_task_loads_normalises_and_augments(tmp_path: Path) -> None:
    make_fake_cifar(tmp_path)
    task = CIFAR10Task()
    data = task.load(seed=0, data_dir=tmp_path)
    assert data.train_x.shape == (15, 3, 32, 32)
    assert data.val_x.shape == (4, 3, 32, 32)
    assert data.train_x.dtype == torch.float32
    assert data.train_y.dtype == torch.int64
    green = (104 / 255 - MEAN[1]) / STD[1]
    assert torch.allclose(data.train_x[4, 1], torch.full((32, 32), green))
    assert data.augment is crop_flip


def test_subsets_and_options(tmp_path: Path) -> None:
    make_fake_cifar(tmp_path)
    task = CIFAR10Task(CIFAR10TaskConfig(train_size=5, val_size=2, augment=False))
    data = task.load(seed=0, data_dir=tmp_path)
    assert data.train_y.tolist() == [0, 1, 2, 3, 4]
    assert data.val_y.tolist() == [9, 8]
    assert data.augment is None


def test_root_option_beats_the_data_dir(tmp_path: Path) -> None:
    make_fake_cifar(tmp_path / "mine")
    task = CIFAR10Task(CIFAR10TaskConfig(root=str(tmp_path / "mine")))
    assert task.load(seed=0, data_dir=tmp_path / "elsewhere").train_x.shape[0] == 15
    assert CIFAR10Task().root(None) == Path("data")
    assert CIFAR10Task().root(tmp_path) == tmp_path


def test_missing_files_name_the_directory(tmp_path: Path) -> None:
    with pytest.raises(EsperError) as info:
        CIFAR10Task().load(seed=0, data_dir=tmp_path)
    message = str(info.value)
    assert str(tmp_path / FOLDER) in message
    assert "data_batch_1" in message
    assert "test_batch" in message
    assert "esper-nn[vision]" in message


def test_one_missing_batch_is_named(tmp_path: Path) -> None:
    folder = make_fake_cifar(tmp_path)
    (folder / "data_batch_3").unlink()
    with pytest.raises(EsperError, match=r"lacks data_batch_3\. "):
        CIFAR10Task().load(seed=0, data_dir=tmp_path)


def test_download_without_torchvision_gives_the_pip_hint(tmp_path: Path) -> None:
    task = CIFAR10Task(CIFAR10TaskConfig(download=True))
    with pytest.raises(EsperError, match=r"needs torchvision.*pip install 'esper-nn\[vision\]'"):
        task.load(seed=0, data_dir=tmp_path)
    # With the files already there, nothing needs downloading.
    make_fake_cifar(tmp_path)
    assert task.load(seed=0, data_dir=tmp_path).train_x.shape[0] == 15


def test_a_pickle_with_code_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_fake_cifar(tmp_path)

    class Exploit:
        def __reduce__(self) -> tuple[Any, ...]:
            return (print, ("pwned",))

    with (folder / "data_batch_2").open("wb") as f:
        pickle.dump({b"data": Exploit(), b"labels": [1]}, f, protocol=2)
    with pytest.raises(
        EsperError, match=r"data_batch_2.*refusing to load (__builtin__|builtins)\.print"
    ):
        CIFAR10Task().load(seed=0, data_dir=tmp_path)
    assert "pwned" not in capsys.readouterr().out


def test_corrupt_batches_are_user_errors(tmp_path: Path) -> None:
    folder = make_fake_cifar(tmp_path)
    (folder / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(EsperError, match="not a CIFAR-10 python batch"):
        CIFAR10Task().load(seed=0, data_dir=tmp_path)
    with (folder / "test_batch").open("wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), dtype=np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(EsperError, match=r"expected data of shape \[n, 3072\]"):
        CIFAR10Task().load(seed=0, data_dir=tmp_path)
    with (folder / "test_batch").open("wb") as f:
        pickle.dump({b"data": np.zeros((1, 3072), dtype=np.uint8), b"labels": [12]}, f)
    with pytest.raises(EsperError, match=r"labels must lie in 0\.\.9"):
        CIFAR10Task().load(seed=0, data_dir=tmp_path)


def _fake_torchvision(calls: list[tuple[str, bool, bool]], *, fail: bool = False) -> Any:
    class CIFAR10:
        def __init__(self, root: str, train: bool, download: bool) -> None:
            calls.append((root, train, download))
            if fail:
                raise RuntimeError("Dataset not found or corrupted.")
            n = 6 if train else 2
            # torchvision keeps HWC uint8 images and a list of int targets.
            self.data = np.zeros((n, 32, 32, 3), dtype=np.uint8)
            self.data[:, :, :, 2] = 255
            self.targets = list(range(n))

    module = types.ModuleType("torchvision")
    module.datasets = types.SimpleNamespace(CIFAR10=CIFAR10)  # type: ignore[attr-defined]
    return module


def test_torchvision_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[tuple[str, bool, bool]] = []
    monkeypatch.setitem(sys.modules, "torchvision", _fake_torchvision(calls))
    monkeypatch.setattr(cifar, "import_torchvision", lambda: sys.modules["torchvision"])
    data = CIFAR10Task(CIFAR10TaskConfig(download=True)).load(seed=0, data_dir=tmp_path)
    assert calls == [(str(tmp_path), True, True), (str(tmp_path), False, True)]
    assert data.train_x.shape == (6, 3, 32, 32)  # NHWC -> NCHW
    blue = (1.0 - MEAN[2]) / STD[2]
    assert torch.allclose(data.train_x[:, 2], torch.full((6, 32, 32), blue))
    assert data.train_y.tolist() == list(range(6))


def test_torchvision_missing_data_is_a_user_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[tuple[str, bool, bool]] = []
    fake = _fake_torchvision(calls, fail=True)
    monkeypatch.setattr(cifar, "import_torchvision", lambda: fake)
    with pytest.raises(EsperError, match=r"not found or corrupted.*download = true"):
        CIFAR10Task().load(seed=0, data_dir=tmp_path)
    assert calls == [(str(tmp_path), True, False)]


def test_real_import_reports_a_missing_torchvision(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the real import_torchvision
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import fails as if absent
    assert cifar.import_torchvision() is None


def test_cifar_info_and_host(registries: Registries) -> None:
    task = CIFAR10Task(CIFAR10TaskConfig(batch_size=256))
    info = task.info
    assert (info.kind, info.topology, info.num_outputs, info.batch_size) == (
        "classification",
        "cnn",
        10,
        256,
    )
    host = task.build_host(registries)
    assert sum(p.numel() for p in host.parameters()) == 6418  # the spec's cifar_baseline
    impaired = CIFAR10Task(CIFAR10TaskConfig(host={"base_channels": 1, "kernel_size": 1}))
    assert sum(p.numel() for p in impaired.build_host(registries).parameters()) == 77
