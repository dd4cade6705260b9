"""The ``s2tts`` command line: argparse and dispatch only.

Each sub-module registers its sub-commands through ``register(subparsers)`` and sets
``func`` on its parser; ``main`` turns any :class:`~s2tts.errors.S2TTSError` (and file errors)
into one line on stderr and a non-zero exit. Usage errors (a bad flag or value) are one line too
(exit 2), pointing at ``--help`` instead of printing the whole usage.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

import s2tts
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
    "s2tts.cli.recipe",
)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr (sub-command parsers inherit it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="s2tts", description="Fish Audio S2 text-to-speech.")
    parser.add_argument("--version", action="version", version=f"s2tts {s2tts.__version__}")
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
    except (S2TTSError, OSError) as exc:
        print(f"s2tts: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("s2tts: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        text = f"{exc.filename}: {exc.strerror.lower()}"
    return text or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
