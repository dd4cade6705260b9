"""The golden parity data is what its manifest says: every file's sha256 matches, and no file is unlisted."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

PARITY = Path(__file__).parent / "data" / "parity"
HASHES: dict[str, str] = json.loads((PARITY / "manifest.json").read_text())["sha256"]


@pytest.mark.parametrize("name", sorted(HASHES))
def test_file_matches_its_manifest_hash(name: str) -> None:
    path = PARITY / name
    assert path.is_file(), f"{name} is listed in manifest.json but missing"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == HASHES[name], f"{name} changed: its sha256 is not the manifest's"


def test_every_data_file_is_in_the_manifest() -> None:
    files = {p.relative_to(PARITY).as_posix() for p in PARITY.rglob("*") if p.is_file()}
    assert files - set(HASHES) == {"manifest.json", "README.md"}
