"""The systems under test: something that turns a ``TestCase`` into audio.

* ``EngineSystem``: an s2tts checkpoint directory through ``TTSEngine`` (``load_engine``); up to
  ``batch_size`` requests run at once (the engine decodes them as one batch), each seeded, with
  its sampling parameters and seed recorded, and the engine's own per-request TTFA / RTF.
* ``ServerSystem``: a running s2tts (or fish-speech compatible) server, ``POST /v1/tts`` with
  streamed 16-bit PCM; TTFA is measured at the client (first audio bytes), RTF as wall time over
  audio duration.
* ``WavDirSystem``: ``wavs:DIR`` -- audio files named ``<utterance id>.wav`` (or .flac / .mp3 /
  .ogg) made by anything: originals, other TTS systems, ablations.
* ``ResynthesisSystem``: ``codec:DIR`` -- each case's ``original`` audio (the corpus rows that
  ``s2tts eval-testset`` records) encoded and decoded by a codec, so a codec is judged by the same
  scorers as a TTS system (what its tokens keep of the words, the voice, the quality);
  ``originals`` -- that audio itself, the ceiling the codec is compared with.

``open_system(spec)`` picks one from a CLI string. Every system yields ``Generated`` in the order
of the cases given.

Seeds: a case's ``seed`` if set, else one derived from its ``baseline`` id (or its own id), so a
tagged case and its untagged baseline share a seed, as instruction following needs.
"""

from __future__ import annotations

import base64
import io
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from s2tts.audio import downmix, read_audio
from s2tts.errors import AudioError, EvalError, PromptError
from s2tts.eval.testset import TestCase
from s2tts.inference.params import SamplingParams

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg")


@dataclass
class Generated:
    """What a system made for one case: audio (n,) float32 mono at sample_rate, speed figures
    (``ttfa_s``, ``rtf``, ``wall_s``; None where unknown) and the request as sent. ``refused``: why
    the system turned the case down (its prompt over the model's limit, a reference it cannot
    take); the audio is then empty and the case is scored as a failure, not skipped."""

    audio: np.ndarray
    sample_rate: int
    metrics: dict[str, Any] = field(default_factory=dict)
    request: dict[str, Any] = field(default_factory=dict)
    refused: str | None = None


#: what a checkpoint raises for a request it cannot serve (never a fault of the harness)
REFUSALS = (PromptError, AudioError)
#: what a server answers for the same
REFUSED_STATUS = (400, 413, 422)


