"""LM weight I/O in the published ``s2-pro`` format.

Published names -> module names:

* ``text_model.model.<k>``            -> ``slow.<k>``
* ``audio_decoder.codebook_embeddings.weight`` -> ``slow.codebook_embeddings.weight`` (slow-side input)
* ``audio_decoder.<k>``               -> ``fast.<k>`` (embeddings, layers.N, norm, output, project_in)

Also accepted: the reference's internal flat names (``layers.N...``, ``fast_layers.N...``,
``codebook_embeddings...``), separate ``wq/wk/wv`` (fused into ``wqkv``), a ``state_dict`` wrapper
and ``model.`` prefixes in ``model.pth``. Weights stream from safetensors shards straight into a
meta-initialised model (``assign``), so two copies never sit in memory at once.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from s2tts.errors import WeightsError
from s2tts.models.config import DualARConfig
from s2tts.models.dual_ar import DualARTransformer

log = logging.getLogger(__name__)

DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


def parse_dtype(name: str | torch.dtype) -> torch.dtype:
    if isinstance(name, torch.dtype):
        return name
    try:
        return DTYPES[name]
    except KeyError:
        raise WeightsError(f"unknown dtype {name!r}; choose from {sorted(DTYPES)}") from None


# ---------------------------------------------------------------------- key mapping
def published_to_internal(name: str) -> str | None:
    """Map a checkpoint key to our module's key; None for keys that are not model weights."""
    if name.startswith("model."):
        name = name[len("model.") :]
    if name.startswith("text_model.model."):
        return "slow." + name[len("text_model.model.") :]
    if name.startswith("audio_decoder.codebook_embeddings."):
        return "slow." + name[len("audio_decoder.") :]
    if name.startswith("audio_decoder."):
        return "fast." + name[len("audio_decoder.") :]
    # Reference-internal flat names (model.pth / merged LoRA checkpoints).
    if name.startswith("fast_"):
        return "fast." + name[len("fast_") :]
    if name.startswith(("layers.", "embeddings.", "codebook_embeddings.", "norm.")):
        return "slow." + name
    if name.startswith(("output.",)):
        return "slow.tied_output." + name  # rejected below: the model ties its output head
    return None


def internal_to_published(name: str) -> str:
    if name.startswith("slow.codebook_embeddings."):
        return "audio_decoder." + name[len("slow.") :]
    if name.startswith("slow."):
        return "text_model.model." + name[len("slow.") :]
    if name.startswith("fast."):
        return "audio_decoder." + name[len("fast.") :]
    raise WeightsError(f"cannot map parameter {name!r} to a published key")


_SPLIT_QKV = re.compile(r"^(.*\.attention)\.(wq|wk|wv)\.weight$")


# ---------------------------------------------------------------------- reading
def _checkpoint_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise WeightsError(f"checkpoint path does not exist: {path}")
    index = path / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (KeyError, json.JSONDecodeError) as exc:
            raise WeightsError(f"bad shard index {index}: {exc}") from exc
        files = sorted({path / f for f in weight_map.values()})
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise WeightsError(f"shards listed in {index.name} are missing: {missing}")
        return files
    shards = sorted(path.glob("model-*-of-*.safetensors"))
    if shards:
        return shards
    for name in ("model.safetensors", "model.pth"):
        if (path / name).is_file():
            return [path / name]
    raise WeightsError(
        f"no model weights in {path} (model.safetensors, sharded model-*.safetensors or model.pth)"
    )


