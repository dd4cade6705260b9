"""Two gloo processes (torchrun) train the same codec as one process on the same global batches."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from s2tts.training.checkpointing import Checkpointer
from s2tts.training.codec.config import CodecTrainConfig
from s2tts.training.codec.recipe import train
from s2tts.training.run_config import load_config

from .conftest import tiny_run

ROOT = Path(__file__).parents[3]


@pytest.mark.slow
def test_two_processes_match_one(tmp_path, speech_dir):
    # Two steps, the second with the GAN: generator and discriminators both under DDP. The
    # quantiser is bypassed (warm-up path): its nearest-code choices are discrete, so float-order
    # noise between one and two processes could flip a near-tie and part the runs by a whole code.
    extra = ("data.batch_size=4", "steps=2", "phases.unquantized_steps=100", "phases.gan_start=1")
    # the two processes stream their crops (rank 0 indexes, rank 1 reads the cache); the one
    # process holds the audio in memory: the same crops to float rounding
    overrides = tiny_run(tmp_path / "ddp", speech_dir, *extra, "device=cpu", "data.stream=true")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    proc = subprocess.run(
        [*cmd, "-m", "s2tts.training.codec", *overrides],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])  # printed once, by rank 0
    assert summary["steps"] == 2 and (tmp_path / "ddp" / "audio-index.json").is_file()
    train(load_config(CodecTrainConfig, None, tiny_run(tmp_path / "one", speech_dir, *extra)))
    two = Checkpointer.read(Checkpointer(tmp_path / "ddp" / "checkpoints").latest())["objects"]
    one = Checkpointer.read(Checkpointer(tmp_path / "one" / "checkpoints").latest())["objects"]
    # Same global batches split in two, all-reduced gradients: equal up to float summation order,
    # which Adam amplifies only where a gradient is near zero (its update is lr * sign there), so
    # a few elements may differ by up to 2 * lr. Halves trained apart would differ almost everywhere.
    for net in ("generator", "discriminator"):
        assert set(two[net]) == set(one[net])
        off = sum(int(((two[net][k] - v).abs() > 1e-5).sum()) for k, v in one[net].items())
        total = sum(v.numel() for v in one[net].values())
        assert off / total < 0.01, (net, off, total)
        assert max(float((two[net][k] - v).abs().max()) for k, v in one[net].items()) <= 2.5e-4
