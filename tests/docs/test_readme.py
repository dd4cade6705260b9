"""The README's Python examples run as written (on a tiny random checkpoint)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

README = Path(__file__).parents[2] / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_opens_with_the_two_setup_commands() -> None:
    text = README.read_text()
    first = re.search(r"```bash\n(.*?)```", text, flags=re.S)
    assert first is not None
    lines = [line for line in first.group(1).splitlines() if line.strip()]
    assert len(lines) == 2 and "s2tts speak" in lines[0] and "pytest" in lines[1]
    ci = (README.parent / ".ci" / "run").read_text()
    assert lines[1].split("&& ")[-1] in ci  # CI runs exactly the README's test command


@pytest.mark.parametrize("index", range(len(_blocks())))
def test_python_example_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    # Run the blocks in order so later ones see the checkpoint made by the first.
    for code in _blocks()[: index + 1]:
        exec(compile(code, str(README), "exec"), namespace)  # noqa: S102
    assert os.path.isdir(tmp_path / "checkpoints" / "tiny")