def iter_checkpoint(path: str | Path) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield (published key, tensor) pairs from every weight file of a checkpoint, one at a time."""
    for file in _checkpoint_files(Path(path)):
        if file.suffix == ".safetensors":
            try:
                with safe_open(str(file), framework="pt") as f:
                    for key in f.keys():  # noqa: SIM118 - safe_open has no __iter__
                        yield key, f.get_tensor(key)
            except Exception as exc:  # safetensors raises its own error types
                if isinstance(exc, WeightsError):
                    raise
                raise WeightsError(f"cannot read {file}: {exc}") from exc
        else:
            try:
                state = torch.load(str(file), map_location="cpu", weights_only=True, mmap=True)
            except Exception as exc:
                raise WeightsError(f"cannot read {file} (weights_only): {exc}") from exc
            if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
                state = state["state_dict"]
            if not isinstance(state, dict):
                raise WeightsError(f"{file} does not hold a state dict")
            yield from state.items()


def load_state_into(
    model: DualARTransformer,
    tensors: Iterator[tuple[str, torch.Tensor]],
    dtype: torch.dtype,
    device: torch.device | str,
) -> None:
    """Assign checkpoint tensors to a (possibly meta) model; every key checked by name and shape."""
    expected = {k: v for k, v in model.state_dict(keep_vars=True).items()}
    seen: set[str] = set()
    unexpected: list[str] = []
    pending_qkv: dict[str, dict[str, torch.Tensor]] = {}

    def assign(key: str, tensor: torch.Tensor, source: str) -> None:
        if key not in expected:
            unexpected.append(source)
            return
        want = tuple(expected[key].shape)
        if tuple(tensor.shape) != want:
            raise WeightsError(f"tensor {source!r} has shape {tuple(tensor.shape)}, expected {want}")
        module_path, _, attr = key.rpartition(".")
        module = model.get_submodule(module_path)
        value = tensor.to(device=device, dtype=dtype)
        setattr(module, attr, torch.nn.Parameter(value, requires_grad=False))
        seen.add(key)

    for source, tensor in tensors:
        if source.startswith(("audio_", "audio_projector")) and not source.startswith("audio_decoder."):
            continue  # unused audio-feature path of the reference
        internal = published_to_internal(source)
        if internal is None:
            unexpected.append(source)
            continue
        m = _SPLIT_QKV.match(internal)
        if m:
            group = pending_qkv.setdefault(m.group(1), {})
            group[m.group(2)] = tensor
            if len(group) == 3:
                fused = torch.cat([group["wq"], group["wk"], group["wv"]], dim=0)
                assign(m.group(1) + ".wqkv.weight", fused, source.replace(m.group(2), "wqkv"))
                del pending_qkv[m.group(1)]
            continue
        assign(internal, tensor, source)

    if pending_qkv:
        raise WeightsError(f"incomplete split q/k/v weights for {sorted(pending_qkv)}")
    if unexpected:
        raise WeightsError(f"unexpected keys in checkpoint: {sorted(unexpected)[:20]}")
    missing = sorted(internal_to_published(k) for k in expected if k not in seen)
    if missing:
        raise WeightsError(
            f"missing keys in checkpoint: {missing[:20]}" + (" ..." if len(missing) > 20 else "")
        )


def materialise_buffers(model: DualARTransformer, device: torch.device | str) -> None:
    """Rebuild non-persistent buffers (RoPE tables, offsets) that meta init left empty."""
    from s2tts.models.rope import rope_table

    cfg = model.config
    model.slow.rope = rope_table(cfg.slow.max_seq_len, cfg.slow.head_dim, cfg.slow.rope_base, device)
    model.fast.rope = rope_table(cfg.fast.max_seq_len, cfg.fast.head_dim, cfg.fast.rope_base, device)
    model.slow.codebook_offsets = (torch.arange(cfg.num_codebooks, device=device) * cfg.codebook_size).view(
        1, -1, 1
    )


def load_model(
    path: str | Path,
    config: DualARConfig | None = None,
    dtype: str | torch.dtype = "float32",
    device: torch.device | str = "cpu",
) -> DualARTransformer:
    """Load a Dual-AR checkpoint directory (config.json + weights) onto ``device`` in ``dtype``.

    The model is plain (training layout, contiguous weights); ``s2tts.inference.prepare_for_decode``
    makes a decoding model of it."""
    path = Path(path)
    if config is None:
        config = DualARConfig.from_json(path if path.is_dir() else path.parent)
    torch_dtype = parse_dtype(dtype)
    with torch.device("meta"):
        model = DualARTransformer(config)
    load_state_into(model, iter_checkpoint(path), torch_dtype, device)
    materialise_buffers(model, device)
    return model.eval()


def save_model(model: DualARTransformer, directory: str | Path, shard_bytes: int | None = None) -> None:
    """Write config.json and weights with published names (sharded + index when shard_bytes is set)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.config.save(directory / "config.json")
    state = {internal_to_published(k): v.detach().contiguous() for k, v in model.state_dict().items()}
    if shard_bytes is None:
        save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
        return
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > shard_bytes:
            shards.append({})
            size = 0
        shards[-1][key] = tensor
        size += nbytes
    weight_map: dict[str, str] = {}
    for i, shard in enumerate(shards, start=1):
        name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, str(directory / name), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(shard, name))
    total = sum(t.numel() * t.element_size() for t in state.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (directory / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
