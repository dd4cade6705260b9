"""Request bodies in (JSON, msgpack or multipart form) and msgpack-or-JSON answers out.

fish-speech clients send msgpack (``application/msgpack``) so that reference audio travels as raw
bytes; browsers and curl send JSON or multipart forms. ``read_body`` turns any of them into a
plain dict for pydantic; a body that does not parse is a 400, never a 500.
fish-speech's reference routes answer msgpack unless the client asks for JSON
(``Accept: application/json`` or ``?format=json``): ``wants_json`` / ``packed`` decide that.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import ormsgpack
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from s2tts.server.http_errors import ApiError

MSGPACK_TYPES = ("application/msgpack", "application/x-msgpack", "application/vnd.msgpack")


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_body(request: Request, max_form_bytes: int) -> dict[str, Any]:
    """The request body as a dict, from JSON, msgpack or a multipart/urlencoded form.

    Form files become bytes (under the field's name); an empty body is an empty dict.
    """
    kind = media_type(request)
    if kind in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return await _read_form(request, max_form_bytes)
    raw = await request.body()
    if not raw:
        return {}
    if kind in MSGPACK_TYPES:
        try:
            data = ormsgpack.unpackb(raw)
        except (ormsgpack.MsgpackDecodeError, ValueError) as exc:
            raise ApiError(400, f"body is not valid msgpack: {exc}") from exc
    elif kind in ("", "application/json", "text/plain") or kind.endswith("+json"):
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"body is not valid JSON: {exc}") from exc
    else:
        raise ApiError(415, f"unsupported content type {kind!r}; send JSON, msgpack or a form")
    if not isinstance(data, dict):
        raise ApiError(400, "body must be an object")
    return data


async def _read_form(request: Request, max_bytes: int) -> dict[str, Any]:
    try:
        form = await request.form(max_files=8, max_fields=64, max_part_size=max_bytes)
    except ApiError:
        raise
    except Exception as exc:  # python-multipart / starlette raise several types here
        raise ApiError(400, f"malformed form body: {exc}") from exc
    out: dict[str, Any] = {}
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                out[key] = await value.read()
            else:
                out[key] = value
    finally:
        await form.close()
    return out


def wants_json(request: Request) -> bool:
    """fish-speech's rule: JSON if ``?format=json`` or the client accepts JSON, else msgpack."""
    if request.query_params.get("format", "").lower() == "json":
        return True
    accept = request.headers.get("accept", "").lower()
    return "application/json" in accept and "msgpack" not in accept


def packed(request: Request, content: dict[str, Any], status_code: int = 200) -> Response:
    """Answer ``content`` as msgpack or JSON (bytes become base64 in JSON)."""
    if wants_json(request):
        return JSONResponse(_jsonable(content), status_code=status_code)
    return Response(ormsgpack.packb(content), status_code=status_code, media_type="application/msgpack")


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
