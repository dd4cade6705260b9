"""The ``s2tts`` command line: argparse and dispatch only.

Each sub-module registers its sub-commands through ``register(subparsers)`` and sets
``func`` on its parser; ``main`` turns any :class:`~s2tts.errors.S2TTSError` (and file errors)
into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from s2tts.errors import S2TTSError

# Modules that contribute sub-commands; each has ``register(subparsers) -> None``.
_COMMAND_MODULES = (
    "s2tts.cli.lm",
    "s2tts.cli.codec",
    "s2tts.cli.speak",
    "s2tts.cli.serve",
    "s2tts.cli.data",
    "s2tts.cli.eval",
    "s2tts.cli.train",
    "s2tts.cli.train_rl",  # after the other trainers: it joins their ``train`` group
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s2tts", description="Fish Audio S2 text-to-speech.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that command group is not built yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except (S2TTSError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        print(f"s2tts: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("s2tts: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
