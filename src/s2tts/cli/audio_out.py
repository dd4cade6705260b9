"""Where ``s2tts speak`` writes its audio: the format from the file's extension, checked before any work.

    .wav .flac .ogg   soundfile (16-bit PCM, FLAC, Vorbis); streamed files get exact headers on close
    .mp3 .opus .aac   the server's encoders (LAME, Opus in Ogg at 48 kHz, AAC-LC in ADTS)

``check_output`` runs before the model loads, so a wrong extension costs nothing; ``AudioFileWriter``
takes float32 chunks (n,) as they are made and writes them (``stream``) or the whole clip at the end.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import numpy as np

from s2tts.errors import AudioError

_SOUNDFILE = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS")}
_ENCODED = {".mp3": "mp3", ".opus": "opus", ".aac": "aac"}
OUTPUT_SUFFIXES = (*_SOUNDFILE, *_ENCODED)


def check_output(path: Path) -> str:
    """The output's extension if s2tts can write it; AudioError naming the choices otherwise."""
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise AudioError(
            f"cannot write {path.name}: unknown audio extension {suffix or '(none)'}; "
            f"use one of {', '.join(OUTPUT_SUFFIXES)}"
        )
    if path.is_dir():
        raise AudioError(f"cannot write {path}: it is a directory")
    return suffix


class AudioFileWriter:
    """Mono float32 chunks in, one audio file out (see the module docstring)."""

    def __init__(self, path: Path, sample_rate: int, stream: bool) -> None:
        self.path = path
        self.suffix = check_output(path)
        self.sample_rate = sample_rate
        self.stream = stream
        self.samples = 0
        self._parts: list[np.ndarray] = []
        self._file = None
        self._encoder = None
        if stream:
            path.parent.mkdir(parents=True, exist_ok=True)
            if self.suffix in _SOUNDFILE:
                import soundfile as sf

                fmt, subtype = _SOUNDFILE[self.suffix]
                self._file = sf.SoundFile(str(path), "w", sample_rate, 1, subtype, format=fmt)
            else:
                from s2tts.server.formats import StreamEncoder

                self._encoder = StreamEncoder(_ENCODED[self.suffix], sample_rate, None, streaming=True)
                self._file = path.open("wb")

    def write(self, pcm: np.ndarray) -> None:
        self.samples += pcm.shape[0]
        if not self.stream:
            self._parts.append(pcm)
        elif self._encoder is None:
            self._file.write(pcm)  # type: ignore[union-attr]
            self._file.flush()  # type: ignore[union-attr]
        else:
            self._file.write(self._encoder.push(pcm))  # type: ignore[union-attr]
            self._file.flush()  # type: ignore[union-attr]

    def close(self) -> None:
        if self.stream:
            if self._encoder is not None:
                self._file.write(self._encoder.finish())  # type: ignore[union-attr]
                self._encoder.close()
            self._file.close()  # type: ignore[union-attr]
            return
        audio = np.concatenate(self._parts) if self._parts else np.zeros(0, np.float32)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.suffix in _ENCODED and self.suffix != ".mp3":
            from s2tts.server.formats import encode_audio

            self.path.write_bytes(encode_audio(audio, _ENCODED[self.suffix], self.sample_rate))
        else:
            from s2tts.audio.io import write_audio

            write_audio(self.path, audio, self.sample_rate)

    def __enter__(self) -> AudioFileWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
        elif self._file is not None:
            self._file.close()
