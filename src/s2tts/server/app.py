"""The FastAPI application factory: ``create_app(engine, settings) -> FastAPI``.

Routes (each group in its own module, built around one :class:`ServerContext`):

    POST /v1/tts                  fish-speech / fish.audio TTS          tts_routes
    WS   /v1/tts/live             fish.audio live protocol              live
    POST /v1/audio/speech         OpenAI TTS (+ vLLM-Omni extras)       openai_routes
    /v1/references/*, /v1/audio/voices   stored voices                  voice_routes
    POST /v1/vqgan/encode|decode  codec                                  codec_routes
    GET  /v1/health, /metrics, /, /openapi.json, /docs (offline)        here

Middleware, outermost first: request counting, API key, body-size cap, (CORS if configured).
Bodies are parsed by hand (JSON, msgpack or form), so the OpenAPI schema gets the request models
injected afterwards (routes mark theirs with ``x-body-model``).
"""

from __future__ import annotations

import importlib.resources
import logging
from typing import Any

from fastapi import FastAPI, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import s2tts
from s2tts.checkpoint import RANDOM_NOTICE
from s2tts.server import codec_routes, live, openai_routes, schemas, tts_routes, voice_routes
from s2tts.server.auth import ApiKeyAuth
from s2tts.server.context import ServerContext
from s2tts.server.engine_api import Engine
from s2tts.server.http_errors import install_error_handlers
from s2tts.server.limits import BodySizeLimit, ConcurrencyLimiter
from s2tts.server.metrics import CONTENT_TYPE as METRICS_TYPE
from s2tts.server.metrics import ServerStats, render
from s2tts.server.settings import ServerSettings
from s2tts.server.voices import VoiceStore

log = logging.getLogger(__name__)


class CountRequests:
    """ASGI middleware: count HTTP requests by route template and status."""

    def __init__(self, app: ASGIApp, stats: ServerStats) -> None:
        self.app = app
        self.stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.stats.count(path, status)


def _page(name: str = "index.html") -> str:
    return importlib.resources.files("s2tts.server").joinpath(f"static/{name}").read_text("utf-8")


def create_app(engine: Engine, settings: ServerSettings | None = None) -> FastAPI:
    """Build the ASGI app serving ``engine``. The caller owns the engine (and closes it)."""
    settings = settings or ServerSettings()
    ctx = ServerContext(
        engine=engine,
        settings=settings,
        voices=VoiceStore(settings.voices_dir, settings.max_voice_id_chars),
        limiter=ConcurrencyLimiter(
            settings.max_sessions, settings.max_queue, settings.queue_timeout_s, settings.retry_after_s
        ),
        stats=ServerStats(),
    )
    # FastAPI's /docs and /redoc load their scripts from a CDN; ours is one local page (offline).
    app = FastAPI(
        docs_url=None,
        redoc_url=None,
        title="s2tts",
        version=getattr(s2tts, "__version__", "0"),
        summary="Fish Audio S2 text-to-speech: fish-speech, fish.audio and OpenAI compatible API.",
    )
    app.state.ctx = ctx
    install_error_handlers(app, settings.retry_after_s)

    for module in (tts_routes, live, openai_routes, voice_routes, codec_routes):
        app.include_router(module.build_router(ctx))

    random_weights = bool(getattr(engine, "random_weights", False))
    defaults = engine.default_sampling

    @app.get("/v1/health", tags=["meta"], summary="Liveness")
    async def health() -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "ok",
            "sample_rate": engine.sample_rate,
            "random_weights": random_weights,
            # the knobs a request leaves out take (the web page's sliders start here)
            "sampling": {k: getattr(defaults, k) for k in ("temperature", "top_p", "top_k")},
        }
        if random_weights:
            body["warning"] = RANDOM_NOTICE
        return body

    app.add_api_route(
        "/v1/health",
        health,
        methods=["POST"],
        tags=["meta"],
        operation_id="health_post",
        include_in_schema=False,
    )

    @app.get("/metrics", tags=["meta"], summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        try:
            engine_metrics = engine.metrics()
        except Exception:  # a metrics bug must not take the page down
            log.exception("engine.metrics() failed")
            engine_metrics = {}
        # The limits under the names of their flags (--max-sessions) and variables (S2TTS_MAX_SESSIONS).
        extra = {
            "max_sessions": ctx.limiter.limit,
            "max_queue": ctx.limiter.max_queue,
            "queue_timeout_seconds": ctx.settings.queue_timeout_s,
            "server_sessions_active": ctx.limiter.active,
            "server_queue_depth": ctx.limiter.waiting,
            "server_rejected_total": ctx.limiter.rejected_total,
        }
        engine_metrics = {k: v for k, v in engine_metrics.items() if k not in extra}
        return Response(render(engine_metrics, ctx.stats, extra), media_type=METRICS_TYPE)

    page = _page()

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    docs_page = _page("docs.html")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(docs_page, headers={"Cache-Control": "no-cache"})

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204)

    app.openapi = lambda: _openapi(app, settings)  # type: ignore[method-assign]

    # Middleware: the last added runs first.
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Sample-Rate", "X-Audio-Format", "X-Request-Id"],
        )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    if settings.api_key:
        app.add_middleware(ApiKeyAuth, api_key=settings.api_key, public_paths=settings.public_paths)
    app.add_middleware(CountRequests, stats=ctx.stats)
    return app


def _openapi(app: FastAPI, settings: ServerSettings) -> dict[str, Any]:
    """FastAPI's schema plus the hand-parsed request bodies and the bearer scheme."""
    if app.openapi_schema:
        return app.openapi_schema
    spec = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    error_ref = _add_model(components, schemas.ErrorBody)
    for path_item in spec.get("paths", {}).values():
        for op in path_item.values():
            if not isinstance(op, dict):
                continue
            model_name = op.pop("x-body-model", None)
            form_fields = op.pop("x-form", None)
            content: dict[str, Any] = {}
            if model_name:
                ref = _add_model(components, getattr(schemas, model_name))
                content = {t: {"schema": ref} for t in ("application/json", "application/msgpack")}
                content["multipart/form-data"] = {"schema": ref}
            elif form_fields:
                props = {f: {"type": "string"} for f in form_fields}
                props[form_fields[0]] = {"type": "string", "format": "binary"}
                content = {"multipart/form-data": {"schema": {"type": "object", "properties": props}}}
            if content:
                op["requestBody"] = {"required": True, "content": content}
            op.setdefault("responses", {})["default"] = {
                "description": "Error",
                "content": {"application/json": {"schema": error_ref}},
            }
    if settings.api_key:
        spec["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        spec["security"] = [{"bearer": []}]
    app.openapi_schema = spec
    return spec


def _add_model(components: dict[str, Any], model: type) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")  # type: ignore[attr-defined]
    for name, sub in schema.pop("$defs", {}).items():
        components.setdefault(name, sub)
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}
