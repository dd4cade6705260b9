"""Every command line shown in README.md and docs/*.md parses, and those that can run here do, so the docs
cannot drift from the command line.

Which lines: each line of a fenced block tagged ``bash``, ``sh`` or ``shell`` (backslash continuations
joined, ``# comments`` dropped, ``&&`` chains split into their commands). Then, per command:

* ``s2tts ...`` (also ``.venv/bin/s2tts ...``): must parse with the real argument parser. It is **run**
  (in process, in document order, README.md first, in one scratch directory) when its sub-command is in
  ``RUN_SUBCOMMANDS`` and every ``checkpoints/...`` path it names is ``checkpoints/tiny`` (the tiny random
  checkpoint that the README's own ``s2tts init-checkpoint --preset tiny checkpoints/tiny`` writes). A
  section added later opts in by using ``checkpoints/tiny`` and a sub-command listed here (add yours
  when it runs in seconds on the tiny checkpoint); commands on real checkpoints are parse-checked only.
* ``curl ...``: run with bash against a live server on loopback (the tiny random engine); the docs'
  ``localhost:8080`` / ``127.0.0.1:8080`` become its address, and ``--fail`` is added so that an HTTP
  error fails the test. ``s2tts voices --server ...`` lines go to the same server.
* anything else (``bash scripts/setup.sh``, ``pytest``, ``docker``): not run here; CI runs setup and the
  tests, and has no Docker.

The scratch directory holds the input files the docs name: ``ref.wav``, ``clip.wav``, ``in.wav``.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from s2tts.cli import build_parser, main

ROOT = Path(__file__).parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN_SUBCOMMANDS = {"speak", "init-checkpoint", "generate-codes", "codec", "voices"}
TINY = "checkpoints/tiny"
DOC_HOSTS = ("http://localhost:8080", "http://127.0.0.1:8080", "localhost:8080", "127.0.0.1:8080")
INPUT_AUDIO = ("ref.wav", "clip.wav", "in.wav")


@dataclass(frozen=True)
class Command:
    source: str  # file:line
    words: list[str]
    line: str  # the whole line as shown (a curl line runs through bash as it is)

    @property
    def kind(self) -> str:
        head = self.words[0]
        if head in ("s2tts", ".venv/bin/s2tts"):
            return "s2tts"
        return "curl" if head == "curl" else "other"

    @property
    def runs(self) -> bool:
        if self.kind == "curl":
            return True
        if self.kind != "s2tts" or len(self.words) < 2 or self.words[1] not in RUN_SUBCOMMANDS:
            return False
        paths = [w for w in self.words if w.startswith("checkpoints/")]
        return all(p == TINY or p.startswith(TINY + "/") for p in paths)


def doc_commands(path: Path) -> list[Command]:
    """The commands of ``path``'s bash blocks, in order (see the module docstring)."""
    out: list[Command] = []
    for block in re.finditer(r"^```(?:bash|sh|shell)\n(.*?)^```", path.read_text(), flags=re.S | re.M):
        first_line = path.read_text()[: block.start()].count("\n") + 2
        text = block.group(1).replace("\\\n", " ")
        for offset, line in enumerate(text.splitlines()):
            words = shlex.split(line, comments=True)
            command: list[str] = []
            for word in [*words, "&&"]:
                if word == "&&":
                    if command:
                        out.append(Command(f"{path.name}:{first_line + offset}", command, line))
                    command = []
                else:
                    command.append(word)
    return out


ALL = [c for doc in DOCS for c in doc_commands(doc)]


def test_the_docs_show_commands() -> None:
    kinds = {c.kind for c in ALL}
    assert {"s2tts", "curl"} <= kinds
    assert sum(c.runs for c in ALL) >= 10


@pytest.mark.parametrize("command", [c for c in ALL if c.kind == "s2tts"], ids=lambda c: c.source)
def test_every_s2tts_line_parses(command: Command) -> None:
    build_parser().parse_args(command.words[1:])  # a usage error exits: the test fails with its message


