"""Atomic writes: the target holds the old or the whole new content, and no temp file is left."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from s2tts.atomic import atomic_copy, atomic_write, atomic_write_bytes, atomic_write_text


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


@pytest.mark.parametrize("durable", [False, True])
def test_write_replaces_and_leaves_only_the_target(tmp_path: Path, durable: bool) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")
    assert atomic_write_text(target, "néw\n", durable=durable) == target
    assert target.read_bytes() == "néw\n".encode()
    atomic_write_bytes(target, b"\x00\x01", durable=durable)
    assert target.read_bytes() == b"\x00\x01"
    assert _siblings(target) == ["state.json"]


def test_failed_writer_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "weights.safetensors"
    target.write_bytes(b"old weights")

    def half_then_fail(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, half_then_fail)
    assert target.read_bytes() == b"old weights"
    assert _siblings(target) == ["weights.safetensors"]


def test_copy_missing_source_keeps_the_target(tmp_path: Path) -> None:
    target = tmp_path / "codec.safetensors"
    target.write_bytes(b"kept")
    with pytest.raises(FileNotFoundError):
        atomic_copy(tmp_path / "absent", target)
    assert target.read_bytes() == b"kept"
    src = tmp_path / "src.bin"
    src.write_bytes(b"copied")
    atomic_copy(src, target)
    assert target.read_bytes() == b"copied"
    assert _siblings(target) == ["codec.safetensors", "src.bin"]


def test_concurrent_writers_never_mix(tmp_path: Path) -> None:
    # writers of one target each use their own temp file: the result is one writer's whole content
    target = tmp_path / "latest"
    bodies = [bytes([i]) * 200_000 for i in range(8)]
    errors: list[BaseException] = []

    def write(body: bytes) -> None:
        try:
            for _ in range(5):
                atomic_write_bytes(target, body)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert target.read_bytes() in bodies
    assert _siblings(target) == ["latest"]
