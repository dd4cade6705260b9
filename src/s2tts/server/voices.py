"""Stored voices: reference audio + transcript per id, in a data directory, kept across restarts.

Layout, one folder per voice under ``root`` (``data_dir/voices``)::

    <id>/audio        the uploaded file, bytes as received (wav, mp3, flac...)
    <id>/text.txt     its transcript, UTF-8
    <id>/meta.json    {"id", "created_at", "audio_bytes", ...}
    <id>/codes.npy    optional: codec codes (10, T) int64 cached after the first use

Ids follow fish-speech's rule ``^[a-zA-Z0-9\\-_ ]+$`` (no leading/trailing space, length-capped),
so an id can never name ``..``, a separator or a hidden file; every path is still resolved and
checked to sit directly under ``root``.

Writes are atomic: a voice is assembled in a hidden temporary folder and renamed into place
(``os.rename`` of a directory is atomic on one filesystem and fails if the target holds files),
so a crash leaves either the whole voice or none of it, and readers never see half a voice.
Delete renames the folder away before removing it. A lock serialises the check-then-rename steps
of this process; the rename itself guards against other processes.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from s2tts.atomic import atomic_write_bytes, fsync_dir
from s2tts.errors import S2TTSError, VoiceNotFoundError

VOICE_ID_PATTERN = re.compile(r"^[a-zA-Z0-9\-_ ]+$")
_AUDIO, _TEXT, _META, _CODES = "audio", "text.txt", "meta.json", "codes.npy"


class VoiceIdError(S2TTSError, ValueError):
    """A voice id breaks the id rule."""


class VoiceExistsError(S2TTSError, ValueError):
    """A voice with that id is already stored."""


@dataclass(frozen=True)
class Voice:
    """One stored voice. audio: the file bytes as uploaded."""

    id: str
    text: str
    audio: bytes
    created_at: float


@dataclass(frozen=True)
class VoiceInfo:
    """A voice without its audio (for listings)."""

    id: str
    text: str
    created_at: float
    audio_bytes: int


class VoiceStore:
    """Voices on disk under ``root``. Thread-safe; blocking (call from a worker thread)."""

    def __init__(self, root: Path, max_id_chars: int = 128) -> None:
        self.root = Path(root)
        self.max_id_chars = max_id_chars
        self.root.mkdir(parents=True, exist_ok=True)
        self._root_real = self.root.resolve(strict=True)
        self._lock = threading.RLock()
        self._sweep()

    # -- ids and paths ---------------------------------------------------------------------------

    def validate_id(self, voice_id: object) -> str:
        """Return ``voice_id`` if it is a valid id, else raise VoiceIdError."""
        if not isinstance(voice_id, str):
            raise VoiceIdError("voice id must be a string")
        if not voice_id or len(voice_id) > self.max_id_chars:
            raise VoiceIdError(f"voice id must have 1 to {self.max_id_chars} characters")
        if not VOICE_ID_PATTERN.fullmatch(voice_id) or voice_id != voice_id.strip():
            raise VoiceIdError(
                f"voice id may hold only letters, digits, '-', '_' and inner spaces: {voice_id[:40]!r}"
            )
        return voice_id

    def _dir(self, voice_id: str) -> Path:
        path = self._root_real / self.validate_id(voice_id)
        # Belt and braces: the id rule already excludes separators and dots.
        if path.parent != self._root_real or path.name != voice_id:
            raise VoiceIdError(f"voice id {voice_id!r} escapes the voice folder")
        if path.is_symlink():
            raise VoiceIdError(f"voice {voice_id!r} is a symlink; refusing it")
        return path

    # -- queries ---------------------------------------------------------------------------------

    def exists(self, voice_id: str) -> bool:
        return (self._dir(voice_id) / _META).is_file()

    def list(self) -> list[VoiceInfo]:
        """All voices, sorted by id."""
        out = []
        for entry in sorted(self._root_real.iterdir()):
            if entry.name.startswith(".") or not VOICE_ID_PATTERN.fullmatch(entry.name):
                continue
            try:
                out.append(self.info(entry.name))
            except (VoiceNotFoundError, VoiceIdError):
                continue  # vanished, or a stray folder
        return out

    def ids(self) -> list[str]:
        return [v.id for v in self.list()]

    def info(self, voice_id: str) -> VoiceInfo:
        path = self._dir(voice_id)
        try:
            meta = json.loads((path / _META).read_text("utf-8"))
            text = (path / _TEXT).read_text("utf-8")
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise VoiceNotFoundError(f"voice {voice_id!r} not found") from exc
        return VoiceInfo(voice_id, text, float(meta.get("created_at", 0.0)), int(meta.get("audio_bytes", 0)))

    def get(self, voice_id: str) -> Voice:
        """The voice's transcript and audio bytes; VoiceNotFoundError if absent."""
        path = self._dir(voice_id)
        try:
            info = self.info(voice_id)
            audio = (path / _AUDIO).read_bytes()
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise VoiceNotFoundError(f"voice {voice_id!r} not found") from exc
        return Voice(voice_id, info.text, audio, info.created_at)

    # -- changes ---------------------------------------------------------------------------------

    def add(self, voice_id: str, audio: bytes, text: str, *, overwrite: bool = False) -> VoiceInfo:
        """Store a voice. VoiceExistsError if the id is taken (unless ``overwrite``)."""
        target = self._dir(voice_id)
        if not audio:
            raise S2TTSError("voice audio is empty")
        created = time.time()
        staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self._root_real))
        try:
            _write_synced(staging / _AUDIO, audio)
            _write_synced(staging / _TEXT, text.encode("utf-8"))
            meta = {"id": voice_id, "created_at": created, "audio_bytes": len(audio)}
            _write_synced(staging / _META, json.dumps(meta).encode())
            fsync_dir(staging)
            with self._lock:
                if target.exists():
                    if not overwrite:
                        raise VoiceExistsError(f"voice {voice_id!r} already exists")
                    self._remove(target)
                try:
                    os.rename(staging, target)
                except OSError as exc:  # another process won the race
                    raise VoiceExistsError(f"voice {voice_id!r} already exists") from exc
            fsync_dir(self._root_real)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return VoiceInfo(voice_id, text, created, len(audio))

    def delete(self, voice_id: str) -> None:
        """Remove a voice; VoiceNotFoundError if absent."""
        target = self._dir(voice_id)
        with self._lock:
            if not target.is_dir():
                raise VoiceNotFoundError(f"voice {voice_id!r} not found")
            self._remove(target)

    def rename(self, old_id: str, new_id: str) -> None:
        """Give a voice a new id (its cached codes move with it)."""
        src, dst = self._dir(old_id), self._dir(new_id)
        with self._lock:
            if not src.is_dir():
                raise VoiceNotFoundError(f"voice {old_id!r} not found")
            if old_id == new_id:
                return
            if dst.exists():
                raise VoiceExistsError(f"voice {new_id!r} already exists")
            os.rename(src, dst)
            meta_path = dst / _META
            meta = json.loads(meta_path.read_text("utf-8"))
            meta["id"] = new_id
            atomic_write_bytes(meta_path, json.dumps(meta).encode(), durable=True)
            fsync_dir(self._root_real)

    # -- cached codes ----------------------------------------------------------------------------

    def get_codes(self, voice_id: str) -> np.ndarray | None:
        """The cached codes (10, T) int64 of a voice, or None."""
        path = self._dir(voice_id) / _CODES
        try:
            codes = np.load(path, allow_pickle=False)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except ValueError:  # a damaged cache file is just a miss
            return None
        return codes if codes.ndim == 2 else None

    def put_codes(self, voice_id: str, codes: np.ndarray) -> None:
        """Cache codes (K, T) beside the voice's audio (no-op if the voice is gone)."""
        path = self._dir(voice_id)
        if not path.is_dir():
            return
        buf = _npy_bytes(np.asarray(codes, dtype=np.int64))
        with self._lock:
            if path.is_dir():
                atomic_write_bytes(path / _CODES, buf, durable=True)

    # -- housekeeping ----------------------------------------------------------------------------

    def _remove(self, target: Path) -> None:
        trash = self._root_real / f".trash-{uuid.uuid4().hex}"
        os.rename(target, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def _sweep(self) -> None:
        """Drop staging / trash folders a crash left behind."""
        for entry in self._root_real.iterdir():
            if entry.name.startswith((".tmp-", ".trash-")) and entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
