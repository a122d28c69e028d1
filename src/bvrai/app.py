"""The FastAPI application factory: one app, routers mounted by role."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import structlog
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from bvrai import __version__
from bvrai.agents.routes import router as agents_router
from bvrai.analysis.routes import router as analysis_router
from bvrai.audit.routes import router as audit_router
from bvrai.calls.routes import router as calls_router
from bvrai.campaigns.routes import dnc_router
from bvrai.campaigns.routes import router as campaigns_router
from bvrai.config import Settings
from bvrai.identity.auth_routes import me_router
from bvrai.identity.auth_routes import router as auth_router
from bvrai.identity.routes import router as identity_router
from bvrai.kit.context import AppContext
from bvrai.kit.errors import PROBLEM_MEDIA_TYPE, ProblemDetail, install_problem_handlers, problem_responses
from bvrai.kit.jobs import JobRunner
from bvrai.kit.logging import configure_logging
from bvrai.kit.middleware import InputGuardMiddleware, RequestContextMiddleware
from bvrai.knowledge.routes import router as knowledge_router
from bvrai.knowledge.runtime import close_stores
from bvrai.telephony import plivo, telnyx, twilio_routes, vonage
from bvrai.telephony.routes import router as phone_numbers_router
from bvrai.voice.routes import router as media_router
from bvrai.web.routes import router as web_router
from bvrai.webhooks.routes import router as webhooks_router

Role = Literal["all", "api", "media"]

# Modules that define background tasks (``bvrai.kit.jobs.task``/``periodic``); imported by every
# process that enqueues or runs jobs.
JOB_MODULES = (
    "bvrai.calls.jobs",
    "bvrai.knowledge.jobs",
    "bvrai.webhooks.delivery",
    "bvrai.analysis.jobs",
    "bvrai.campaigns.dialer",
)

API_DESCRIPTION = """
Self-hostable voice-AI agent platform.

**Authentication**: `Authorization: Bearer <token>` where the token is a JWT access token from
`/v1/auth/login` (15 minutes; refresh with `/v1/auth/refresh`) or an API key (`bvr_sk_...`). Every
route needs it except those marked with an empty security list (sign-up, log-in, refresh, log-out,
accepting an invitation, health checks).

**Errors** are `application/problem+json` (RFC 9457). **Lists** use cursor pagination:
`?limit=&cursor=` returns `{"data": [...], "next_cursor": ...}`. Another organization's resource is
a 404, exactly like a missing one.
"""


def create_app(settings: Settings | None = None, *, role: Role = "all") -> FastAPI:
    settings = settings or Settings()
    configure_logging(json=settings.env == "production")
    ctx = AppContext.create(settings)
    # All-in-one runs the jobs itself; API and media processes enqueue them for `bvrai worker`.
    runner = JobRunner(ctx, consume=role == "all", modules=JOB_MODULES)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        warm = settings.warm_up_models and role in ("all", "media")
        warming = asyncio.create_task(_warm_up(settings)) if warm else None
        await runner.start()
        try:
            yield
        finally:
            if warming is not None:
                warming.cancel()
            await close_stores()
            await runner.stop()
            await ctx.close()

    app = FastAPI(
        title="BVRAI API",
        version=__version__,
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.state.jobs = runner
    install_problem_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(InputGuardMiddleware)
    app.add_middleware(RequestContextMiddleware, hsts=settings.public_base_url.startswith("https://"))

    if role in ("all", "api"):
        for router in (
            auth_router,
            me_router,
            identity_router,
            agents_router,
            calls_router,
            phone_numbers_router,
            audit_router,
            knowledge_router,
            # Carrier webhooks: signed by the carrier, answered with its stream instruction.
            twilio_routes.router,
            telnyx.router,
            plivo.router,
            vonage.router,
            webhooks_router,
            analysis_router,
            campaigns_router,
            dnc_router,
        ):
            app.include_router(router)
    if role in ("all", "media"):
        # The media plane: carrier media streams and browser calls, each running a call session.
        carriers = (twilio_routes.media_router, telnyx.media_router, plivo.media_router, vonage.media_router)
        for router in (media_router, *carriers):
            app.include_router(router)
    if role in ("all", "api"):
        # The dashboard; its talk page reaches /media/web on the same host (a proxy routes it to media nodes).
        app.include_router(web_router)
    _add_health_routes(app, ctx)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


async def _warm_up(settings: Settings) -> None:
    try:
        from bvrai.providers.local import warm_up
    except ImportError:
        return  # the local extra is not installed: nothing to load
    try:
        await warm_up(cache_dir=settings.model_cache_path)
    except Exception:
        structlog.get_logger(__name__).exception("model_warm_up_failed")


def _add_health_routes(app: FastAPI, ctx: AppContext) -> None:
    @app.get("/healthz", tags=["health"], openapi_extra={"security": []})
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], openapi_extra={"security": []})
    async def readyz() -> JSONResponse:
        """The process can reach its database."""
        try:
            async with ctx.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["ProblemDetail"] = ProblemDetail.model_json_schema()
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            _document_errors(operation)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    app.openapi_schema = schema
    return schema


def _document_errors(operation: dict[str, Any]) -> None:
    """Give every operation the problem+json errors it can answer with, whatever its route declared."""
    statuses: set[int] = set()
    if operation.get("security"):
        statuses |= {401, 403, 429}
    if operation.get("requestBody"):
        statuses |= {400, 413, 422}
    if operation.get("parameters"):
        statuses |= {400, 422}
    if any(p.get("in") == "path" for p in operation.get("parameters", [])):
        statuses.add(404)
    responses = operation.setdefault("responses", {})
    for status, entry in problem_responses(*sorted(statuses)).items():
        responses.setdefault(str(status), {"description": entry["description"]})
    for status, response in responses.items():
        if status.startswith(("4", "5")):
            response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}}
