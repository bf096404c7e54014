"""The Salesforce REST simulator: OAuth token, sObject rows and collections, SOQL query.

Routes (under the instance URL; the API version is any ``v50.0``…``v62.0``)::

    POST  /services/oauth2/token                           client credentials → access token
    GET   /services/data                                   the API versions
    GET   /services/data/{version}/query?q=SOQL            first page (Sforce-Query-Options)
    GET   /services/data/{version}/query/{queryLocator}    a further page (nextRecordsUrl)
    POST  /services/data/{version}/sobjects/{Type}         create one
    GET   /services/data/{version}/sobjects/{Type}/{id}    read one (?fields=)
    PATCH /services/data/{version}/sobjects/{Type}/{id}    update one
    GET   /services/data/{version}/composite/sobjects/{Type}?ids=&fields=   read many
    POST  /services/data/{version}/composite/sobjects/{Type}                read many (body)
    POST  /services/data/{version}/composite/sobjects      create many (≤200)
    PATCH /services/data/{version}/composite/sobjects      update many (≤200)
    POST  /services/data/{version}/composite               up to 25 subrequests, @{ref.path}
    GET   /services/data/{version}/sobjects/{Type}/describe the object's fields and picklists
    POST  /__expire_tokens                                 test control: every token expires
    PUT   /__org  GET /__org  DELETE /__org                test control: the org's shape
                                                           (``org.OrgShape``; DELETE: fresh)

``{Type}`` is Lead, Contact or Account, one literal route each; LeadStatus (the Lead Status
picklist's values) can be described and queried (``SELECT ApiName, IsConverted … FROM
LeadStatus``).

A request whose URI and headers come to more than 16,384 bytes together is refused as
Salesforce refuses it: ``414 URI Too Long`` when the URI alone is over, else ``431 Request
Header Fields Too Large``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.simulators.control import SimulatorControl
from app.simulators.credentials import SALESFORCE_CLIENT_ID, SALESFORCE_CLIENT_SECRET
from app.simulators.limits import size_limited
from app.simulators.responses import JSONResponse
from app.simulators.salesforce.dialect import NOMINAL, SalesforceDialect, error_array
from app.simulators.salesforce.org import Org, OrgShape, describe
from app.simulators.salesforce.soql import Query, SoqlError, parse
from app.simulators.salesforce.store import (
    SCHEMA,
    SOBJECTS,
    FieldSpec,
    Record,
    SalesforceStore,
    SaveError,
    SObjectType,
    attributes,
    make_id,
    no_such_column,
    normalize_id,
    wire_value,
)
from app.simulators.world import World

API = "/services/data/{version}"
#: API version → release, as ``GET /services/data`` lists them.
VERSIONS: dict[str, str] = {
    "v50.0": "Winter '21",
    "v51.0": "Spring '21",
    "v52.0": "Summer '21",
    "v53.0": "Winter '22",
    "v54.0": "Spring '22",
    "v55.0": "Summer '22",
    "v56.0": "Winter '23",
    "v57.0": "Spring '23",
    "v58.0": "Summer '23",
    "v59.0": "Winter '24",
    "v60.0": "Spring '24",
    "v61.0": "Summer '24",
    "v62.0": "Winter '25",
}
MAX_SAVE_RECORDS = 200
MAX_RETRIEVE_IDS = 2000
BATCH_SIZES = (200, 2000)  # Sforce-Query-Options batchSize: least, most (and default)
MAX_OPEN_CURSORS = 200
MAX_SUBREQUESTS = 25
ORG_ID = make_id("00D", 12_345_678)
USER_ID = make_id("005", 23_456_789)
_NO_SUCH_RESOURCE = "The requested resource does not exist"
_REFERENCE = re.compile(r"@\{(\w+)((?:\.\w+|\[\d+\])*)\}")
_REFERENCE_ID = re.compile(r"[A-Za-z0-9_]+")
_ROLLED = "The transaction was rolled back since another operation in the same transaction failed."
_BATCH_SIZE = re.compile(r"(?:^|[,;\s])batchSize\s*=\s*(\d+)", re.IGNORECASE)

Endpoint = Callable[[Request], Awaitable[Response]]
TypedEndpoint = Callable[[Request, SObjectType], Awaitable[Response]]


class ApiError(Exception):
    """A refusal in the REST API's own words; handlers raise it, the guard renders it."""

    def __init__(
        self, status: int, code: str, message: str, fields: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": "Token"} if self.status == 401 else None
        return JSONResponse(
            error_array(self.code, self.message, self.fields), self.status, headers=headers
        )


@dataclass(slots=True)
class Cursor:
    """What a query locator stands for: the matching ids, in order, and how to render them."""

    query: Query
    ids: list[str]
    batch_size: int


class SalesforceSimulator:
    """The org behind the routes: its records, the tokens it issued, its open query cursors."""

    def __init__(self, world: World) -> None:
        self.store = SalesforceStore(world)
        self.org = Org()
        self.tokens: set[str] = set()
        self.cursors: OrderedDict[str, Cursor] = OrderedDict()
        self.locators = itertools.count(62**6)
        self.app = Starlette(
            routes=self.routes(), exception_handlers={HTTPException: self.http_error}
        )

    def reset(self) -> None:
        self.org = Org()
        self.store.reset()
        self.cursors.clear()

    def routes(self) -> list[BaseRoute]:
        guard = self.guard

        def typed(handler: TypedEndpoint, name: str) -> Endpoint:
            # The org's current shape of the type (a test may have reshaped it).
            return guard(lambda request: handler(request, self._type(name)))

        routes: list[BaseRoute] = [
            Route("/services/oauth2/token", self.token, methods=["POST"]),
            Route("/services/data", self.versions, methods=["GET"]),
            Route(f"{API}/query", guard(self.query), methods=["GET"]),
            Route(f"{API}/query/{{queryLocator}}", guard(self.query_more), methods=["GET"]),
            Route(f"{API}/composite/sobjects", guard(self.create_many), methods=["POST"]),
            Route(f"{API}/composite/sobjects", guard(self.update_many), methods=["PATCH"]),
            Route(f"{API}/composite", guard(self.composite), methods=["POST"]),
        ]
        for name in SCHEMA:  # before ``{id}``, which would take "describe" for an id
            path = f"{API}/sobjects/{name}/describe"
            routes.append(Route(path, typed(self.describe, name), methods=["GET"]))
        for name in SOBJECTS:
            one, many = f"{API}/sobjects/{name}", f"{API}/composite/sobjects/{name}"
            routes += [
                Route(one, typed(self.create_one, name), methods=["POST"]),
                Route(f"{one}/{{id}}", typed(self.read_one, name), methods=["GET"]),
                Route(f"{one}/{{id}}", typed(self.update_one, name), methods=["PATCH"]),
                Route(many, typed(self.read_many_by_url, name), methods=["GET"]),
                Route(many, typed(self.read_many_by_body, name), methods=["POST"]),
            ]
        routes.append(Route("/__expire_tokens", self.expire_tokens, methods=["POST"]))
        routes.append(Route("/__org", self.org_shape, methods=["GET", "PUT", "DELETE"]))
        return routes

    def _type(self, name: str) -> SObjectType:
        sotype = self.org.sobject(name)
        assert sotype is not None
        return sotype

    async def describe(self, request: Request, sotype: SObjectType) -> Response:
        return JSONResponse(describe(sotype, _version(request)))

    async def org_shape(self, request: Request) -> Response:
        """Test control: reshape the org (PUT), show its shape (GET), make it fresh (DELETE)."""
        if request.method == "PUT":
            try:
                shape = OrgShape.model_validate_json(await request.body())
            except ValueError as exc:
                return JSONResponse({"error": str(exc)[:2000]}, 422)
            self.org = Org(shape)
        elif request.method == "DELETE":
            self.org = Org()
        self.store.set_lead_statuses(self.org.lead_statuses)
        return JSONResponse(self.org.shape.model_dump())

    def guard(self, handler: Endpoint) -> Endpoint:
        """Wrap a data endpoint: bearer token first, then the API version, then the handler,
        whose :class:`ApiError` becomes the error array."""

        async def endpoint(request: Request) -> Response:
            try:
                self._authenticate(request)
                if request.path_params["version"] not in VERSIONS:
                    raise ApiError(404, "NOT_FOUND", _NO_SUCH_RESOURCE)
                return await handler(request)
            except ApiError as error:
                return error.response()

        return endpoint

    def _authenticate(self, request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or token.strip() not in self.tokens:
            raise ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")

    # -- OAuth ----------------------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        form = {
            k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()
        }
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            client_id, _, client_secret = _basic_credentials(basic[6:]).partition(":")
        if form.get("grant_type") != "client_credentials":
            return _oauth_error("unsupported_grant_type", "grant type not supported")
        if client_id != SALESFORCE_CLIENT_ID:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if client_secret is None or not secrets.compare_digest(
            client_secret.encode(), SALESFORCE_CLIENT_SECRET.encode()
        ):
            return _oauth_error("invalid_client", "invalid client credentials")
        token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(72)}"
        self.tokens.add(token)
        # The instance is wherever this app is mounted (``/salesforce`` in the shared server).
        instance_url = (
            f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"
        )
        identity = f"{instance_url}/id/{ORG_ID}/{USER_ID}"
        issued_at = str(int(time.time() * 1000))
        digest = hmac.new(
            SALESFORCE_CLIENT_SECRET.encode(), (identity + issued_at).encode(), hashlib.sha256
        ).digest()
        return JSONResponse(
            {
                "access_token": token,
                "instance_url": instance_url,
                "id": identity,
                "token_type": "Bearer",
                "issued_at": issued_at,
                "signature": base64.b64encode(digest).decode(),
            }
        )

    async def expire_tokens(self, request: Request) -> Response:
        expired = len(self.tokens)
        self.tokens.clear()
        return JSONResponse({"expired": expired})

    async def versions(self, request: Request) -> Response:
        return JSONResponse(
            [
                {"label": label, "url": f"/services/data/{v}", "version": v[1:]}
                for v, label in VERSIONS.items()
            ]
        )

    # -- one record -----------------------------------------------------------------------------

    async def read_one(self, request: Request, sotype: SObjectType) -> Response:
        record = self._record_at(request, sotype)
        specs = self._fields(sotype, _split(request.query_params.get("fields")))
        return JSONResponse(_render(sotype, record, specs, _version(request)))

    async def update_one(self, request: Request, sotype: SObjectType) -> Response:
        record = self._record_at(request, sotype)
        values = self.store.check_update(sotype, _object(await _json_body(request), sotype))
        if isinstance(values, SaveError):
            raise _save_error(values)
        self.store.update(sotype, record, values)
        return Response(status_code=204)

    async def create_one(self, request: Request, sotype: SObjectType) -> Response:
        values = self.store.check_create(sotype, _object(await _json_body(request), sotype))
        if isinstance(values, SaveError):
            raise _save_error(values)
        record = self.store.insert(sotype, values)
        return JSONResponse({"id": record["Id"], "success": True, "errors": []}, 201)

    def _record_at(self, request: Request, sotype: SObjectType) -> Record:
        raw = request.path_params["id"]
        record_id = normalize_id(raw)
        if record_id is None:
            # Anything that is not an id is read as an external id, which these objects lack.
            raise ApiError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {raw}",
            )
        record = self.store.get(sotype.name, record_id)
        if record is None:
            raise ApiError(404, "NOT_FOUND", _NO_SUCH_RESOURCE)
        return record

    def _fields(self, sotype: SObjectType, names: list[str] | None) -> list[FieldSpec]:
        if not names:
            return list(sotype.fields)
        specs: dict[str, FieldSpec] = {}
        for name in names:
            spec = sotype.field(name)
            if spec is None:
                raise ApiError(400, "INVALID_FIELD", no_such_column(name, sotype.name))
            specs[spec.name] = spec
        id_spec = sotype.field("Id")
        assert id_spec is not None
        specs.setdefault("Id", id_spec)
        return list(specs.values())

    # -- collections ----------------------------------------------------------------------------

    async def read_many_by_url(self, request: Request, sotype: SObjectType) -> Response:
        ids = _split(request.query_params.get("ids"))
        fields = _split(request.query_params.get("fields"))
        return self._read_many(request, sotype, ids, fields)

    async def read_many_by_body(self, request: Request, sotype: SObjectType) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise _deserialize_error(body, "SObjectCollectionRetrieveRequest")
        ids, fields = body.get("ids"), body.get("fields")
        for value in (ids, fields):
            if value is not None and not _strings(value):
                raise _deserialize_error(value, "java.util.List<String>")
        return self._read_many(request, sotype, ids, fields)

    def _read_many(
        self,
        request: Request,
        sotype: SObjectType,
        ids: list[str] | None,
        fields: list[str] | None,
    ) -> Response:
        for name, value in (("ids", ids), ("fields", fields)):
            if not value:
                raise ApiError(400, "MISSING_ARGUMENT", f"The '{name}' parameter is required.")
        assert ids is not None
        if len(ids) > MAX_RETRIEVE_IDS:
            raise ApiError(
                400,
                "EXCEEDED_ID_LIMIT",
                f"record limit reached. cannot submit more than {MAX_RETRIEVE_IDS} records into "
                "this call",
            )
        specs = self._fields(sotype, fields)
        version = _version(request)
        out: list[dict[str, Any] | None] = []
        for raw in ids:
            record_id = normalize_id(raw)
            record = self.store.get(sotype.name, record_id) if record_id else None
            out.append(None if record is None else _render(sotype, record, specs, version))
        return JSONResponse(out)

    async def create_many(self, request: Request) -> Response:
        all_or_none, items = _save_request(await _json_body(request), self.org)
        if all_or_none:
            checked = [self.store.check_create(t, body) for t, body in items]
            if any(isinstance(c, SaveError) for c in checked):
                return JSONResponse(
                    [_failed(c) if isinstance(c, SaveError) else _rolled_back() for c in checked]
                )
            valid = [c for c in checked if not isinstance(c, SaveError)]
            records = [self.store.insert(t, v) for (t, _), v in zip(items, valid, strict=True)]
            return JSONResponse([_saved(r["Id"]) for r in records])
        results: list[dict[str, Any]] = []
        for sotype, body in items:  # one by one: a record may refer to one created before it
            values = self.store.check_create(sotype, body)
            if isinstance(values, SaveError):
                results.append(_failed(values))
            else:
                results.append(_saved(self.store.insert(sotype, values)["Id"]))
        return JSONResponse(results)

    async def update_many(self, request: Request) -> Response:
        all_or_none, items = _save_request(await _json_body(request), self.org)
        checked = [self._check_update(sotype, body) for sotype, body in items]
        failed = any(isinstance(c, SaveError) for c in checked)
        results: list[dict[str, Any]] = []
        for (sotype, _), outcome in zip(items, checked, strict=True):
            if isinstance(outcome, SaveError):
                results.append(_failed(outcome))
            elif all_or_none and failed:
                results.append({"id": outcome[0]["Id"], **_rolled_back()})
            else:
                record, values = outcome
                self.store.update(sotype, record, values)
                results.append(_saved(record["Id"]))
        return JSONResponse(results)

    def _check_update(
        self, sotype: SObjectType, body: dict[str, Any]
    ) -> tuple[Record, Record] | SaveError:
        raw = next((v for k, v in body.items() if k.lower() == "id"), None)
        if raw is None:
            return SaveError("MISSING_ARGUMENT", "Id not specified in an update call")
        record_id = normalize_id(raw) if isinstance(raw, str) else None
        if record_id is None or not record_id.startswith(sotype.key_prefix):
            return SaveError(
                "MALFORMED_ID", f"{sotype.name} ID: id value of incorrect type: {raw}", ("Id",)
            )
        record = self.store.get(sotype.name, record_id)
        if record is None:
            return SaveError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ("Id",))
        values = self.store.check_update(sotype, body)
        return values if isinstance(values, SaveError) else (record, values)

    # -- SOQL -----------------------------------------------------------------------------------

    async def query(self, request: Request) -> Response:
        text = request.query_params.get("q", "")
        if not text.strip():
            raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
        try:
            query = parse(text, self.org.schema)
        except SoqlError as error:
            raise ApiError(400, error.code, error.message) from None
        rows = query.execute(self.store)
        if query.is_count:
            return JSONResponse({"totalSize": len(rows), "done": True, "records": []})
        cursor = Cursor(query, [r["Id"] for r in rows], _batch_size(request))
        locator = None
        if len(rows) > cursor.batch_size:
            locator = make_id("01g", next(self.locators))
            self.cursors[locator] = cursor
            while len(self.cursors) > MAX_OPEN_CURSORS:
                self.cursors.popitem(last=False)
        return self._page(request, cursor, locator, 0)

    async def query_more(self, request: Request) -> Response:
        locator, _, offset = request.path_params["queryLocator"].rpartition("-")
        cursor = self.cursors.get(locator)
        if cursor is None or not offset.isdigit() or int(offset) >= len(cursor.ids):
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        self.cursors.move_to_end(locator)
        return self._page(request, cursor, locator, int(offset))

    def _page(self, request: Request, cursor: Cursor, locator: str | None, start: int) -> Response:
        version = _version(request)
        end = start + cursor.batch_size
        name = cursor.query.sobject.name
        records = []
        for record_id in cursor.ids[start:end]:
            record = self.store.get(name, record_id)
            if record is not None:
                records.append(cursor.query.render(record, self.store, version))
        body: dict[str, Any] = {"totalSize": len(cursor.ids), "done": end >= len(cursor.ids)}
        if not body["done"]:
            body["nextRecordsUrl"] = f"/services/data/{version}/query/{locator}-{end}"
        body["records"] = records
        return JSONResponse(body)

    # -- composite ------------------------------------------------------------------------------

    async def composite(self, request: Request) -> Response:
        """Run the subrequests in order through this app, one API call for them all; with
        ``allOrNone`` the first failure takes back every write and halts the rest."""
        all_or_none, subrequests = _composite_request(await _json_body(request))
        answers: list[dict[str, Any]] = []
        bodies: dict[str, Any] = {}  # referenceId → body of a subrequest that succeeded
        with self.store.journal() as journal:
            for sub in subrequests:
                answers.append(await self._subrequest(request, sub, bodies))
                if all_or_none and answers[-1]["httpStatusCode"] >= 400:
                    break
        if all_or_none and answers and answers[-1]["httpStatusCode"] >= 400:
            self.store.undo(journal)
            failed = answers[-1]
            answers = [
                failed if sub["referenceId"] == failed["referenceId"] else _halted(sub, _ROLLED)
                for sub in subrequests
            ]
        return JSONResponse({"compositeResponse": answers})

    async def _subrequest(
        self, request: Request, sub: dict[str, Any], bodies: dict[str, Any]
    ) -> dict[str, Any]:
        try:
            url = str(_resolve(sub["url"], bodies))
            body = _resolve(sub.get("body"), bodies)
        except LookupError as missing:
            return _halted(sub, str(missing))
        status, payload = await self._dispatch(request, sub, url, body)
        headers: dict[str, str] = {}
        if status == 201 and isinstance(payload, dict) and "id" in payload:
            headers["Location"] = f"{urlsplit(url).path.rstrip('/')}/{payload['id']}"
        if status < 300:
            bodies[sub["referenceId"]] = payload
        return {
            "body": payload,
            "httpHeaders": headers,
            "httpStatusCode": status,
            "referenceId": sub["referenceId"],
        }

    async def _dispatch(
        self, request: Request, sub: dict[str, Any], url: str, body: Any
    ) -> tuple[int, Any]:
        """Serve one subrequest with this app, as the caller (same token, same instance)."""
        parts = urlsplit(url)
        root = request.scope.get("root_path", "")
        raw = b"" if body is None else json.dumps(body).encode()
        headers = [
            (b"authorization", request.headers.get("authorization", "").encode("latin-1")),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(raw)).encode()),
        ]
        headers += [(k.lower().encode(), str(v).encode()) for k, v in sub["httpHeaders"].items()]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": sub["method"],
            "scheme": request.url.scheme,
            "server": request.scope.get("server"),
            "client": request.scope.get("client"),
            "root_path": root,
            "path": root + unquote(parts.path),
            "raw_path": (root + parts.path).encode(),
            "query_string": parts.query.encode(),
            "headers": headers,
        }
        delivered = False
        status, chunks = 500, []

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                return {"type": "http.disconnect"}
            delivered = True
            return {"type": "http.request", "body": raw, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        data = b"".join(chunks)
        return status, json.loads(data) if data else None

    # -- errors outside any handler ---------------------------------------------------------------

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            message = f"HTTP Method '{request.method}' not allowed. Allowed are {allowed}"
            return JSONResponse(
                error_array("METHOD_NOT_ALLOWED", message), 405, headers=exc.headers
            )
        if exc.status_code == 404:
            return JSONResponse(error_array("NOT_FOUND", _NO_SUCH_RESOURCE), 404)
        return JSONResponse(error_array("UNKNOWN_EXCEPTION", str(exc.detail)), exc.status_code)


def create_app(world: World) -> SimulatorControl:
    """The simulator for ``world``, wrapped in the control middleware."""
    simulator = SalesforceSimulator(world)
    return SimulatorControl(
        size_limited(simulator.app, MAX_HEAD_BYTES, MAX_HEAD_BYTES),
        simulator.app.routes,
        SalesforceDialect(),
        NOMINAL,
        seed=world.seed,
        reseed=simulator.reset,
    )


#: The most a request's URI and headers may take together: "In each REST call, the maximum
#: length for the combined URI and headers is 16,384 bytes" (Salesforce Help 000386264).
MAX_HEAD_BYTES = 16_384


# -- helpers ------------------------------------------------------------------------------------


def _version(request: Request) -> str:
    version: str = request.path_params["version"]
    return version


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _render(
    sotype: SObjectType, record: Record, specs: list[FieldSpec], version: str
) -> dict[str, Any]:
    out: dict[str, Any] = {"attributes": attributes(sotype.name, record["Id"], version)}
    for spec in specs:
        out[spec.name] = wire_value(record.get(spec.name, spec.default))
    return out


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise ApiError(
            400, "JSON_PARSER_ERROR", "No content to map due to end-of-input at [line:1, column:0]"
        )
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise ApiError(400, "JSON_PARSER_ERROR", "Invalid UTF-8 start byte") from None
    except RecursionError:
        raise ApiError(400, "JSON_PARSER_ERROR", "Maximum nesting depth exceeded") from None
    except json.JSONDecodeError as exc:
        where = f"at [line:{exc.lineno}, column:{exc.colno}]"
        if exc.pos >= len(exc.doc):
            message = f"Unexpected end-of-input {where}"
        else:
            ch = exc.doc[exc.pos]
            message = (
                f"Unexpected character ('{ch}' (code {ord(ch)})): expected a valid value "
                f"(JSON String, Number, Array, Object or token 'null', 'true' or 'false') {where}"
            )
        raise ApiError(400, "JSON_PARSER_ERROR", message) from None


def _deserialize_error(value: Any, target: str) -> ApiError:
    token = "VALUE_NUMBER_INT"
    if isinstance(value, dict):
        token = "START_OBJECT"
    elif isinstance(value, list):
        token = "START_ARRAY"
    elif isinstance(value, str):
        token = "VALUE_STRING"
    return ApiError(
        400, "JSON_PARSER_ERROR", f"Cannot deserialize instance of {target} from {token} value"
    )


def _object(body: Any, sotype: SObjectType) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _deserialize_error(body, sotype.name)
    return body


def _save_request(body: Any, org: Org) -> tuple[bool, list[tuple[SObjectType, dict[str, Any]]]]:
    """``allOrNone`` and each record with its type, from a collections create/update body."""
    if not isinstance(body, dict):
        raise _deserialize_error(body, "SObjectCollectionRequest")
    records = body.get("records")
    all_or_none = body.get("allOrNone", False)
    if not isinstance(all_or_none, bool):
        raise _deserialize_error(all_or_none, "boolean")
    if records is None:
        raise ApiError(400, "MISSING_ARGUMENT", "The 'records' parameter is required.")
    if not isinstance(records, list):
        raise _deserialize_error(records, "java.util.List<SObject>")
    if len(records) > MAX_SAVE_RECORDS:
        raise ApiError(
            400,
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {MAX_SAVE_RECORDS} records into this "
            "call",
        )
    items: list[tuple[SObjectType, dict[str, Any]]] = []
    for record in records:
        if not isinstance(record, dict):
            raise _deserialize_error(record, "SObject")
        attrs = record.get("attributes")
        type_name = attrs.get("type") if isinstance(attrs, dict) else None
        if not isinstance(type_name, str):
            raise ApiError(400, "INVALID_TYPE", "Must send a concrete entity type.")
        sotype = org.sobject(type_name)
        if sotype is None or sotype.name not in SOBJECTS:
            raise ApiError(400, "INVALID_TYPE", f"sObject type '{type_name}' is not supported.")
        items.append((sotype, record))
    return all_or_none, items


def _composite_request(body: Any) -> tuple[bool, list[dict[str, Any]]]:
    """``allOrNone`` and the checked subrequests of a composite body."""
    if not isinstance(body, dict):
        raise _deserialize_error(body, "CompositeRequest")
    all_or_none = body.get("allOrNone", False)
    subrequests = body.get("compositeRequest")
    if not isinstance(all_or_none, bool):
        raise _deserialize_error(all_or_none, "boolean")
    if subrequests is None:
        raise ApiError(400, "MISSING_ARGUMENT", "The 'compositeRequest' parameter is required.")
    if not isinstance(subrequests, list) or not subrequests:
        raise _deserialize_error(subrequests, "java.util.List<CompositeSubrequest>")
    if len(subrequests) > MAX_SUBREQUESTS:
        raise ApiError(
            400,
            "INVALID_INPUT",
            f"Composite request can contain up to {MAX_SUBREQUESTS} subrequests.",
        )
    checked: list[dict[str, Any]] = []
    seen: set[str] = set()
    for sub in subrequests:
        if not isinstance(sub, dict):
            raise _deserialize_error(sub, "CompositeSubrequest")
        method, url, ref = sub.get("method"), sub.get("url"), sub.get("referenceId")
        headers = sub.get("httpHeaders", {})
        if not (isinstance(method, str) and isinstance(url, str) and isinstance(ref, str)):
            raise ApiError(
                400, "INVALID_INPUT", "Each subrequest needs a method, a url and a referenceId."
            )
        if not _REFERENCE_ID.fullmatch(ref):
            raise ApiError(400, "INVALID_INPUT", f"Invalid referenceId: {ref}")
        if ref in seen:
            raise ApiError(400, "INVALID_INPUT", f"Duplicate referenceId provided: {ref}")
        if not isinstance(headers, dict):
            raise _deserialize_error(headers, "java.util.Map<String,String>")
        seen.add(ref)
        checked.append({**sub, "method": method.upper(), "httpHeaders": headers})
    return all_or_none, checked


def _resolve(value: Any, bodies: dict[str, Any]) -> Any:
    """``value`` with each ``@{referenceId.path}`` replaced by what it names in an earlier
    subrequest's answer; :class:`LookupError` when it names nothing."""
    if isinstance(value, dict):
        return {k: _resolve(v, bodies) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, bodies) for v in value]
    if not isinstance(value, str) or "@{" not in value:
        return value
    whole = _REFERENCE.fullmatch(value)
    if whole is not None:
        return _lookup(whole, bodies)
    return _REFERENCE.sub(lambda m: str(_lookup(m, bodies)), value)


