"""Small JSON files that say what they are: ``{"format": NAME, "version": N, ...}``.

The packaged model's ``manifest.json`` and a checkpoint's ``voice.json`` are such files. Reading
one is the same everywhere: no file is None; a file that does not parse, is not an object of
that format, or is of another version is the caller's typed error, naming the path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from s2tts.errors import S2TTSError


def read_versioned_json(
    path: Path, fmt: str, version: int, error: type[S2TTSError], what: str
) -> dict[str, Any] | None:
    """The parsed object at ``path`` (None when there is no file). ``what`` names the kind of file
    in the messages (e.g. "packaged-model manifest")."""
    if not path.is_file():
        return None
    try:
        body = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path} cannot be read: {exc}") from exc
    if not isinstance(body, dict) or body.get("format") != fmt:
        raise error(f"{path} is not a {what} (format {fmt!r})")
    if body.get("version") != version:
        raise error(f"{path} has {what} version {body.get('version')!r}; this s2tts reads version {version}")
    return body
