"""``create_app``: the only place where settings, connectors, access control and the schema
meet."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from redis.exceptions import RedisError
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from app.auth.access import build_access
from app.auth.guard import GraphQLGuard
from app.auth.principal import NOBODY, Principal
from app.cache.flush import listen_for_flushes
from app.checks.startup import StartupCheck
from app.config import Settings
from app.gateway import Gateway, build_gateway
from app.graphiql import assets_router
from app.graphql_http import CachedAnswers
from app.live.bus import RedisBus
from app.live.websocket import LiveRouter
from app.observability import metrics
from app.observability.request_id import RequestIdMiddleware
from app.observability.setup import configure as configure_observability
from app.webhooks.intake import WebhookIntake, webhook_router
from app.writes.outbox import UNFINISHED

log = logging.getLogger(__name__)


def _intake(state: dict[str, Gateway]) -> WebhookIntake | None:
    gateway = state.get("gateway")
    return None if gateway is None else gateway.webhook_intake


def create_app(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """The gateway's ASGI app. ``transport`` replaces the network for tests at the edge."""
    from schema import schema_for
    from schema.context import Context
    from schema.sources import source_statuses

    state: dict[str, Gateway] = {}
    startup_check = StartupCheck()
    configure_observability(settings.observability)
    access = build_access(settings, transport)
    schema = schema_for(settings.custom_fields())

    @asynccontextmanager
    async def lifespan(served: FastAPI) -> AsyncIterator[None]:
        gateway = state["gateway"] = build_gateway(settings, transport)
        untrack = metrics.track(gateway)
        tasks = []
        if gateway.cache is not None and gateway.redis is not None:
            tasks.append(asyncio.create_task(listen_for_flushes(gateway.cache, gateway.redis)))
        worker = gateway.worker()
        if worker is not None:
            tasks.append(asyncio.create_task(worker.run()))
        if isinstance(gateway.bus, RedisBus):
            tasks.append(asyncio.create_task(gateway.bus.run()))
        served.state.gateway = gateway  # for tests that publish changes on its bus
        # Ask the CRMs whether they have what the config names (bounded; see StartupCheck).
        await startup_check.start(settings, gateway.connectors, transport)
        for runner in (gateway.webhook_worker(), gateway.salesforce_poller()):
            if runner is not None:
                tasks.append(asyncio.create_task(runner.run()))
        unregister = []
        if gateway.outbox is not None:
            outbox = gateway.outbox

            async def unfinished_writes() -> int:
                counts = await outbox.depth()
                return sum(counts[state] for state in UNFINISHED)

            unregister.append(metrics.register_depth("outbox", unfinished_writes))
        if gateway.webhook_store is not None:
            store = gateway.webhook_store
            unregister.append(metrics.register_depth("webhook_queue", store.depth))
            unregister.append(metrics.register_depth("dead_letters", store.dead_letter_count))
        try:
            yield
        finally:
            await startup_check.stop()
            await stop_tasks(tasks)
            untrack()
            for forget_depth in unregister:
                forget_depth()
            await state.pop("gateway").aclose()
            await access.aclose()

    async def context(request: HTTPConnection) -> Context:
        # The guard gives every query a principal. Strawberry also builds a context for the
        # GraphiQL page, which runs nothing: that one gets a principal who may see nothing.
        # A websocket is given its principal by its connection_init (LiveRouter).
        principal = getattr(request.state, "principal", None)
        if not isinstance(principal, Principal):
            principal = NOBODY
        return Context(state["gateway"], principal, access)

    app = FastAPI(title="crmgraph", lifespan=lifespan, docs_url=None, redoc_url=None)
    router = LiveRouter(
        schema,
        authenticator=access.authenticator,
        context_getter=context,
        graphql_ide="graphiql" if settings.server.graphiql else None,
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
        max_subscriptions_per_connection=settings.live.max_subscriptions_per_connection,
        max_connections_per_caller=settings.live.max_connections_per_caller,
        allowed_origins=settings.cors.allow_origins,
    )
    app.include_router(router, prefix="/graphql")
    if settings.server.graphiql:
        # The page's scripts and styles: the guard lets them by, as it does the page.
        app.include_router(assets_router(), prefix="/graphql/static")
    app.include_router(webhook_router(lambda: _intake(state)))

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
        # A config naming what the CRMs lack is not ready (app.checks.startup says why);
        # asked again now and then, so that a fix made in the CRM is seen without a restart.
        startup_check.recheck_if_stale()
        ready = not startup_check.misconfigured
        body: dict[str, Any] = {"ready": ready, "config": "loaded", "sources": sources}
        body["liveCheck"] = startup_check.as_json()
        # Redis down is not "not ready": the cache's first tier and the CRMs carry on, budgets
        # and idempotency fall back to in-process; said, not refused. Every Redis is asked at
        # once, each for at most redis_timeout: one that does not answer must not hold the
        # probe past its own timeout (1 s in Kubernetes), or every instance leaves the
        # Service because Redis is away.
        tier = gateway.cache.shared if gateway.cache is not None else None
        pings: list[Awaitable[Any]] = [] if tier is None else [tier.ping()]  # type: ignore[attr-defined]
        if settings.redis_url is not None:
            pings += [r.ping() for r in gateway.extra_redis]
        ups = await answering(pings, settings.redis_timeout)
        if tier is not None:
            body["cache"] = {"shared_tier": "up" if ups.pop(0) else "down"}
        if settings.redis_url is not None:
            body["redis"] = "up" if all(ups) else "down"
        down = [n for n, s in sources.items() if s["status"] == "DOWN"]
        degraded = (
            down
            or body.get("redis") == "down"
            or body.get("cache", {}).get("shared_tier") == "down"
        )
        body["status"] = "degraded" if degraded else "ok"
        if not ready:
            body["status"] = "misconfigured"
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_text() -> Response:
        if not settings.observability.metrics:
            return JSONResponse({"detail": "metrics are off (observability.metrics)"}, 404)
        return Response(await metrics.render(), media_type=metrics.CONTENT_TYPE_LATEST)

    # Inside the guard: the response cache's hits, once the caller is known (app.graphql_http).
    app.add_middleware(CachedAnswers, gateway=lambda: state.get("gateway"), rate=access.rate)
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
    # Outermost: every later log line of the request, the guard's audit events included,
    # carries its id.
    app.add_middleware(RequestIdMiddleware)
    return app


