"""The packaged model travels in the wheel: a copy of the project with a (tiny) model packaged into
``s2tts/assets/small`` builds a wheel that holds every file of it, and the installed package's
``load_engine()`` default finds and verifies it there. Built in a temporary copy: the source tree
is never written to."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from s2tts.checkpoint import init_checkpoint
from s2tts.inference.packaged import MANIFEST, PACKAGED_ENV, read_manifest, verify_packaged
from s2tts.recipes.package import package_model

ROOT = Path(__file__).parents[1]
ASSETS = Path("src/s2tts/assets/small")
MAX_BYTES = 60_000_000  # the size budget of the shipped weights


def test_the_package_folder_holds_a_whole_model_or_none() -> None:
    """What is committed in s2tts/assets/small: nothing but its README until a model is packaged
    (weights without a manifest would never be used), then exactly the files its manifest lists,
    matching it, within the size budget."""
    folder = ROOT / ASSETS
    others = {p.name for p in folder.iterdir() if p.name not in ("README.md", MANIFEST) and p.name[0] != "."}
    manifest = read_manifest(folder)
    if manifest is None:
        assert others == set(), f"files without a manifest in {folder}: {sorted(others)}"
        return
    verify_packaged(folder)
    assert others == set(manifest["files"])
    assert sum(f["bytes"] for f in manifest["files"].values()) <= MAX_BYTES


def _copy_project(dst: Path) -> None:
    """pyproject, README and src/ without caches, build outputs or whatever model is packaged now."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dst / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    shutil.copytree(ROOT / "src", dst / "src", ignore=ignore)
    for path in (dst / ASSETS).iterdir():
        if path.name != "README.md":
            path.unlink()


@pytest.mark.slow
def test_a_wheel_carries_the_packaged_model_and_the_default_uses_it(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    _copy_project(project)
    source = init_checkpoint(tmp_path / "tiny", "tiny", seed=0, codec_preset="tiny")
    manifest = package_model(source, project / ASSETS)

    dist = tmp_path / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    built = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(project)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = dist.glob("s2tts-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        inside = {
            n.removeprefix("s2tts/assets/small/")
            for n in zf.namelist()
            if n.startswith("s2tts/assets/small/")
        }
    assert inside == {*manifest["files"], MANIFEST, "README.md"}

    site = tmp_path / "site"
    installed = subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr
    env = {k: v for k, v in os.environ.items() if k not in (PACKAGED_ENV, "PYTHONPATH")}
    env |= {"PYTHONPATH": str(site), "S2TTS_HOME": str(tmp_path / "home")}
    probe = (
        "from s2tts.inference.factory import default_model_dir; from s2tts.inference.packaged import "
        "verify_packaged; d = default_model_dir(); verify_packaged(d); print(d)"
    )
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert Path(ran.stdout.strip()) == site / "s2tts" / "assets" / "small"
    assert not (tmp_path / "home").exists()  # the random fallback was not needed