@contextlib.contextmanager
def _server(scratch: Path, name: str) -> Iterator[str]:
    from s2tts.inference.engine import EngineConfig
    from s2tts.inference.factory import load_engine
    from s2tts.server.app import create_app
    from s2tts.server.run import serve_in_thread
    from s2tts.server.settings import ServerSettings

    ckpt = scratch / TINY
    if not ckpt.exists():
        assert main(["init-checkpoint", "--preset", "tiny", str(ckpt)]) == 0
    with (
        load_engine(ckpt, config=EngineConfig(max_sessions=2)) as engine,
        serve_in_thread(create_app(engine, ServerSettings(data_dir=scratch / f"data-{name}"))) as url,
    ):
        yield url


def _for_server(words: list[str], url: str) -> list[str]:
    out = []
    for word in words:
        for host in DOC_HOSTS:
            if host in word:
                word = word.replace(host, url if host.startswith("http") else url.removeprefix("http://"))
                break
        out.append(word)
    return out


@pytest.mark.slow
def test_every_runnable_doc_command_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("S2TTS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KEY", "unused")  # the server runs without an API key; the docs send one
    t = np.arange(22050) / 22050
    for name in INPUT_AUDIO:
        sf.write(tmp_path / name, 0.3 * np.sin(2 * np.pi * 200 * t), 22050)
    for doc in DOCS:  # each document gets a fresh server (stored voices do not carry over)
        with contextlib.ExitStack() as stack:
            url = None
            for command in (c for c in doc_commands(doc) if c.runs):
                needs_server = command.kind == "curl" or command.words[1] == "voices"
                if needs_server and url is None:
                    url = stack.enter_context(_server(tmp_path, doc.stem))
                _run(command, url if needs_server else None, tmp_path)


def _run(command: Command, url: str | None, scratch: Path) -> None:
    words = _for_server(command.words, url) if url else command.words
    if command.kind == "s2tts":
        assert main(words[1:]) == 0, command.source
    else:
        assert url is not None
        line = command.line.strip()
        for host in DOC_HOSTS[2:]:
            line = line.replace(host, url.removeprefix("http://"))
        line = "curl --fail " + line.removeprefix("curl ")
        proc = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=120, cwd=scratch)
        assert proc.returncode == 0, f"{command.source}: {proc.stderr}"
    for flag in ("-o", "--output"):
        if flag in words:
            target = scratch / words[words.index(flag) + 1]
            assert target.is_file() and target.stat().st_size > 0, command.source


def test_the_docker_image_serves_the_mounted_checkpoint(tmp_path: Path) -> None:
    """The Docker lines are not run (no Docker in CI); what they rely on is: the image points
    ``S2TTS_DEFAULT_CHECKPOINT`` at the documented mount, and ``s2tts serve`` uses it when it holds
    a config (an empty mount serves the random model, which says so)."""
    from s2tts.cli.serve import checkpoint_dir

    env = dict(
        re.findall(r"(S2TTS_\w+)=(\S*)", (ROOT / "Dockerfile").read_text().split("ENV", 1)[1].split("RUN")[0])
    )
    mount = env["S2TTS_DEFAULT_CHECKPOINT"]
    docker_run = next(c for c in ALL if c.words[:2] == ["docker", "run"])
    assert any(w.endswith(f":{mount}:ro") for w in docker_run.words)
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    assert checkpoint_dir(None, {"S2TTS_DEFAULT_CHECKPOINT": str(mounted)}) is None  # nothing there yet
    (mounted / "config.json").write_text("{}")
    assert checkpoint_dir(None, {"S2TTS_DEFAULT_CHECKPOINT": str(mounted)}) == mounted
    assert checkpoint_dir(None, {"S2TTS_CHECKPOINT": "/x", "S2TTS_DEFAULT_CHECKPOINT": str(mounted)}) == Path(
        "/x"
    )
    assert checkpoint_dir(Path("/flag"), {"S2TTS_CHECKPOINT": "/x"}) == Path("/flag")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_docs_speak_of_the_project(doc: Path) -> None:
    """Docs describe the project as it is, not the work items or the people that made it."""
    text = doc.read_text().lower()
    assert not re.search(r"\bthe issue\b|\bissue.s\b|\bissue #?\d|\bcoordinator\b", text)
