"""Stored voices over HTTP: fish-speech's ``/v1/references/*`` and the ``/v1/audio/voices`` registry
(OpenAI / vLLM-Omni shape). Both views share one :class:`VoiceStore`.

fish routes answer msgpack, or JSON with ``Accept: application/json`` / ``?format=json``; their
errors, like every error here, are JSON. An upload is decoded once before it is stored, so a file
that is not audio (or is longer than the reference cap) is refused with 400 instead of failing
later at synthesis time.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from s2tts.server.audio_input import decode_audio, decode_base64
from s2tts.server.bodies import packed, read_body
from s2tts.server.context import ServerContext
from s2tts.server.http_errors import ApiError
from s2tts.server.schemas import (
    AddReferenceRequest,
    DeleteReferenceRequest,
    UpdateReferenceRequest,
    VoiceObject,
)
from s2tts.server.voices import VoiceInfo


def _voice_object(info: VoiceInfo) -> dict[str, Any]:
    return VoiceObject(
        id=info.id, name=info.id, created_at=int(info.created_at), ref_text=info.text
    ).model_dump()


def _first(data: dict[str, Any], *names: str) -> Any:
    for name in names:
        if data.get(name) not in (None, ""):
            return data[name]
    return None


def build_router(ctx: ServerContext) -> APIRouter:
    router = APIRouter(tags=["voices"])
    store = ctx.voices
    settings = ctx.settings

    async def save(voice_id: str, audio: bytes, text: str) -> VoiceInfo:
        store.validate_id(voice_id)
        await run_in_threadpool(decode_audio, audio, settings.max_reference_seconds, f"voice {voice_id!r}")
        return await run_in_threadpool(store.add, voice_id, audio, text)

    # -- fish-speech ----------------------------------------------------------------------------

    @router.post("/v1/references/add", summary="Add a reference voice (fish-speech)")
    async def add_reference(request: Request) -> Response:
        data = await read_body(request, settings.max_body_bytes)
        data.setdefault("id", _first(data, "reference_id", "name"))
        body = AddReferenceRequest.model_validate(data)
        await save(body.id, body.audio, body.text)
        return packed(request, {"success": True, "message": "reference added", "reference_id": body.id})

    @router.get("/v1/references/list", summary="List reference voice ids (fish-speech)")
    async def list_references(request: Request) -> Response:
        ids = await run_in_threadpool(store.ids)
        return packed(request, {"success": True, "reference_ids": ids, "message": f"{len(ids)} references"})

    @router.delete("/v1/references/delete", summary="Delete a reference voice (fish-speech)")
    async def delete_reference(request: Request) -> Response:
        data = await read_body(request, settings.max_body_bytes)
        if "reference_id" not in data and "reference_id" in request.query_params:
            data["reference_id"] = request.query_params["reference_id"]
        body = DeleteReferenceRequest.model_validate(data)
        await run_in_threadpool(store.delete, body.reference_id)
        return packed(
            request, {"success": True, "message": "reference deleted", "reference_id": body.reference_id}
        )

    @router.post("/v1/references/update", summary="Rename a reference voice (fish-speech)")
    async def update_reference(request: Request) -> Response:
        body = UpdateReferenceRequest.model_validate(await read_body(request, settings.max_body_bytes))
        store.validate_id(body.new_reference_id)
        await run_in_threadpool(store.rename, body.old_reference_id, body.new_reference_id)
        return packed(
            request,
            {
                "success": True,
                "message": "reference renamed",
                "old_reference_id": body.old_reference_id,
                "new_reference_id": body.new_reference_id,
            },
        )

    # -- OpenAI / vLLM-Omni registry ------------------------------------------------------------

    @router.get("/v1/audio/voices", summary="List stored voices")
    async def list_voices() -> JSONResponse:
        infos = await run_in_threadpool(store.list)
        return JSONResponse(
            {"object": "list", "data": [_voice_object(i) for i in infos], "voices": [i.id for i in infos]}
        )

    @router.post(
        "/v1/audio/voices",
        summary="Upload a voice (multipart: audio_sample, name, ref_text)",
        openapi_extra={"x-form": ["audio_sample", "name", "ref_text", "consent"]},
    )
    async def create_voice(request: Request) -> JSONResponse:
        data = await read_body(request, settings.max_body_bytes)
        name = _first(data, "name", "id", "voice_id")
        audio = _first(data, "audio_sample", "audio", "file")
        text = _first(data, "ref_text", "text", "transcript") or ""
        if not isinstance(name, str) or not name:
            raise ApiError(422, "name: field required")
        if isinstance(audio, str):
            audio = decode_base64(audio, "audio_sample")
        if not isinstance(audio, bytes) or not audio:
            raise ApiError(422, "audio_sample: an audio file is required")
        if not isinstance(text, str):
            raise ApiError(422, "ref_text: must be a string")
        info = await save(name, audio, text)
        return JSONResponse(_voice_object(info))

    @router.get("/v1/audio/voices/{voice_id}", summary="One stored voice")
    async def get_voice(voice_id: str) -> JSONResponse:
        return JSONResponse(_voice_object(await run_in_threadpool(store.info, voice_id)))

    @router.delete("/v1/audio/voices/{voice_id}", summary="Delete a stored voice")
    async def delete_voice(voice_id: str) -> JSONResponse:
        await run_in_threadpool(store.delete, voice_id)
        return JSONResponse({"id": voice_id, "object": "audio.voice.deleted", "deleted": True})

    @router.delete("/v1/audio/voices", summary="Delete a stored voice (?name=)")
    async def delete_voice_by_query(request: Request) -> JSONResponse:
        name = request.query_params.get("name") or request.query_params.get("id")
        if not name:
            raise ApiError(422, "name: query parameter required")
        return await delete_voice(name)

    return router
