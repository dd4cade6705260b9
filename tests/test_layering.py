"""Imports flow one way: text/models <- inference <- server/cli (STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "s2tts"
ALLOWED = {
    "models": {"s2tts.models", "s2tts.errors"},
    "text": {"s2tts.text", "s2tts.errors"},
    "audio": {"s2tts.audio", "s2tts.errors"},
    # model-based scorers (DNSMOS, DistillMOS, speaker encoder) shared by data and eval
    "scoring": {"s2tts.scoring", "s2tts.errors"},
    # s2tts.atomic (atomic file writes) is a leaf like s2tts.errors: it imports nothing of the package
    "inference": {
        "s2tts.inference",
        "s2tts.models",
        "s2tts.text",
        "s2tts.errors",
        "s2tts.checkpoint",
        "s2tts.atomic",
    },
    "atomic": set(),
    # the evaluation harness drives the engine (or a codec alone, to judge its resynthesis) and reads
    # corpus manifests; never the server or trainers
    "eval": {
        "s2tts.eval",
        "s2tts.models.codec",
        "s2tts.errors",
        "s2tts.audio",
        "s2tts.inference",
        "s2tts.checkpoint",
        "s2tts.data.manifest",
        "s2tts.scoring",
    },
    "data": {"s2tts.data", "s2tts.audio", "s2tts.text", "s2tts.models", "s2tts.scoring", "s2tts.errors"},
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.startswith("s2tts")}


def _files(package: str) -> list[Path]:
    """The modules of a package, or the one module ``package.py``."""
    module = SRC / f"{package}.py"
    files = [module] if module.is_file() else sorted((SRC / package).rglob("*.py"))
    assert files, f"no module or package {package!r}"
    return files


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_it_may(package: str) -> None:
    bad = {
        f"{path.relative_to(SRC)} imports {name}"
        for path in _files(package)
        for name in _imports(path)
        if not any(name == a or name.startswith(a + ".") for a in ALLOWED[package])
    }
    assert not bad, sorted(bad)
