"""Codec weights: read the released ``codec.pth`` or our safetensors, fold weight norm, check, save.

Accepted checkpoints (reference-spec §4, parity README part B):

* ``.pth`` via ``torch.load(weights_only=True)``, optionally wrapped as ``{"state_dict": ...}``
  and/or with every generator key prefixed ``generator.`` (other prefixes, e.g. a discriminator,
  are dropped then);
* ``.safetensors`` (ours, or any file with the reference's key names).

Weight norm is stored in two styles: ``<m>.parametrizations.weight.original0/1`` (g, v; the causal
convs) and ``<m>.weight_g`` / ``<m>.weight_v`` (the VQ projections). Both are folded at load into a
plain ``<m>.weight = g * v / ||v||`` (norm over every dim but 0), so inference never recomputes it.
Our own files store the folded weights. Missing, unexpected or mis-shaped tensors raise a
:class:`WeightsError` that names them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from s2tts.errors import ConfigError, WeightsError
from s2tts.models.codec.codec import Codec
from s2tts.models.codec.config import CodecConfig

logger = logging.getLogger(__name__)

_NEW_G, _NEW_V = ".parametrizations.weight.original0", ".parametrizations.weight.original1"
_OLD_G, _OLD_V = ".weight_g", ".weight_v"
#: Non-parameter buffers the reference may keep in its state dict; recomputed here, so ignored.
_IGNORED_SUFFIXES = (".freqs_cis", ".causal_mask")
_CHECKPOINT_NAMES = ("codec.safetensors", "codec.pth")


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Raw tensors of a ``.pth`` / ``.safetensors`` file, unwrapped (``state_dict``, ``generator.``)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"codec checkpoint not found: {path}")
    if path.is_dir():
        raise WeightsError(f"{path} is a directory; pass a .pth/.safetensors file or use load_codec")
    if path.suffix == ".safetensors":
        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise WeightsError(f"cannot read safetensors checkpoint {path}: {exc}") from exc
    else:
        try:
            # mmap: tensors stay file-backed until folded/copied, so loading doesn't hold two copies.
            tensors = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):  # legacy (non-zip) files cannot be memory-mapped
                raise WeightsError(f"cannot read codec checkpoint {path}: {exc}") from exc
            tensors = _load_pth_without_mmap(path)
        except Exception as exc:  # torch raises pickle/zip/EOF errors of many kinds here
            raise WeightsError(f"cannot read codec checkpoint {path}: {exc}") from exc
    return _unwrap(tensors, path)


def _load_pth_without_mmap(path: Path) -> object:
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"cannot read codec checkpoint {path}: {exc}") from exc


def _unwrap(obj: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise WeightsError(f"{path} does not hold a state dict (got {type(obj).__name__})")
    if any(isinstance(k, str) and k.startswith("generator.") for k in obj):
        obj = {k[len("generator.") :]: v for k, v in obj.items() if k.startswith("generator.")}
    bad = sorted(str(k) for k, v in obj.items() if not isinstance(v, torch.Tensor))
    if bad:
        raise WeightsError(f"{path}: entries that are not tensors: {_names(bad)}")
    return dict(obj)


def fold_weight_norm(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace every (g, v) weight-norm pair, either key style, by ``<m>.weight``; drop known buffers."""
    out: dict[str, torch.Tensor] = {}
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        for g_suffix, v_suffix in ((_NEW_G, _NEW_V), (_OLD_G, _OLD_V)):
            if key.endswith(g_suffix):
                pairs.setdefault(key[: -len(g_suffix)], {})["g"] = value
                break
            if key.endswith(v_suffix):
                pairs.setdefault(key[: -len(v_suffix)], {})["v"] = value
                break
        else:
            if key.endswith(_IGNORED_SUFFIXES):
                logger.debug("ignoring buffer %s", key)
                continue
            out[key] = value
    for module, pair in pairs.items():
        if set(pair) != {"g", "v"}:
            missing = "g (original0/weight_g)" if "g" not in pair else "v (original1/weight_v)"
            raise WeightsError(f"weight norm of {module} lacks its {missing} tensor")
        g, v = pair["g"].float(), pair["v"].float()
        if g.numel() != v.shape[0]:
            raise WeightsError(
                f"weight norm of {module}: g has {g.numel()} values for v of shape {list(v.shape)}"
            )
        norm = torch.linalg.vector_norm(v, dim=tuple(range(1, v.dim())), keepdim=True)
        out[module + ".weight"] = v * (g.reshape(norm.shape) / norm)
    return out


