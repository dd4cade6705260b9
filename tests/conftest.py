"""Shared fixtures: CPU, one thread, seeded, paths to the golden vectors shipped in tests/data."""

from __future__ import annotations

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
