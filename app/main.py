"""``create_app``: the only place where settings, connectors, access control and the schema
meet."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.middleware.cors import CORSMiddleware
from strawberry.fastapi import GraphQLRouter

from app.auth.access import build_access
from app.auth.guard import GraphQLGuard
from app.auth.principal import NOBODY, Principal
from app.cache.flush import listen_for_flushes
from app.config import Settings
from app.gateway import Gateway, build_gateway


def create_app(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """The gateway's ASGI app. ``transport`` replaces the network for tests at the edge."""
    from schema import schema
    from schema.context import Context
    from schema.sources import source_statuses

    state: dict[str, Gateway] = {}
    access = build_access(settings, transport)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        gateway = state["gateway"] = build_gateway(settings, transport)
        tasks = []
        if gateway.cache is not None and gateway.redis is not None:
            tasks.append(asyncio.create_task(listen_for_flushes(gateway.cache, gateway.redis)))
        worker = gateway.worker()
        if worker is not None:
            tasks.append(asyncio.create_task(worker.run()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await state.pop("gateway").aclose()
            await access.aclose()

    async def context(request: Request) -> Context:
        # The guard gives every query a principal. Strawberry also builds a context for the
        # GraphiQL page, which runs nothing: that one gets a principal who may see nothing.
        principal = getattr(request.state, "principal", None)
        if not isinstance(principal, Principal):
            principal = NOBODY
        return Context(state["gateway"], principal, access)

    app = FastAPI(title="crmgraph", lifespan=lifespan, docs_url=None, redoc_url=None)
    router: GraphQLRouter[Any, None] = GraphQLRouter(
        schema,
        context_getter=context,
        graphql_ide="graphiql" if settings.server.graphiql else None,
    )
    app.include_router(router, prefix="/graphql")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        gateway = state.get("gateway")
        if gateway is None:
            return JSONResponse({"ready": False, "reason": "starting"}, status_code=503)
        sources = {
            s.name: {
                "kind": s.kind,
                "status": s.status.value,
                "errorRate": s.error_rate,
                "breaker": s.breaker_state,
                "rateBudgetRemaining": s.rate_budget_remaining,
            }
            for s in source_statuses(gateway)
        }
        body: dict[str, Any] = {"ready": True, "sources": sources}
        if gateway.cache is not None and gateway.cache.shared is not None:
            # Redis down is not "not ready": the first tier and the CRMs carry on; say so.
            up = await gateway.cache.shared.ping()  # type: ignore[attr-defined]
            body["cache"] = {"shared_tier": "up" if up else "down"}
        return JSONResponse(body)

    app.add_middleware(
        GraphQLGuard,
        authenticator=access.authenticator,
        persisted=access.persisted,
        max_body_bytes=settings.limits.max_body_bytes,
        max_tokens=settings.limits.max_tokens,
    )
    if settings.cors.allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors.allow_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-Id"],
        )
    return app
