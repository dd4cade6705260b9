"""``python -m s2tts.training.codec --config FILE [key=value ...]`` (the torchrun entry point)."""

import sys

from s2tts.training.codec.recipe import main

sys.exit(main())
