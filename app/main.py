"""``create_app``: the only place where settings, connectors and the schema meet."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from strawberry.fastapi import GraphQLRouter

from app.config import Settings
from app.gateway import Gateway, build_gateway


def create_app(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """The gateway's ASGI app. Connectors open with the app's lifespan and close with it."""
    from schema import schema
    from schema.context import Context

    state: dict[str, Gateway] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state["gateway"] = build_gateway(settings, transport)
        try:
            yield
        finally:
            await state.pop("gateway").aclose()

    async def context() -> Context:
        return Context(state["gateway"])

    app = FastAPI(title="crmgraph", lifespan=lifespan, docs_url=None, redoc_url=None)
    router: GraphQLRouter[Any, None] = GraphQLRouter(
        schema, context_getter=context, graphql_ide="graphiql" if settings.server.graphiql else None
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
            name: {"kind": h.kind, "status": h.status, "errorRate": round(h.error_rate, 4)}
            for name, h in gateway.health.items()
        }
        return JSONResponse({"ready": True, "sources": sources})

    return app