def _lookup(match: re.Match[str], bodies: dict[str, Any]) -> Any:
    ref, path = match.group(1), match.group(2)
    current: Any = bodies.get(ref)
    steps = re.findall(r"\.(\w+)|\[(\d+)\]", path)
    found = ref in bodies
    for name, index in steps:
        if not found:
            break
        if name and isinstance(current, dict) and name in current:
            current = current[name]
        elif index and isinstance(current, list) and int(index) < len(current):
            current = current[int(index)]
        else:
            found = False
    if not found:
        raise LookupError(
            f"Invalid reference specified. No value for {ref}{path} found in {ref}. Provided "
            f"referenceId ({ref}) must match a referenceId of a successful earlier subrequest."
        )
    return current


def _halted(sub: dict[str, Any], message: str) -> dict[str, Any]:
    return {
        "body": error_array("PROCESSING_HALTED", message),
        "httpHeaders": {},
        "httpStatusCode": 400,
        "referenceId": sub["referenceId"],
    }


def _batch_size(request: Request) -> int:
    least, most = BATCH_SIZES
    match = _BATCH_SIZE.search(request.headers.get("sforce-query-options", ""))
    return most if match is None else max(least, min(most, int(match.group(1))))


def _save_error(error: SaveError) -> ApiError:
    return ApiError(400, error.status_code, error.message, list(error.fields) or None)


def _saved(record_id: str) -> dict[str, Any]:
    return {"id": record_id, "success": True, "errors": []}


def _failed(error: SaveError) -> dict[str, Any]:
    return {"success": False, "errors": [error.as_result_error()]}


def _rolled_back() -> dict[str, Any]:
    return _failed(
        SaveError(
            "ALL_OR_NONE_OPERATION_ROLLED_BACK",
            "Record rolled back because not all records were valid and the request was using "
            "AllOrNone header",
        )
    )


def _oauth_error(error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, 400)


def _basic_credentials(encoded: str) -> str:
    try:
        return base64.b64decode(encoded, validate=True).decode()
    except ValueError:
        return ""