async def stop_tasks(tasks: list[asyncio.Task[Any]], grace: float = 5.0) -> None:
    """Cancel the background tasks and wait for them, cancelling again while any runs on:
    redis-py 8 can lose a cancellation that lands mid-command (a probe lost 20 of 30), and a
    worker's loop would then carry on. Past ``grace`` seconds the rest are left, and said."""
    pending = {task for task in tasks if not task.done()}
    until = asyncio.get_running_loop().time() + grace
    while pending:
        left = until - asyncio.get_running_loop().time()
        if left <= 0:
            names = ", ".join(sorted(task.get_name() for task in pending))
            log.warning("background tasks still running at shutdown after %s s: %s", grace, names)
            return
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=min(0.2, left))
    for task in tasks:  # retrieve their outcomes: a crash is logged, not lost
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s had failed", task.get_name(), exc_info=task.exception())


async def answering(pings: list[Awaitable[Any]], within: float) -> list[bool]:
    """Whether each ping answers (truthy) within ``within`` seconds, all asked at once."""

    async def answers(ping: Awaitable[Any]) -> bool:
        try:
            async with asyncio.timeout(within):
                return bool(await ping)
        except (TimeoutError, RedisError, OSError):
            return False

    return list(await asyncio.gather(*(answers(p) for p in pings)))
