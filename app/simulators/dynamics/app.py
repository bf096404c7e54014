"""The Microsoft Dynamics 365 (Dataverse Web API v9.2) simulator.

Routes (under the organization URL, ``/dynamics`` in the shared server)::

    POST   /{tenant}/oauth2/v2.0/token          client credentials → bearer token
    GET    /api/data/v9.2/                       the service document
    GET    /api/data/v9.2/{set}                  query ($select $filter $orderby $top $count,
                                                 Prefer odata.maxpagesize, $skiptoken)
    POST   /api/data/v9.2/{set}                  create (204 + OData-EntityId, or 201)
    GET    /api/data/v9.2/{set}({id})            read one ($select, If-None-Match)
    PATCH  /api/data/v9.2/{set}({id})            update or upsert (If-Match, If-None-Match)
    DELETE /api/data/v9.2/{set}({id})            delete (If-Match)
    POST   /api/data/v9.2/$batch                 multipart/mixed requests and change sets
    GET    /api/data/v9.2/EntityDefinitions(LogicalName='{table}')/Attributes
                                                 a table's columns (``metadata.py``), and
           …/Attributes(LogicalName='{column}')/Microsoft.Dynamics.CRM.{type}
                                                 one column (``$expand=OptionSet``)
    POST   /__expire_tokens                      test control: every token expires
    PUT    /__org  GET /__org  DELETE /__org     test control: the org's shape
                                                 (``org.OrgShape``; DELETE: fresh)

``{set}`` is contacts, leads or incidents. See tests/contract/specs/dynamics.md.

A URL longer than Dataverse takes is refused, ``414``: "The maximum length of URL accepted is
32 KB (32768 characters)", and 64 KB for a request inside a ``$batch`` (counted here without
the organization's address).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.simulators.control import SimulatorControl
from app.simulators.credentials import DYNAMICS_API_VERSION, DYNAMICS_TENANT_ID
from app.simulators.dynamics import batch as multipart
from app.simulators.dynamics import metadata
from app.simulators.dynamics.auth import TokenIssuer
from app.simulators.dynamics.dialect import NOMINAL, ApiError, DynamicsDialect, error_body
from app.simulators.dynamics.odata import guid_key
from app.simulators.dynamics.org import Org, OrgShape
from app.simulators.dynamics.query import context, options, run, select_of
from app.simulators.dynamics.render import Preferences, etag, preferences, render
from app.simulators.dynamics.schema import TABLES, Table
from app.simulators.dynamics.store import DynamicsStore, Record, not_found, payload_error
from app.simulators.limits import size_limited
from app.simulators.responses import JSONResponse, dumps
from app.simulators.world import World

API = f"/api/data/{DYNAMICS_API_VERSION}"
JSON_TYPE = "application/json; odata.metadata=minimal"
PRECONDITION = "0x80060882"
NO_SEGMENT = "0x8006088a"
ALL_METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]

Endpoint = Callable[[Request], Awaitable[Response]]
TableEndpoint = Callable[[Request, Table], Awaitable[Response]]


def odata_json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    payload = dumps(body)
    # OData-Version is added to every answer by the dialect's headers (see dialect.py).
    return Response(payload, status, headers, media_type=JSON_TYPE)


def _base(request: Request) -> str:
    """The service root, ``{organization URL}/api/data/v9.2``."""
    url = request.url
    return f"{url.scheme}://{url.netloc}{request.scope.get('root_path', '')}{API}"


def _prefs(request: Request) -> Preferences:
    return preferences(request.headers.getlist("prefer"))


class DynamicsSimulator:
    """The environment behind the routes: its rows and the tokens it accepts."""

    def __init__(self, world: World) -> None:
        self.store = DynamicsStore(world)
        self.org = Org()
        self.issuer = TokenIssuer()
        self.app = Starlette(
            routes=self.routes(), exception_handlers={HTTPException: self.http_error}
        )

    def routes(self) -> list[BaseRoute]:
        guard = self.guard

        def typed(handler: TableEndpoint, name: str) -> Endpoint:
            # The org's current table (a test may have reshaped it).
            return guard(lambda request: handler(request, self.org.tables[name]))

        routes: list[BaseRoute] = [
            Route("/{tenant}/oauth2/v2.0/token", self.issuer.token, methods=["POST"]),
            Route(f"{API}/", guard(self.service), methods=["GET"]),
            Route(f"{API}/$batch", guard(self.batch), methods=["POST"]),
        ]
        for name in TABLES:
            one = f"{API}/{name}({{id}})"
            routes += [
                Route(f"{API}/{name}", typed(self.query, name), methods=["GET"]),
                Route(f"{API}/{name}", typed(self.create, name), methods=["POST"]),
                Route(one, typed(self.read, name), methods=["GET"]),
                Route(one, typed(self.update, name), methods=["PATCH"]),
                Route(one, typed(self.delete, name), methods=["DELETE"]),
            ]
        routes += [
            Route(
                f"{API}/EntityDefinitions{{rest:path}}", guard(self.definitions), methods=["GET"]
            ),
            Route(f"{API}/{{segment:path}}", guard(self.no_segment), methods=ALL_METHODS),
            Route("/__expire_tokens", self.expire_tokens, methods=["POST"]),
            Route("/__org", self.org_shape, methods=["GET", "PUT", "DELETE"]),
        ]
        return routes

    def guard(self, handler: Endpoint) -> Endpoint:
        """Bearer token first, then the handler, whose :class:`ApiError` becomes the body."""

        async def endpoint(request: Request) -> Response:
            if not self.issuer.valid(request.headers.get("authorization", "")):
                org = f"{request.url.scheme}://{request.url.netloc}"
                challenge = (
                    f"Bearer authorization_uri=https://login.microsoftonline.com/"
                    f"{DYNAMICS_TENANT_ID}/oauth2/authorize, resource_id={org}"
                    f"{request.scope.get('root_path', '')}/"
                )
                return Response(status_code=401, headers={"WWW-Authenticate": challenge})
            try:
                return await handler(request)
            except ApiError as error:
                return odata_json(error.body(), error.status)

        return endpoint

    async def expire_tokens(self, request: Request) -> Response:
        return JSONResponse({"expired": self.issuer.expire_all()})

    async def org_shape(self, request: Request) -> Response:
        """Test control: reshape the org (PUT), show its shape (GET), make it fresh (DELETE)."""
        if request.method == "PUT":
            try:
                self.org = Org(OrgShape.model_validate_json(await request.body()))
            except ValidationError as exc:
                problems = [
                    {"loc": ".".join(map(str, e["loc"])), "msg": e["msg"]} for e in exc.errors()
                ]
                return JSONResponse({"error": "invalid org shape", "problems": problems}, 422)
        elif request.method == "DELETE":
            self.org = Org()
        return JSONResponse(self.org.shape.model_dump())

    def reset(self) -> None:
        self.org = Org()
        self.store.reset()

    # -- reading --------------------------------------------------------------------------------

    async def service(self, request: Request) -> Response:
        sets = [{"name": n, "kind": "EntitySet", "url": n} for n in TABLES]
        return odata_json({"@odata.context": f"{_base(request)}/$metadata", "value": sets})

    async def query(self, request: Request, table: Table) -> Response:
        prefs = _prefs(request)
        page = run(self.store, table, request.query_params.multi_items(), prefs, _base(request))
        headers = {"Preference-Applied": ",".join(page.applied)} if page.applied else {}
        return odata_json(page.body, headers=headers)

    async def read(self, request: Request, table: Table) -> Response:
        row = self._row(request, table)
        if request.headers.get("if-none-match") == etag(row):
            return Response(status_code=304)
        return self._one(request, table, row, 200)

    async def definitions(self, request: Request) -> Response:
        rest = request.path_params["rest"]
        params = request.query_params.multi_items()
        return odata_json(metadata.serve(rest, params, self.org.tables, _base(request)))

    async def no_segment(self, request: Request) -> Response:
        segment = request.path_params["segment"].split("(", 1)[0].split("/", 1)[0]
        raise ApiError(404, NO_SEGMENT, f"Resource not found for the segment '{segment}'.")

    # -- writing --------------------------------------------------------------------------------

    async def create(self, request: Request, table: Table) -> Response:
        values = self.store.check(table, await _body(request, table), creating=True)
        row = self.store.insert(table, values)
        return self._written(request, table, row, 201)

    async def update(self, request: Request, table: Table) -> Response:
        key = guid_key(request.path_params["id"], table)
        row = self.store.get(table, key)
        if_match, if_none = request.headers.get("if-match"), request.headers.get("if-none-match")
        if row is None and if_match is not None:
            raise not_found(table, key)
        if row is not None and if_none == "*":
            raise ApiError(412, "0x80040237", "A record with matching key values already exists.")
        if row is not None and if_match not in (None, "*") and if_match != etag(row):
            raise _stale()
        body = await _body(request, table)
        values = self.store.check(table, body, creating=row is None, key=key)
        if row is None:  # PATCH without If-Match is an upsert
            values[table.key] = key
            row = self.store.insert(table, values)
            return self._written(request, table, row, 201)
        self.store.update(table, row, values)
        return self._written(request, table, row, 200)

    async def delete(self, request: Request, table: Table) -> Response:
        row = self._row(request, table)
        if_match = request.headers.get("if-match")
        if if_match not in (None, "*") and if_match != etag(row):
            raise _stale()
        self.store.delete(table, row[table.key])
        return Response(status_code=204)

    async def batch(self, request: Request) -> Response:
        items = multipart.parse(await request.body(), request.headers.get("content-type", ""))
        prefs = _prefs(request)
        answers: list[multipart.SubResponse | list[multipart.SubResponse]] = []
        for item in items:
            if isinstance(item, multipart.Changeset):
                done, failed = await self._changeset(request, item)
                answers.append(done)
            else:
                answer = await self._dispatch(request, item)
                answers.append(answer)
                failed = answer.status >= 400
            if failed and not prefs.continue_on_error:
                break
        payload, kind = multipart.render(answers)
        return Response(payload, 200, {"Content-Type": kind})

    # -- helpers --------------------------------------------------------------------------------

    def _row(self, request: Request, table: Table) -> Record:
        key = guid_key(request.path_params["id"], table)
        row = self.store.get(table, key)
        if row is None:
            raise not_found(table, key)
        return row

    def _one(self, request: Request, table: Table, row: Record, status: int) -> Response:
        opts = options(request.query_params.multi_items())
        prefs = _prefs(request)
        body = {"@odata.context": context(_base(request), table, opts, entity=True)}
        body |= render(self.store, table, row, select_of(opts, table), prefs)
        headers = {"ETag": etag(row)}
        if prefs.annotations_raw is not None:
            headers["Preference-Applied"] = f"odata.include-annotations={prefs.annotations_raw}"
        return odata_json(body, status, headers)

    def _written(self, request: Request, table: Table, row: Record, status: int) -> Response:
        """204 with ``OData-EntityId``, or the row itself when ``return=representation``."""
        if _prefs(request).representation:
            response = self._one(request, table, row, status)
            applied = response.headers.get("preference-applied")
            response.headers["Preference-Applied"] = ",".join(
                p for p in ("return=representation", applied) if p
            )
            return response
        entity_id = f"{_base(request)}/{table.entity_set}({row[table.key]})"
        return Response(status_code=204, headers={"OData-EntityId": entity_id})

    async def _changeset(
        self, request: Request, changeset: multipart.Changeset
    ) -> tuple[list[multipart.SubResponse], bool]:
        """Run a change set as one transaction: on the first failure, undo it all and answer
        with that failure alone."""
        snapshot = self.store.snapshot()
        answers = []
        for sub in changeset.requests:
            answer = await self._dispatch(request, sub)
            if answer.status >= 400:
                self.store.restore(snapshot)
                return [answer], True
            answers.append(answer)
        return answers, False

    async def _dispatch(self, request: Request, sub: multipart.SubRequest) -> multipart.SubResponse:
        """Serve one batch part with this app, as the caller (same token, same root)."""
        if len(sub.url) > MAX_BATCHED_URL:
            plain = [("Content-Type", "text/plain")]
            return multipart.SubResponse(414, plain, b"URI Too Long", sub.content_id)
        marker = API.lstrip("/") + "/"
        index = sub.url.find(marker)
        relative = sub.url[index + len(marker) :] if index >= 0 else sub.url.lstrip("/")
        path, _, query = relative.partition("?")
        if path.split("?")[0] == "$batch":
            body = error_body("0x0", "A batch request cannot contain another batch request.")
            return multipart.SubResponse(
                400, [("Content-Type", JSON_TYPE)], json.dumps(body).encode(), sub.content_id
            )
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in sub.headers]
        if not any(k == b"authorization" for k, _ in headers):
            auth = request.headers.get("authorization", "")
            headers.append((b"authorization", auth.encode("latin-1")))
        headers.append((b"content-length", str(len(sub.body)).encode()))
        status, out_headers, body_bytes = await _call(self.app, request, sub, path, query, headers)
        kept = [(k, v) for k, v in out_headers if k.lower() != "content-length"]
        kept.append(("OData-Version", "4.0"))  # what the dialect adds to top-level answers
        return multipart.SubResponse(status, kept, body_bytes, sub.content_id)

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            message = f"The requested resource does not support http method '{request.method}'."
            return odata_json(error_body("0x0", message), 405, dict(exc.headers or {}))
        return odata_json(error_body("0x0", str(exc.detail)), exc.status_code)


def _stale() -> ApiError:
    return ApiError(
        412,
        PRECONDITION,
        "The version of the existing record doesn't match the RowVersion property provided.",
    )


async def _body(request: Request, table: Table) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw.strip() else None
    except (ValueError, RecursionError) as exc:
        raise payload_error(table.entity_set, f"Invalid JSON. {exc}") from None


async def _call(
    app: Starlette,
    request: Request,
    sub: multipart.SubRequest,
    path: str,
    query: str,
    headers: list[tuple[bytes, bytes]],
) -> tuple[int, list[tuple[str, str]], bytes]:
    root = request.scope.get("root_path", "")
    full = f"{root}{API}/{path}"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": sub.method,
        "scheme": request.url.scheme,
        "server": request.scope.get("server"),
        "client": request.scope.get("client"),
        "root_path": root,
        "path": unquote(full),
        "raw_path": full.encode(),
        "query_string": query.encode(),
        "headers": headers,
    }
    delivered = False
    status, out_headers, chunks = 500, [], []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": sub.body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status, out_headers
        if message["type"] == "http.response.start":
            status = message["status"]
            out_headers = [
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in message["headers"]
            ]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, out_headers, b"".join(chunks)


#: The longest URL Dataverse takes, and inside a ``$batch``.
MAX_URL = 32_768
MAX_BATCHED_URL = 65_536


def create_app(world: World) -> SimulatorControl:
    """The simulator for ``world``, wrapped in the control middleware."""
    simulator = DynamicsSimulator(world)
    return SimulatorControl(
        size_limited(simulator.app, MAX_URL),
        simulator.app.routes,
        DynamicsDialect(),
        NOMINAL,
        seed=world.seed,
        reseed=simulator.reset,
    )