class System(Protocol):
    name: str

    def generate(self, cases: list[TestCase]) -> Iterator[Generated]: ...

    def describe(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


def case_seed(case: TestCase, base_seed: int = 0) -> int:
    if case.seed is not None:
        return case.seed
    return (zlib.crc32((case.baseline or case.id).encode()) + base_seed) % (2**31)


@dataclass(frozen=True)
class Sampling:
    """The sampling knobs recorded with every request. None: the system's own default (a
    checkpoint's ``sampling.json``, else ``DEFAULT_SAMPLING``; a server's the same for its model);
    a checkpoint system records the values it resolved."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_new_tokens: int | None = None

    def given(self) -> dict[str, Any]:
        """The knobs set (what a request sends)."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    def resolve(self, defaults: SamplingParams) -> Sampling:
        """Every knob set: the given ones, the rest from ``defaults``."""
        return Sampling(**{k: getattr(defaults, k) for k in asdict(self)} | self.given())


def _generate_concurrently(
    generate_one: Callable[[TestCase], Generated], cases: list[TestCase], workers: int
) -> Iterator[Generated]:
    """``generate_one`` over ``cases`` with ``workers`` requests in flight, results in case order."""
    with ThreadPoolExecutor(workers) as pool:
        yield from pool.map(generate_one, cases)


class WavDirSystem:
    """Audio files named by utterance id."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise EvalError(f"wavs:{directory}: not a directory")
        self.name = f"wavs:{self.directory.name}"

    def find(self, case: TestCase) -> Path | None:
        for ext in AUDIO_EXTENSIONS:
            path = self.directory / f"{case.id}{ext}"
            if path.is_file():
                return path
        return None

    def generate(self, cases: list[TestCase]) -> Iterator[Generated]:
        """Checks that every case has a file before yielding the first one."""
        paths = [self.find(c) for c in cases]
        missing = [c.id for c, p in zip(cases, paths, strict=True) if p is None]
        if missing:
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise EvalError(f"{self.directory}: no audio for {', '.join(missing[:5])}{more}")
        return (self._read(p) for p in paths if p is not None)

    @staticmethod
    def _read(path: Path) -> Generated:
        data, rate = read_audio(path)
        return Generated(downmix(data), rate, {}, {"file": str(path)})

    def describe(self) -> dict[str, Any]:
        return {"kind": "wavs", "directory": str(self.directory.resolve())}

    def close(self) -> None:
        pass


def original_path(case: TestCase) -> Path | None:
    """The case's ``original`` audio (a test-set field), if it names one."""
    value = case.extra.get("original")
    return Path(value) if isinstance(value, str) and value else None


class ResynthesisSystem:
    """Each case's original audio, as it is (``codec=None``) or through a codec's encode + decode."""

    def __init__(self, codec_dir: str | Path | None = None, device: str = "cpu") -> None:
        self.codec_dir = Path(codec_dir) if codec_dir is not None else None
        self.codec = None
        if self.codec_dir is not None:
            from s2tts.errors import WeightsError
            from s2tts.models.codec.weights import load_codec

            try:
                self.codec = load_codec(self.codec_dir, device=device).eval()
            except (WeightsError, FileNotFoundError) as exc:
                raise EvalError(f"codec:{codec_dir}: {exc}") from exc
        self.name = f"codec:{self.codec_dir.name}" if self.codec_dir is not None else "originals"

    def generate(self, cases: list[TestCase]) -> Iterator[Generated]:
        """Checks that every case names an existing original before yielding the first one."""
        paths = [original_path(c) for c in cases]
        missing = [c.id for c, p in zip(cases, paths, strict=True) if p is None or not p.is_file()]
        if missing:
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise EvalError(
                f"{self.name}: no original audio for {', '.join(missing[:5])}{more} "
                "(test sets from 's2tts eval-testset' record it for plain, clone and multilingual cases)"
            )
        return (self._one(p) for p in paths if p is not None)

    def _one(self, path: Path) -> Generated:
        import torch

        data, rate = read_audio(path)
        audio = downmix(data)
        if self.codec is None:
            return Generated(audio, rate, {}, {"original": str(path)})
        t0 = time.perf_counter()
        with torch.inference_mode():
            codes, lengths = self.codec.encode(
                torch.from_numpy(np.ascontiguousarray(audio))[None, None], rate
            )
            out = self.codec.decode(codes[:, :, : int(lengths[0])])
        wall = time.perf_counter() - t0
        wav = out[0, 0].float().cpu().numpy()
        seconds = len(wav) / self.codec.sample_rate
        return Generated(wav, self.codec.sample_rate, {"wall_s": wall, "rtf": wall / max(seconds, 1e-9)},
                         {"original": str(path)})  # fmt: skip

    def describe(self) -> dict[str, Any]:
        if self.codec_dir is None:
            return {"kind": "originals"}
        return {"kind": "codec", "codec": str(self.codec_dir.resolve())}

    def close(self) -> None:
        pass


def _reference_audio(case: TestCase) -> list[tuple[str, np.ndarray, int, bytes]]:
    out = []
    for ref in case.references:
        data, rate = read_audio(ref.audio)
        out.append((ref.text, downmix(data), rate, ref.audio.read_bytes()))
    return out


class EngineSystem:
    """A checkpoint through the engine, ``batch_size`` requests in flight."""

    def __init__(
        self,
        checkpoint: str | Path,
        sampling: Sampling | None = None,
        batch_size: int = 4,
        dtype: str = "float32",
        device: str = "cpu",
        base_seed: int = 0,
    ) -> None:
        from s2tts.inference.engine import EngineConfig
        from s2tts.inference.factory import load_engine

        self.checkpoint = Path(checkpoint)
        SamplingParams.from_user(**(sampling or Sampling()).given())  # a bad value fails before loading
        self.batch_size = batch_size
        self.base_seed = base_seed
        self.dtype, self.device = dtype, device
        self.engine = load_engine(
            self.checkpoint, dtype=dtype, device=device, config=EngineConfig(max_sessions=batch_size)
        )
        self.sampling = (sampling or Sampling()).resolve(self.engine.default_sampling)
        self.name = self.checkpoint.name

    def generate_one(self, case: TestCase) -> Generated:
        """One case, alone (no other request of this system in flight)."""
        from s2tts.inference.types import SynthesisRequest, VoiceReference

        refs = [
            VoiceReference(text, audio=audio, sample_rate=rate)
            for text, audio, rate, _ in _reference_audio(case)
        ]
        seed = case_seed(case, self.base_seed)
        request = SynthesisRequest(
            case.text,
            references=refs,
            sampling=SamplingParams.from_user(**asdict(self.sampling), defaults=self.engine.default_sampling),
            seed=seed,
            language=case.language,  # read by a phoneme front end, ignored by text models
        )
        recorded = {
            "seed": seed,
            **asdict(self.sampling),
            "references": [str(r.audio) for r in case.references],
        }
        chunks, metrics = [], {}
        start = time.perf_counter()
        try:
            for chunk in self.engine.iter_stream(request):
                chunks.append(chunk.pcm)
                if chunk.is_last and chunk.metrics:
                    metrics = dict(chunk.metrics)
        except REFUSALS as exc:
            return Generated(np.zeros(0, np.float32), self.engine.sample_rate, {}, recorded, refused=str(exc))
        wall = time.perf_counter() - start
        audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        return Generated(
            audio,
            self.engine.sample_rate,
            {"ttfa_s": metrics.get("ttfa_s"), "rtf": metrics.get("rtf"), "wall_s": wall},
            recorded,
        )

    def generate(self, cases: list[TestCase]) -> Iterator[Generated]:
        return _generate_concurrently(self.generate_one, cases, self.batch_size)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "checkpoint",
            "checkpoint": str(self.checkpoint.resolve()),
            "dtype": self.dtype,
            "device": self.device,
            "batch_size": self.batch_size,
            "base_seed": self.base_seed,
            "sampling": asdict(self.sampling),
        }

    def close(self) -> None:
        self.engine.close()


