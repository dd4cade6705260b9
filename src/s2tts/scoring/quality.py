"""Reference-free quality: DNSMOS (speechmos, ONNX) and DistillMOS (distillmos, torch).

* ``DNSMOS`` is Microsoft's DNS-challenge predictor of P.835 ratings: ``sig`` (speech
  distortion), ``bak`` (background noise), ``ovrl`` (overall) and the P.808 overall ``p808``, each
  on 1-5. Clips shorter than 9 s are repeated to 9 s (as the model requires); longer clips are
  scored in 9 s windows with a 1 s hop and averaged.
* ``DistillMOS`` is a small CNN + transformer distilled from XLS-R SQA: one naturalness MOS on
  1-5 (it plays UTMOS's role). It is pure torch; its package imports ``torchaudio`` only for a
  command-line loader, so where torchaudio does not import (CPU torch 2.13) the loader puts an
  empty stand-in module in ``sys.modules`` for the duration of the import and removes it again.

Both load once per object. Audio in: mono float32 (n,) at 16 kHz, within [-1, 1].
"""

from __future__ import annotations

import contextlib
import io
import sys
import types

import numpy as np

from s2tts.errors import EvalError
from s2tts.scoring.local_models import package_dir

DNSMOS_KEYS = ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808")


class DNSMOS:
    """``score(clips) -> [{"dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808"}]``."""

    def __init__(self, threads: int = 1) -> None:
        import onnxruntime as ort
        from speechmos.dnsmos import DNSMOS as _Model

        root = package_dir("speechmos", "speechmos")
        self.model = _Model(
            str(root / "dnsmos_models" / "sig_bak_ovr.onnx"), str(root / "dnsmos_models" / "model_v8.onnx")
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.model.onnx_sess = ort.InferenceSession(self.model.primary_model_path, options)
        self.model.p808_onnx_sess = ort.InferenceSession(
            str(root / "dnsmos_models" / "model_v8.onnx"), options
        )

    def score(self, clips: list[np.ndarray]) -> list[dict[str, float]]:
        out = []
        for i, clip in enumerate(clips):
            audio = _checked(clip, i)
            r = self.model(audio, 16000, False)
            out.append(
                {
                    "dnsmos_sig": float(r["sig_mos"]),
                    "dnsmos_bak": float(r["bak_mos"]),
                    "dnsmos_ovrl": float(r["ovrl_mos"]),
                    "dnsmos_p808": float(r["p808_mos"]),
                }
            )
        return out


class DistillMOS:
    """``score(clips) -> [mos]`` with DistillMOS v7."""

    def __init__(self, device: str = "cpu") -> None:
        import torch

        added = False
        try:
            import torchaudio  # noqa: F401
        except (ImportError, OSError):
            sys.modules["torchaudio"] = types.ModuleType("torchaudio")
            added = True
        try:
            import distillmos

            with contextlib.redirect_stdout(io.StringIO()):  # it prints the weights path
                self.model = distillmos.ConvTransformerSQAModel().eval().to(device)
        finally:
            if added:
                sys.modules.pop("torchaudio", None)
        self.device = torch.device(device)

    def score(self, clips: list[np.ndarray]) -> list[float]:
        import torch

        out = []
        with torch.no_grad():
            for i, clip in enumerate(clips):
                x = torch.from_numpy(_checked(clip, i)).to(self.device)[None]
                out.append(float(self.model(x).reshape(-1)[0]))
        return out


def _checked(clip: np.ndarray, index: int) -> np.ndarray:
    audio = np.asarray(clip, dtype=np.float32)
    if audio.ndim != 1 or len(audio) < 1600:
        raise EvalError(
            f"clip {index}: quality needs mono audio of at least 0.1 s at 16 kHz, got {audio.shape}"
        )
    return np.clip(audio, -1.0, 1.0)
