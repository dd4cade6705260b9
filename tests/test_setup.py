"""Packaging: torch is a loose requirement (a GPU user keeps their CUDA build); the fresh-machine setup,
and so CI, installs the CPU build of torch 2.13.0 first and holds it there with a constraint."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_torch_is_a_range_in_the_package() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    deps = re.search(r"^dependencies = \[(.*?)^\]", text, flags=re.S | re.M)
    assert deps is not None
    [torch] = re.findall(r'^\s*"(torch\b[^"]*)"', deps.group(1), flags=re.M)
    assert "==" not in torch and ">=" in torch


def test_setup_installs_the_pinned_cpu_torch_first() -> None:
    lines = (ROOT / "scripts" / "setup.sh").read_text().splitlines()
    torch_first = next(
        i for i, line in enumerate(lines) if re.search(r'"\$\{PIP\[@\]\}" torch==2\.13\.0\b', line)
    )
    package = next(i for i, line in enumerate(lines) if '-e ".[' in line)
    assert torch_first < package
    assert '-c <(echo "torch==2.13.0")' in lines[package]  # nothing later may move torch