class ServerSystem:
    """A running server's ``POST /v1/tts``, streamed PCM, ``batch_size`` requests at once."""

    def __init__(
        self,
        url: str,
        sampling: Sampling | None = None,
        batch_size: int = 4,
        api_key: str | None = None,
        base_seed: int = 0,
        timeout_s: float = 600.0,
    ) -> None:
        import httpx

        self.url = url.rstrip("/")
        self.sampling = sampling or Sampling()
        self.batch_size = batch_size
        self.base_seed = base_seed
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)
        self.name = self.url.split("://", 1)[-1]

    def generate_one(self, case: TestCase) -> Generated:
        """One case, alone (no other request of this system in flight)."""
        import httpx

        seed = case_seed(case, self.base_seed)
        refs = [
            {"audio": base64.b64encode(raw).decode(), "text": text}
            for text, _, _, raw in _reference_audio(case)
        ]
        body = {
            "text": case.text,
            "references": refs,
            "format": "pcm",
            "streaming": True,
            "seed": seed,
            **self.sampling.given(),  # the rest: the server's model's defaults
        }
        recorded = {
            "seed": seed,
            **self.sampling.given(),
            "references": [str(r.audio) for r in case.references],
        }
        buffer = io.BytesIO()
        ttfa = None
        start = time.perf_counter()
        try:
            with self.client.stream("POST", "/v1/tts", json=body) as response:
                if response.status_code in REFUSED_STATUS:
                    response.read()
                    reason = f"{response.status_code}: {response.text[:200]}"
                    return Generated(np.zeros(0, np.float32), 44100, {}, recorded, refused=reason)
                if response.status_code != 200:
                    response.read()
                    raise EvalError(
                        f"{self.url}/v1/tts answered {response.status_code} for {case.id}: {response.text[:200]}"
                    )
                rate = int(response.headers.get("x-sample-rate", "44100"))
                for piece in response.iter_bytes():
                    if piece and ttfa is None:
                        ttfa = time.perf_counter() - start
                    buffer.write(piece)
        except httpx.HTTPError as exc:
            raise EvalError(f"cannot reach {self.url}: {exc}") from exc
        wall = time.perf_counter() - start
        raw = buffer.getvalue()
        audio = np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
        seconds = len(audio) / rate
        return Generated(
            audio,
            rate,
            {"ttfa_s": ttfa, "rtf": wall / seconds if seconds else None, "wall_s": wall},
            recorded,
        )

    def generate(self, cases: list[TestCase]) -> Iterator[Generated]:
        return _generate_concurrently(self.generate_one, cases, self.batch_size)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "server",
            "url": self.url,
            "batch_size": self.batch_size,
            "base_seed": self.base_seed,
            "sampling": asdict(self.sampling),
        }

    def close(self) -> None:
        self.client.close()


def open_system(spec: str, sampling: Sampling | None = None, batch_size: int = 4, **kwargs: Any) -> System:
    """``wavs:DIR`` | ``codec:DIR`` | ``originals`` | ``http(s)://host:port`` | a checkpoint
    directory -> a System."""
    if spec.startswith("wavs:"):
        return WavDirSystem(spec[len("wavs:") :])
    if spec.startswith("codec:"):
        return ResynthesisSystem(spec[len("codec:") :], device=kwargs.get("device", "cpu"))
    if spec == "originals":
        return ResynthesisSystem(None)
    if spec.startswith(("http://", "https://")):
        return ServerSystem(
            spec, sampling, batch_size, api_key=kwargs.get("api_key"), base_seed=kwargs.get("base_seed", 0)
        )
    path = Path(spec)
    if not (path / "config.json").is_file():
        raise EvalError(
            f"system {spec!r}: not a checkpoint directory (no config.json), a URL, wavs:DIR, "
            "codec:DIR or originals"
        )
    return EngineSystem(
        path,
        sampling,
        batch_size,
        dtype=kwargs.get("dtype", "float32"),
        device=kwargs.get("device", "cpu"),
        base_seed=kwargs.get("base_seed", 0),
    )
