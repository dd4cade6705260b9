"""Shared fixtures: CPU, one thread, seeded, paths to the golden vectors shipped in tests/data."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

DATA = Path(__file__).parent / "data"


def pytest_configure(config: pytest.Config) -> None:
    # Test-process setting only (the library never sets torch flags): on a loaded 2-core machine
    # one intra-op thread is both faster and reproducible.
    torch.set_num_threads(1)


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _packaged_copy(directory: Path, without: tuple[str, ...] = ()) -> Path:
    """The packaged small model's files copied into ``directory``, without its manifest (a copy to
    change, not the package's folder) and the files named in ``without``."""
    from s2tts.inference.packaged import MANIFEST, find_packaged

    folder = find_packaged()
    assert folder is not None, "the package ships a model"
    directory.mkdir(parents=True, exist_ok=True)
    for path in folder.iterdir():
        if path.is_file() and path.name not in (MANIFEST, *without):
            shutil.copyfile(path, directory / path.name)
    return directory


@pytest.fixture(scope="session")
def packaged_copy() -> Callable[..., Path]:
    """``packaged_copy(directory, without=("voice.json",))``: a trained model to alter in tests (a
    random one may stop at once where a test needs it to say something)."""
    return _packaged_copy
