"""``python -m s2tts.training.rl --config FILE [a.b=value ...]`` (also under torchrun)."""

from __future__ import annotations

import sys

from s2tts.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "rl", *sys.argv[1:]]))
