"""Atomic file writes: a reader sees the old file or the whole new one, never a part.

Every file the project rewrites in place (checkpoint pointers, stage markers, a model's
``sampling.json`` / ``voice.json`` / manifest, the server's voice metadata, recipe copies) goes
through this module: the data goes to a uniquely named temp file beside the target, which is
renamed over it with ``os.replace``. ``durable=True`` also fsyncs the file and its directory, so
the new content survives a power loss, not only a killed process.

API::

    atomic_write_text(path, text)                  # str, UTF-8
    atomic_write_bytes(path, data, durable=True)   # bytes, fsynced
    atomic_copy(src, dst)                          # a file copied in place of dst
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp)))   # any writer of a file
    fsync_dir(path)                                # after renames inside ``path``
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_copy", "atomic_write", "atomic_write_bytes", "atomic_write_text", "fsync_dir"]


def fsync_dir(path: str | Path) -> None:
    """Flush a directory's entries (renames, new files); a no-op where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _temp_beside(path: Path) -> Path:
    # unique per writer: two processes (or threads) writing the same target never share a temp file
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp")


def atomic_write(path: str | Path, write: Callable[[Path], None], durable: bool = False) -> Path:
    """Replace ``path`` with the file ``write(tmp)`` creates at a temp path beside it; returns the path.

    If ``write`` raises, ``path`` is untouched and the temp file removed.
    """
    path = Path(path)
    tmp = _temp_beside(path)
    try:
        write(tmp)
        if durable:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():  # the write or the rename failed: leave no temp file behind
            tmp.unlink()
    if durable:
        fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | Path, data: bytes, durable: bool = False) -> Path:
    """Replace ``path`` with ``data`` atomically; returns the path."""
    return atomic_write(Path(path), lambda tmp: tmp.write_bytes(data), durable)


def atomic_write_text(path: str | Path, text: str, durable: bool = False) -> Path:
    """Replace ``path`` with ``text`` (UTF-8) atomically; returns the path."""
    return atomic_write_bytes(path, text.encode("utf-8"), durable)


def atomic_copy(src: str | Path, dst: str | Path, durable: bool = False) -> Path:
    """Copy the file ``src`` over ``dst`` atomically (contents only, like ``shutil.copyfile``)."""
    return atomic_write(Path(dst), lambda tmp: shutil.copyfile(src, tmp), durable)
