"""``s2tts serve`` (the HTTP server) and ``s2tts voices`` (manage a running server's voices)."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from s2tts.cli.options import add_runtime_options, apply_threads
from s2tts.errors import S2TTSError

if TYPE_CHECKING:  # heavy imports happen in the handlers, so `s2tts --help` stays fast
    from s2tts.inference.engine import EngineConfig
    from s2tts.server.settings import ServerSettings


class ServerRequestError(S2TTSError):
    """A call to a running server failed."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve the HTTP API and web page")
    p.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="checkpoint dir (default: S2TTS_CHECKPOINT, else S2TTS_DEFAULT_CHECKPOINT if it holds a "
        "config.json, else the model packaged with s2tts, else a tiny random model)",
    )
    p.add_argument("--host", default=None, help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default 8080)")
    p.add_argument(
        "--api-key", default=None, help="require 'Authorization: Bearer KEY' (or set S2TTS_API_KEY)"
    )
    p.add_argument("--data-dir", type=Path, default=None, help="where stored voices live (default ./data)")
    p.add_argument(
        "--max-sessions",
        type=int,
        default=None,
        help="requests running at once, decoded together (S2TTS_MAX_SESSIONS; default 8)",
    )
    p.add_argument(
        "--max-queue",
        type=int,
        default=None,
        help="requests waiting for a running slot; more get 429 (S2TTS_MAX_QUEUE; default 64)",
    )
    p.add_argument(
        "--queue-timeout",
        type=float,
        default=None,
        help="seconds a queued request waits before 503 (S2TTS_QUEUE_TIMEOUT_S; default 30)",
    )
    add_runtime_options(p, quantize=True)
    p.add_argument(
        "--compile", action="store_true", help="torch.compile the decode frame (every batch bucket, at start)"
    )
    p.set_defaults(func=_serve)

    v = sub.add_parser("voices", help="add, list or remove stored voices on a running server")
    v.add_argument("--server", default=os.environ.get("S2TTS_SERVER", "http://127.0.0.1:8080"))
    v.add_argument("--api-key", default=os.environ.get("S2TTS_API_KEY"))
    vs = v.add_subparsers(dest="action", metavar="ACTION")
    vs.required = True
    add = vs.add_parser("add", help="upload a voice")
    add.add_argument("voice_id")
    add.add_argument("audio", type=Path)
    add.add_argument("--text", default="", help="transcript of the audio")
    vs.add_parser("list", help="list voices")
    rm = vs.add_parser("rm", help="delete a voice")
    rm.add_argument("voice_id")
    v.set_defaults(func=_voices)


def server_settings(args: argparse.Namespace, environ: Mapping[str, str]) -> ServerSettings:
    """``S2TTS_*`` variables, then the flags given on top: one set of limits for server and engine."""
    from s2tts.server.settings import ServerSettings

    try:
        return ServerSettings.from_env(
            environ,
            host=args.host,
            port=args.port,
            api_key=args.api_key,
            data_dir=args.data_dir,
            max_sessions=args.max_sessions,
            max_queue=args.max_queue,
            queue_timeout_s=args.queue_timeout,
        )
    except ValueError as exc:
        raise ServerRequestError(str(exc)) from exc


def engine_config(settings: ServerSettings, args: argparse.Namespace) -> EngineConfig:
    """The engine runs as many requests as the server lets through (``max_sessions``), with the
    server's text limit (one number: the engine's own default would otherwise refuse what the
    server admits, or the reverse)."""
    from s2tts.inference.engine import EngineConfig

    return EngineConfig(
        max_sessions=settings.max_sessions,
        max_queue=settings.max_queue,
        max_text_chars=settings.max_text_chars,
        compile=args.compile,
    )


def checkpoint_dir(flag: Path | None, environ: Mapping[str, str]) -> Path | None:
    """The checkpoint to serve: ``--checkpoint``, else ``S2TTS_CHECKPOINT``, else
    ``S2TTS_DEFAULT_CHECKPOINT`` when that directory holds a ``config.json`` (the Docker image sets it
    to its mount point, /checkpoints), else None: the default model (``load_engine``'s: the packaged
    one, else the tiny random one)."""
    if flag is not None:
        return flag
    if environ.get("S2TTS_CHECKPOINT"):
        return Path(environ["S2TTS_CHECKPOINT"])
    default = environ.get("S2TTS_DEFAULT_CHECKPOINT")
    if default and (Path(default) / "config.json").is_file():
        return Path(default)
    return None


def _serve(args: argparse.Namespace) -> int:
    apply_threads(args)
    from s2tts.inference.factory import load_engine
    from s2tts.server.run import serve

    settings = server_settings(args, os.environ)
    checkpoint = checkpoint_dir(args.checkpoint, os.environ)
    engine = load_engine(
        checkpoint, args.dtype, args.device, engine_config(settings, args), quantize=args.quantize
    )
    serve(engine, settings)
    return 0


def _voices(args: argparse.Namespace) -> int:
    import httpx

    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    url = args.server.rstrip("/") + "/v1/audio/voices"
    try:
        with httpx.Client(headers=headers, timeout=60) as client:
            if args.action == "add":
                data = args.audio.read_bytes()
                files = {"audio_sample": (args.audio.name, data)}
                response = client.post(url, data={"name": args.voice_id, "ref_text": args.text}, files=files)
            elif args.action == "list":
                response = client.get(url)
            else:
                response = client.delete(f"{url}/{args.voice_id}")
    except httpx.HTTPError as exc:
        raise ServerRequestError(f"cannot reach {args.server}: {exc}") from exc
    if response.status_code >= 400:
        try:
            detail = response.json()
            message = (
                detail.get("error", {}).get("message") if isinstance(detail.get("error"), dict) else None
            )
            message = message or detail.get("detail") or detail.get("error") or response.text
        except ValueError:
            message = response.text
        raise ServerRequestError(f"server answered {response.status_code}: {message}")
    body = response.json()
    if args.action == "list":
        if not body.get("data"):
            print(f"no voices stored on {args.server}")
        for voice in body.get("data", []):
            print(f"{voice.get('id')}\t{json.dumps(voice.get('ref_text', voice.get('text', '')))}")
    elif args.action == "add":
        print(f"added voice {body.get('id', args.voice_id)}")
    else:
        print(f"deleted voice {args.voice_id}")
    return 0