def check_state(codec: Codec, tensors: dict[str, torch.Tensor]) -> None:
    """Raise a WeightsError naming every missing, unexpected or mis-shaped key (works on meta)."""
    expected = codec.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    misshaped = sorted(
        f"{k} (file {list(tensors[k].shape)}, model {list(expected[k].shape)})"
        for k in set(expected) & set(tensors)
        if tensors[k].shape != expected[k].shape
    )
    problems = []
    if missing:
        problems.append(f"missing {len(missing)}: {_names(missing)}")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)}: {_names(unexpected)}")
    if misshaped:
        problems.append(f"mis-shaped {len(misshaped)}: {_names(misshaped)}")
    if problems:
        raise WeightsError(
            "codec checkpoint does not match the config ("
            + "; ".join(problems)
            + "); check that the config belongs to this checkpoint"
        )


def load_state(codec: Codec, tensors: dict[str, torch.Tensor]) -> None:
    """Copy folded tensors into ``codec`` (keeping its parameters' memory layout) after checking them."""
    check_state(codec, tensors)
    with torch.no_grad():
        for key, target in codec.state_dict().items():
            target.copy_(tensors[key])


def _names(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def _resolve_checkpoint(path: Path) -> Path:
    if path.is_dir():
        for name in _CHECKPOINT_NAMES:
            if (path / name).is_file():
                return path / name
        raise WeightsError(f"no {' or '.join(_CHECKPOINT_NAMES)} in directory {path}")
    if not path.exists():
        raise FileNotFoundError(f"codec checkpoint not found: {path}")
    return path


def _resolve_config(config: CodecConfig | str | Path | None, checkpoint: Path, given: Path) -> CodecConfig:
    if isinstance(config, CodecConfig):
        return config
    if config is not None:
        return CodecConfig.from_json(config)
    for candidate in (
        checkpoint.with_name(checkpoint.stem + "_config.json"),
        checkpoint.parent / "codec_config.json",
    ):
        if candidate.is_file():
            return CodecConfig.from_json(candidate)
    if checkpoint.suffix == ".safetensors":
        try:
            from safetensors import safe_open

            with safe_open(str(checkpoint), "pt") as f:
                meta = f.metadata() or {}
        except (SafetensorError, OSError) as exc:
            raise WeightsError(f"cannot read safetensors checkpoint {checkpoint}: {exc}") from exc
        if "config" in meta:
            try:
                return CodecConfig.from_dict(json.loads(meta["config"]))
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{checkpoint}: bad config in metadata: {exc}") from exc
    logger.info("no config found for %s; using the released s2-codec shape", given)
    return CodecConfig.preset("s2-codec")


def read_codec_config(path: str | Path) -> CodecConfig:
    """The config of a codec checkpoint (file or directory) without loading its weights."""
    checkpoint = _resolve_checkpoint(Path(path))
    return _resolve_config(None, checkpoint, Path(path))


def load_codec(
    path: str | Path,
    config: CodecConfig | str | Path | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Codec:
    """Build a codec and load its weights.

    path: a ``.pth`` / ``.safetensors`` file, or a directory holding ``codec.safetensors`` or
    ``codec.pth``. config: a CodecConfig, a JSON path (ours or the reference's constructor values),
    or None to look for ``<stem>_config.json`` / ``codec_config.json`` beside the checkpoint, then
    the safetensors metadata, then fall back to the released ``s2-codec`` shape.
    """
    given = Path(path)
    checkpoint = _resolve_checkpoint(given)
    cfg = _resolve_config(config, checkpoint, given)
    tensors = fold_weight_norm(read_checkpoint(checkpoint))
    with torch.device("meta"):  # shapes only: no time spent on a random init we'd overwrite
        codec = Codec(cfg)
    check_state(codec, tensors)
    codec = codec.to_empty(device="cpu")
    load_state(codec, tensors)
    return codec.to(device=device, dtype=dtype).eval()


def save_codec(codec: Codec, path: str | Path) -> None:
    """Write folded weights to ``path`` (.safetensors) and the config to ``<stem>_config.json``."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise WeightsError(f"codec weights are saved as .safetensors, got {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in codec.state_dict().items()}
    meta = {"format": "s2tts-codec", "config": json.dumps(codec.config.to_dict())}
    save_file(tensors, str(path), metadata=meta)
    codec.config.save_json(path.with_name(path.stem + "_config.json"))
