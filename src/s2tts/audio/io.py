"""Audio files in and out: float32 ``(channels, n)`` arrays, format chosen by the file extension.

Reading tries soundfile (libsndfile: wav, flac, ogg/vorbis/opus, mp3 and more) first and falls back
to PyAV (ffmpeg: mp3, m4a/aac, webm/opus, video containers...); uploaded bytes (the server's
references and codec requests) go through the same PyAV loop with a cap on the decoded length.
Channels are kept: callers that need mono use :func:`s2tts.audio.downmix` (the one downmix rule). Writing uses soundfile for
``.wav`` (16-bit PCM), ``.flac`` (16-bit) and ``.ogg`` (Vorbis), and PyAV's LAME encoder for ``.mp3``.
Anything unreadable or unsupported raises :class:`~s2tts.errors.AudioError`; a missing input file
raises ``FileNotFoundError``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import av
import numpy as np
import soundfile as sf

from s2tts.errors import AudioError, AudioTooLongError

#: Extensions ``write_audio`` understands.
WRITE_FORMATS = (".wav", ".flac", ".ogg", ".mp3")
_SOUNDFILE_WRITE = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS")}
_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Decode an audio file. Returns (samples (channels, n) float32 in [-1, 1], sample rate)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"audio file not found: {path}")
    if path.is_dir():
        raise AudioError(f"{path} is a directory, not an audio file")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        return np.ascontiguousarray(data.T), int(rate)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        pass  # not a libsndfile format: let ffmpeg try
    return _decode_with_av(str(path), str(path), f"cannot decode {path}: ")


def read_audio_window(
    path: str | Path, length: int, length_rate: int, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """A random window of a file: (samples (channels, m) float32, the file's sample rate).

    The window lasts ``length`` samples at ``length_rate`` (m = ceil(length * rate / length_rate) at
    the file's rate) from a start drawn uniformly by ``rng``; the whole file when it is shorter.
    libsndfile formats are read by seeking, without decoding the rest of the file; others are
    decoded in full and sliced.
    """
    path = Path(path)
    try:
        with sf.SoundFile(str(path)) as f:
            need = -(-length * f.samplerate // length_rate)
            start = int(rng.integers(0, max(1, f.frames - need + 1)))
            f.seek(start)
            return np.ascontiguousarray(f.read(need, dtype="float32", always_2d=True).T), int(f.samplerate)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        pass  # not seekable by libsndfile (or missing: read_audio says which)
    audio, rate = read_audio(path)
    need = -(-length * rate // length_rate)
    start = int(rng.integers(0, max(1, audio.shape[1] - need + 1)))
    return np.ascontiguousarray(audio[:, start : start + need]), rate


def decode_bytes(
    data: bytes, max_seconds: float | None = None, what: str = "audio"
) -> tuple[np.ndarray, int]:
    """Audio file bytes (any format FFmpeg reads) -> (samples (channels, n) float32, sample rate).

    Decoding stops with AudioTooLongError once more than ``max_seconds`` are out, so a small
    compressed upload cannot expand into an unbounded buffer. Errors name ``what`` (e.g.
    "reference 0"); non-finite samples are refused.
    """
    if not data:
        raise AudioError(f"{what} is empty")
    audio, rate = _decode_with_av(io.BytesIO(data), what, f"{what}: cannot decode: ", max_seconds)
    if audio.shape[1] == 0:
        raise AudioError(f"{what} holds no samples")
    if not np.isfinite(audio).all():
        raise AudioError(f"{what} holds non-finite samples")
    return audio, rate


def ffmpeg_reason(exc: Exception) -> str:
    """FFmpeg's reason in words, without its error number and its ``'<none>'`` file name."""
    if isinstance(exc, av.error.InvalidDataError):
        return "not an audio file, or a format FFmpeg cannot read"
    reason = getattr(exc, "strerror", None) or str(exc)
    return reason.rstrip(".").lower() if reason else type(exc).__name__


def _decode_with_av(
    source: str | io.BytesIO, what: str, cannot: str, max_seconds: float | None = None
) -> tuple[np.ndarray, int]:
    """The one PyAV decode loop (files and uploads): first audio stream -> (channels, n) float32."""
    chunks: list[np.ndarray] = []
    rate = 0
    try:
        with av.open(source) as container:
            streams = container.streams.audio
            if not streams:
                raise AudioError(f"{what} has no audio stream")
            stream = streams[0]
            resampler: av.AudioResampler | None = None
            limit: int | None = None
            total = 0
            for frame in container.decode(stream):
                if resampler is None:
                    rate = frame.sample_rate
                    resampler = av.AudioResampler(format="fltp", layout=frame.layout.name, rate=rate)
                    limit = None if max_seconds is None else int(max_seconds * rate)
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
                    total += out.samples
                if limit is not None and total > limit:
                    raise AudioTooLongError(f"{what} is longer than {max_seconds:g} s")
            if resampler is not None:
                chunks.extend(f.to_ndarray() for f in resampler.resample(None))
    except AudioError:
        raise
    except (av.FFmpegError, UnicodeDecodeError, ValueError, IndexError) as exc:
        raise AudioError(cannot + ffmpeg_reason(exc)) from exc
    if rate <= 0:
        raise AudioError(cannot + "no audio frames")
    channels = stream.channels or (chunks[0].shape[0] if chunks else 1)
    data = np.concatenate(chunks, axis=1) if chunks else np.zeros((channels, 0), dtype=np.float32)
    return np.ascontiguousarray(data, dtype=np.float32), int(rate)


def write_audio(path: str | Path, audio: Any, sample_rate: int) -> None:
    """Encode ``audio`` ((channels, n) or (n,), float in [-1, 1]; numpy or torch) to ``path``.

    The format follows the extension: .wav, .flac, .ogg (Vorbis) or .mp3. Samples are clipped to
    [-1, 1].
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in WRITE_FORMATS:
        raise AudioError(
            f"cannot write {path.name}: unsupported extension (use one of {', '.join(WRITE_FORMATS)})"
        )
    data = _as_channels_first(audio)
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise AudioError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    if data.shape[1] == 0:
        raise AudioError(f"cannot write {path.name}: audio is empty")
    if not np.isfinite(data).all():
        raise AudioError(f"cannot write {path.name}: audio has non-finite samples (NaN or inf)")
    data = np.clip(data, -1.0, 1.0)
    if ext == ".mp3":
        _write_mp3(path, data, int(sample_rate))
        return
    fmt, subtype = _SOUNDFILE_WRITE[ext]
    try:
        sf.write(str(path), data.T, int(sample_rate), format=fmt, subtype=subtype)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise AudioError(f"cannot write {path}: {exc}") from exc


def _as_channels_first(audio: Any) -> np.ndarray:
    if hasattr(audio, "detach"):  # torch.Tensor, without importing torch here
        audio = audio.detach().float().cpu().numpy()
    data = np.asarray(audio)
    if data.dtype.kind != "f":
        raise AudioError(f"audio to write must be floating point, got dtype {data.dtype}")
    if data.ndim == 1:
        data = data[None]
    if data.ndim != 2:
        raise AudioError(f"audio to write must have shape (channels, n) or (n,), got {data.shape}")
    if data.shape[0] == 0:
        raise AudioError("audio to write has no channels")
    return np.ascontiguousarray(data, dtype=np.float32)


def _write_mp3(path: Path, data: np.ndarray, sample_rate: int) -> None:
    channels = data.shape[0]
    if channels > 2:
        raise AudioError(f"mp3 holds at most 2 channels, got {channels}")
    if sample_rate not in _MP3_RATES:
        raise AudioError(f"mp3 does not support {sample_rate} Hz (use one of {list(_MP3_RATES)})")
    layout = "mono" if channels == 1 else "stereo"
    try:
        with av.open(str(path), mode="w", format="mp3") as container:
            stream = container.add_stream("libmp3lame", rate=sample_rate, layout=layout)
            frame = av.AudioFrame.from_ndarray(data, format="fltp", layout=layout)
            frame.sample_rate = sample_rate
            for packet in stream.encode(frame):
                container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
    except av.FFmpegError as exc:
        raise AudioError(f"cannot write {path}: {exc}") from exc
