"""HubSpot's CRM objects API (v3) and associations API (v4) over HTTP.

Routes are HubSpot's documented templates, one literal set per object type
(``/crm/v3/objects/contacts/{contactId}``, ``/crm/v3/objects/companies/batch/read``, ...), so
the control layer counts requests the way HubSpot's own docs name them. Every route needs
``Authorization: Bearer <HUBSPOT_TOKEN>``.

Where the live API and the OpenAPI files disagree, the files win for shapes (a property with no
value is left out rather than sent as ``null``; association labels likewise) and the live API
wins for leniency (``associations`` of a create and ``sorts``/``after``/``properties`` of a
search are optional; a sort may be ``{"propertyName", "direction"}`` or a bare name).
"""

from __future__ import annotations

import bisect
import hmac
from collections.abc import Iterable, Sequence
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.simulators.control import ASGIApp, Receive, Scope, Send, SimulatorControl
from app.simulators.credentials import HUBSPOT_TOKEN
from app.simulators.hubspot.dialect import (
    AUTH_MESSAGE,
    NOMINAL,
    HubSpotDialect,
    batch_error,
    error_body,
    invalid_properties_body,
)
from app.simulators.hubspot.events import SCHEME, ContactEvents
from app.simulators.hubspot.properties import property_routes
from app.simulators.hubspot.store import (
    ASSOCIATION_TYPES,
    DEFAULT_TYPE,
    SCHEMAS,
    Condition,
    DuplicateRecord,
    HubSpotStore,
    InvalidAssociation,
    InvalidProperties,
    InvalidSearch,
    Link,
    ObjectSchema,
    Record,
    now_iso,
    resolve_type,
)
from app.simulators.responses import JSONResponse, dumps
from app.simulators.webhooks import WebhookSender
from app.simulators.world import World

MAX_BATCH_INPUTS = 100
MAX_LIST_LIMIT = 100
DEFAULT_LIST_LIMIT = 10
MAX_SEARCH_LIMIT = 200
DEFAULT_SEARCH_LIMIT = 10
SEARCH_RESULT_CAP = 10_000
MAX_FILTER_GROUPS = 5
MAX_FILTERS_PER_GROUP = 10
MAX_FILTERS = 25
MAX_ASSOCIATION_BATCH = 1_000
ASSOCIATION_PAGE = 500
MAX_VIEWS = 8  # rendered selections kept per record
ID_PARAMS = {"contacts": "contactId", "companies": "companyId", "tickets": "ticketId"}

M = TypeVar("M", bound=BaseModel)
PropertyValue = str | int | float | bool | None


class ApiError(Exception):
    """An answer in HubSpot's error shape, raised from anywhere in a handler."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.status, self.body = status, body


def bad_request(message: str, **extra: Any) -> ApiError:
    return ApiError(400, error_body("VALIDATION_ERROR", message, **extra))


def not_found(key: str) -> ApiError:
    message = (
        "resource not found"
        if key.isdigit()
        else "Object not found.  objectId are usually numeric."
    )
    return ApiError(404, error_body("OBJECT_NOT_FOUND", message, context={"id": [key]}))


# -- request bodies -------------------------------------------------------------------------------


class _Body(BaseModel):
    # HubSpot's JSON reader ignores unknown fields and reads 17 where it wants "17".
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class ObjectId(_Body):
    id: str


class AssociationSpec(_Body):
    associationCategory: str = "HUBSPOT_DEFINED"
    associationTypeId: int


class AssociationInput(_Body):
    to: ObjectId
    types: list[AssociationSpec]


class ObjectInput(_Body):
    properties: dict[str, PropertyValue]
    associations: list[AssociationInput] = []


class BatchReadBody(_Body):
    inputs: list[ObjectId]
    properties: list[str] | None = None
    propertiesWithHistory: list[str] | None = None  # accepted; histories are not kept
    idProperty: str | None = None


class BatchCreateBody(_Body):
    inputs: list[ObjectInput]


class UpdateBody(_Body):
    properties: dict[str, PropertyValue]


class BatchUpdateInput(UpdateBody):
    id: str
    idProperty: str | None = None


class BatchUpdateBody(_Body):
    inputs: list[BatchUpdateInput]


Operator = Literal[
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
]


class Filter(_Body):
    propertyName: str
    operator: Operator
    value: str | None = None
    highValue: str | None = None
    values: list[str] = []


class FilterGroup(_Body):
    filters: list[Filter]


class Sort(_Body):
    propertyName: str
    direction: Literal["ASCENDING", "DESCENDING"] = "ASCENDING"


class SearchBody(_Body):
    filterGroups: list[FilterGroup] | None = None
    sorts: list[Sort | str] | None = None
    properties: list[str] | None = None
    limit: int = DEFAULT_SEARCH_LIMIT
    after: str | None = None
    query: str | None = None


class AssociationReadInput(_Body):
    id: str
    after: str | None = None


class AssociationBatchReadBody(_Body):
    inputs: list[AssociationReadInput]


async def parse_body(request: Request, model: type[M]) -> M:
    raw = await request.body()
    try:
        return model.model_validate_json(raw or b"")
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        if error["type"] == "json_invalid":
            detail = error.get("ctx", {}).get("error", error["msg"])
            raise bad_request(f"Invalid input JSON: {detail}") from exc
        where = ".".join(str(p) for p in error["loc"])
        raise bad_request(f"Invalid input JSON: {where}: {error['msg']}") from exc


# -- query parameters -----------------------------------------------------------------------------


def list_param(request: Request, name: str) -> list[str]:
    """A list parameter sent repeated (``?p=a&p=b``) or comma-separated (``?p=a,b``)."""
    return [
        part.strip()
        for value in request.query_params.getlist(name)
        for part in value.split(",")
        if part.strip()
    ]


def bool_param(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "false").lower()
    if raw not in ("true", "false"):
        raise bad_request(f"Invalid value for query parameter {name}: {raw}")
    return raw == "true"


def int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise bad_request(f"Invalid value for query parameter {name}: {raw}") from None


def cursor(raw: str | None, name: str = "after") -> int:
    if raw is None or raw == "":
        return 0
    if not raw.isdigit():
        raise bad_request(f"Invalid value for {name}: {raw}. It must be a paging cursor.")
    return int(raw)


def next_page(request: Request, after: int) -> dict[str, Any]:
    link = str(request.url.include_query_params(after=str(after)))
    return {"next": {"after": str(after), "link": link}}


# -- rendering ------------------------------------------------------------------------------------


def selection(schema: ObjectSchema, requested: Sequence[str] | None) -> tuple[str, ...]:
    """The properties a read returns: the defaults, or what it named plus the always-there ones."""
    if not requested:
        return schema.defaults
    return tuple(dict.fromkeys((*requested, *schema.always)))


def render(record: Record, names: Iterable[str]) -> dict[str, Any]:
    values = record.properties
    return {
        "id": str(record.id),
        "properties": {n: values[n] for n in names if n in values},
        "createdAt": record.created_at,
        "updatedAt": record.updated_at,
        "archived": record.archived,
    }


def encode(value: Any) -> bytes:
    return dumps(value)


def render_bytes(record: Record, names: tuple[str, ...]) -> bytes:
    """``render`` as JSON, kept on the record until it is written (batch reads repeat a lot)."""
    view = record.views.get(names)
    if view is None:
        if len(record.views) >= MAX_VIEWS:
            record.views.clear()
        view = record.views[names] = encode(render(record, names))
    return view


def json_with_results(
    body: dict[str, Any], results: Sequence[bytes], status: int = 200
) -> Response:
    """``body`` as JSON, with a ``results`` array spliced in from already-encoded items."""
    rest = encode({"results": 0, **body})[len(b'{"results":0') :]
    content = b'{"results":[' + b",".join(results) + b"]" + rest
    return Response(content, status_code=status, media_type="application/json")


def batch_answer(results: Sequence[bytes], started: str, errors: list[dict[str, Any]]) -> Response:
    body: dict[str, Any] = {"status": "COMPLETE", "startedAt": started, "completedAt": now_iso()}
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
    return json_with_results(body, results, 207 if errors else 200)


def association_types(type_ids: Iterable[int]) -> list[dict[str, Any]]:
    specs = []
    for type_id in type_ids:
        spec: dict[str, Any] = {"category": "HUBSPOT_DEFINED", "typeId": type_id}
        label = ASSOCIATION_TYPES[type_id].label
        if label is not None:
            spec["label"] = label
        specs.append(spec)
    return specs


def check_batch_size(count: int, limit: int = MAX_BATCH_INPUTS) -> None:
    if count > limit:
        raise bad_request(
            f"Too many inputs: {count}. A batch request accepts at most {limit} inputs.",
            context={"inputs": [str(count)]},
        )


# -- CRM objects (v3) -----------------------------------------------------------------------------


class ObjectEndpoints:
    """The v3 routes of one object type."""

    def __init__(
        self, store: HubSpotStore, schema: ObjectSchema, events: ContactEvents | None = None
    ) -> None:
        self.store, self.name = store, schema.name
        self.id_param = ID_PARAMS[schema.name]
        self.events = events  # None: this object type sends no webhooks

    @property
    def schema(self) -> ObjectSchema:
        """The type as the account has it now (with the custom properties made so far)."""
        return self.store.schemas[self.name]

    def routes(self) -> list[BaseRoute]:
        base = f"/crm/v3/objects/{self.schema.name}"
        return [
            Route(base, self.list_page, methods=["GET"]),
            Route(base, self.create, methods=["POST"]),
            Route(f"{base}/batch/read", self.batch_read, methods=["POST"]),
            Route(f"{base}/batch/create", self.batch_create, methods=["POST"]),
            Route(f"{base}/batch/update", self.batch_update, methods=["POST"]),
            Route(f"{base}/search", self.search, methods=["POST"]),
            Route(f"{base}/{{{self.id_param}}}", self.get_one, methods=["GET"]),
            Route(f"{base}/{{{self.id_param}}}", self.update, methods=["PATCH"]),
        ]

    # -- helpers ----------------------------------------------------------------------------------

    def check_id_property(self, name: str | None) -> str | None:
        if not name or name == "hs_object_id" or name in self.schema.unique:
            return name
        if name in self.schema.properties:
            raise bad_request(f"{name} is not a unique identifier property of {self.schema.name}")
        raise bad_request(f'Property "{name}" does not exist')

    def associated(self, record: Record, targets: Sequence[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name in targets:
            target = resolve_type(name)
            if target is None:
                continue  # HubSpot ignores association types it does not know
            results = [
                {"id": str(to_id), "type": ASSOCIATION_TYPES[t].v3_name}
                for to_id, types in self.store.links(self.schema.name, record.id, target.name)
                for t in types
            ]
            if results:
                found[target.name] = {"results": results}
        return found

    def with_associations(
        self, record: Record, names: Sequence[str], targets: Sequence[str]
    ) -> dict[str, Any]:
        body = render(record, names)
        if targets and (found := self.associated(record, targets)):
            body["associations"] = found
        return body

    def validated_create(self, raw: ObjectInput) -> tuple[dict[str, str | None], list[Link]]:
        try:
            clean = self.store.check_create(self.schema, raw.properties)
            links = [
                link
                for a in raw.associations
                for link in self.store.check_association(
                    self.schema, a.to.id, (t.associationTypeId for t in a.types)
                )
            ]
        except InvalidProperties as exc:
            raise ApiError(400, invalid_properties_body(exc.problems)) from exc
        except DuplicateRecord as exc:
            raise self.conflict(exc.existing_id) from exc
        except InvalidAssociation as exc:
            raise bad_request(str(exc)) from exc
        return clean, links

    def conflict(self, existing_id: int) -> ApiError:
        message = f"{self.schema.singular.capitalize()} already exists. Existing ID: {existing_id}"
        return ApiError(409, error_body("CONFLICT", message))

    def created(self, clean: dict[str, str | None], links: list[Link]) -> Record:
        record = self.store.create(self.schema, clean)
        for target, target_id, type_id in links:
            self.store.link(self.schema.name, record.id, target, target_id, type_id)
        return record

    def updated(self, writes: Sequence[tuple[Record, dict[str, str | None]]]) -> None:
        """Apply each record's clean properties, and announce what changed."""
        before = [(record, dict(record.properties)) for record, _ in writes]
        for record, clean in writes:
            self.store.update(self.schema, record, clean)
        if self.events is not None:
            self.events.changed(before)

    def written(self, record: Record, raw: dict[str, PropertyValue]) -> dict[str, str | None]:
        try:
            return self.store.check_update(self.schema, record, raw)
        except InvalidProperties as exc:
            raise ApiError(400, invalid_properties_body(exc.problems)) from exc
        except DuplicateRecord as exc:
            raise self.conflict(exc.existing_id) from exc

    # -- routes -----------------------------------------------------------------------------------

    async def get_one(self, request: Request) -> Response:
        key = request.path_params[self.id_param]
        id_property = self.check_id_property(request.query_params.get("idProperty"))
        names = selection(self.schema, list_param(request, "properties"))
        archived = bool_param(request, "archived")
        record = self.store.get(self.schema, key, id_property, archived)
        if record is None:
            raise not_found(key)
        return JSONResponse(
            self.with_associations(record, names, list_param(request, "associations"))
        )

    async def list_page(self, request: Request) -> Response:
        limit = int_param(request, "limit", DEFAULT_LIST_LIMIT)
        if limit < 1:
            raise bad_request(f"limit must be a positive number, not {limit}")
        after = cursor(request.query_params.get("after"))
        names = selection(self.schema, list_param(request, "properties"))
        targets = list_param(request, "associations")
        records, next_after = self.store.page(
            self.schema, after, min(limit, MAX_LIST_LIMIT), bool_param(request, "archived")
        )
        results = [
            encode(self.with_associations(r, names, targets)) if targets else render_bytes(r, names)
            for r in records
        ]
        body: dict[str, Any] = {}
        if next_after is not None:
            body["paging"] = next_page(request, next_after)
        return json_with_results(body, results)

    async def create(self, request: Request) -> Response:
        clean, links = self.validated_create(await parse_body(request, ObjectInput))
        record = self.created(clean, links)
        if self.events is not None:
            self.events.created([record])
        return JSONResponse(render(record, (*self.schema.defaults, *clean)), status_code=201)

    async def update(self, request: Request) -> Response:
        key = request.path_params[self.id_param]
        id_property = self.check_id_property(request.query_params.get("idProperty"))
        record = self.store.get(self.schema, key, id_property)
        if record is None:
            raise not_found(key)
        body = await parse_body(request, UpdateBody)
        clean = self.written(record, body.properties)
        self.updated([(record, clean)])
        return JSONResponse(render(record, (*self.schema.defaults, *clean)))

    async def batch_read(self, request: Request) -> Response:
        started = now_iso()
        body = await parse_body(request, BatchReadBody)
        check_batch_size(len(body.inputs))
        id_property = self.check_id_property(body.idProperty)
        archived = bool_param(request, "archived")
        names = selection(self.schema, body.properties)
        results, missing, seen = [], [], set()
        for item in body.inputs:
            record = self.store.get(self.schema, item.id, id_property, archived)
            if record is None:
                missing.append(item.id)
            elif record.id not in seen:
                seen.add(record.id)
                results.append(render_bytes(record, names))
        errors = []
        if missing:
            message = (
                f"Could not get some {self.schema.label} objects, they may be deleted or not "
                "exist. Check that ids are valid."
            )
            errors.append(batch_error("OBJECT_NOT_FOUND", message, {"ids": missing}))
        return batch_answer(results, started, errors)

    async def batch_create(self, request: Request) -> Response:
        started = now_iso()
        body = await parse_body(request, BatchCreateBody)
        check_batch_size(len(body.inputs))
        checked = [self.validated_create(item) for item in body.inputs]
        for name in self.schema.unique:
            values = [clean[name] for clean, _ in checked if clean.get(name)]
            duplicates = sorted({v for v in values if values.count(v) > 1 and v is not None})
            if duplicates:
                raise bad_request(f"Duplicate {name} values found in batch input: {duplicates}")
        created = [(self.created(clean, links), clean) for clean, links in checked]
        if self.events is not None:
            self.events.created(record for record, _ in created)
        results = [
            encode(render(record, (*self.schema.defaults, *clean))) for record, clean in created
        ]
        answer = batch_answer(results, started, [])
        answer.status_code = 201
        return answer

    async def batch_update(self, request: Request) -> Response:
        started = now_iso()
        body = await parse_body(request, BatchUpdateBody)
        check_batch_size(len(body.inputs))
        keys = [item.id for item in body.inputs]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise bad_request(
                f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique"
            )
        found, missing = [], []
        for item in body.inputs:
            record = self.store.get(self.schema, item.id, self.check_id_property(item.idProperty))
            if record is None:
                missing.append(item.id)
            else:
                found.append((record, self.written(record, item.properties)))
        self.updated(found)
        results = [
            encode(render(record, (*self.schema.defaults, *clean))) for record, clean in found
        ]
        errors = []
        if missing:
            message = (
                f"Could not get some {self.schema.label} objects, they may be deleted or not "
                "exist. Check that ids are valid."
            )
            errors.append(batch_error("OBJECT_NOT_FOUND", message, {"ids": missing}))
        return batch_answer(results, started, errors)

    async def search(self, request: Request) -> Response:
        body = await parse_body(request, SearchBody)
        if not 1 <= body.limit <= MAX_SEARCH_LIMIT:
            raise bad_request(
                f"limit must be between 1 and {MAX_SEARCH_LIMIT} (inclusive), not {body.limit}"
            )
        offset = cursor(body.after)
        if offset >= SEARCH_RESULT_CAP:
            raise bad_request(
                f"The search API returns at most {SEARCH_RESULT_CAP} results for a query; "
                f"after={offset} pages beyond them. Narrow the query with filters instead."
            )
        records = self.searched(body)
        end = offset + body.limit
        names = selection(self.schema, body.properties)
        answer: dict[str, Any] = {"total": len(records)}
        if end < len(records) and end < SEARCH_RESULT_CAP:
            answer["paging"] = {"next": {"after": str(end)}}
        return json_with_results(answer, [render_bytes(r, names) for r in records[offset:end]])

    def searched(self, body: SearchBody) -> list[Record]:
        filter_groups = body.filterGroups or []
        if len(filter_groups) > MAX_FILTER_GROUPS:
            raise bad_request(f"Too many filter groups; at most {MAX_FILTER_GROUPS} are allowed")
        if any(len(g.filters) > MAX_FILTERS_PER_GROUP for g in filter_groups):
            raise bad_request(f"Too many filters in a group; at most {MAX_FILTERS_PER_GROUP}")
        if sum(len(g.filters) for g in filter_groups) > MAX_FILTERS:
            raise bad_request(f"Too many filters; at most {MAX_FILTERS} in all")
        groups = [
            [
                Condition(f.propertyName, f.operator, f.value, tuple(f.values), f.highValue)
                for f in group.filters
            ]
            for group in filter_groups
        ]
        sorts = [
            (s.lstrip("-"), s.startswith("-"))
            if isinstance(s, str)
            else (s.propertyName, s.direction == "DESCENDING")
            for s in body.sorts or []
        ]
        try:
            return self.store.search(self.schema, groups, sorts, body.query)
        except InvalidSearch as exc:
            raise bad_request(str(exc)) from exc


# -- associations (v4) ----------------------------------------------------------------------------


def object_type(name: str) -> ObjectSchema:
    schema = resolve_type(name)
    if schema is None:
        raise bad_request(f"Unable to infer object type from: {name}")
    return schema


class AssociationEndpoints:
    def __init__(self, store: HubSpotStore) -> None:
        self.store = store

    def routes(self) -> list[BaseRoute]:
        return [
            Route(
                "/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}",
                self.get_page,
                methods=["GET"],
            ),
            Route(
                "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read",
                self.batch_read,
                methods=["POST"],
            ),
            Route(
                "/crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/default/"
                "{toObjectType}/{toObjectId}",
                self.put_default,
                methods=["PUT"],
            ),
        ]

    def page(
        self, source: ObjectSchema, key: str, target: ObjectSchema, after: int, limit: int
    ) -> tuple[list[dict[str, Any]], int | None]:
        links = self.store.links(source.name, int(key), target.name) if key.isdigit() else []
        start = bisect.bisect_left(links, after, key=lambda link: link[0])
        chunk = links[start : start + limit]
        results = [
            {"toObjectId": str(to_id), "associationTypes": association_types(types)}
            for to_id, types in chunk
        ]
        more = start + limit < len(links)
        return results, (chunk[-1][0] + 1 if more else None)

    async def get_page(self, request: Request) -> Response:
        source = object_type(request.path_params["objectType"])
        target = object_type(request.path_params["toObjectType"])
        limit = int_param(request, "limit", ASSOCIATION_PAGE)
        if limit < 1:
            raise bad_request(f"limit must be a positive number, not {limit}")
        after = cursor(request.query_params.get("after"))
        key = request.path_params["objectId"]
        results, next_after = self.page(source, key, target, after, min(limit, ASSOCIATION_PAGE))
        body: dict[str, Any] = {"results": results}
        if next_after is not None:
            body["paging"] = next_page(request, next_after)
        return JSONResponse(body)

    async def batch_read(self, request: Request) -> Response:
        started = now_iso()
        source = object_type(request.path_params["fromObjectType"])
        target = object_type(request.path_params["toObjectType"])
        body = await parse_body(request, AssociationBatchReadBody)
        check_batch_size(len(body.inputs), MAX_ASSOCIATION_BATCH)
        results, errors = [], []
        for item in body.inputs:
            to, next_after = self.page(
                source, item.id, target, cursor(item.after), ASSOCIATION_PAGE
            )
            if not to:
                message = f"No {target.singular} is associated with {source.singular} {item.id}."
                errors.append(batch_error("OBJECT_NOT_FOUND", message, {"fromObjectId": [item.id]}))
                continue
            result: dict[str, Any] = {"from": {"id": item.id}, "to": to}
            if next_after is not None:
                result["paging"] = {"next": {"after": str(next_after)}}
            results.append(encode(result))
        return batch_answer(results, started, errors)

    async def put_default(self, request: Request) -> Response:
        started = now_iso()
        source = object_type(request.path_params["fromObjectType"])
        target = object_type(request.path_params["toObjectType"])
        type_id = DEFAULT_TYPE.get((source.name, target.name))
        if type_id is None:
            raise bad_request(
                f"There is no default association type from {source.singular} to {target.singular}"
            )
        ids = (request.path_params["fromObjectId"], request.path_params["toObjectId"])
        records = [self.store.get(s, key) for s, key in zip((source, target), ids, strict=True)]
        for schema, key, record in zip((source, target), ids, records, strict=True):
            if record is None:
                raise bad_request(f"{schema.label} object with id {key} does not exist")
        from_id, to_id = (int(key) for key in ids)
        self.store.link(source.name, from_id, target.name, to_id, type_id)
        inverse = DEFAULT_TYPE[(target.name, source.name)]
        results = [
            {
                "from": {"id": a},
                "to": {"id": b},
                "associationSpec": {
                    "associationCategory": "HUBSPOT_DEFINED",
                    "associationTypeId": t,
                },
            }
            for a, b, t in ((ids[0], ids[1], type_id), (ids[1], ids[0], inverse))
        ]
        return batch_answer([encode(r) for r in results], started, [])


# -- the app --------------------------------------------------------------------------------------


class BearerAuth:
    """Refuses every vendor route without ``Authorization: Bearer <HUBSPOT_TOKEN>``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")[len(scope.get("root_path", "")) :]
        if scope["type"] == "http" and not path.startswith("/__"):
            scheme, _, token = Headers(scope=scope).get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                token.strip().encode(), HUBSPOT_TOKEN.encode()
            ):
                body = error_body("INVALID_AUTHENTICATION", AUTH_MESSAGE)
                await JSONResponse(body, status_code=401)(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body, status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        body = error_body("VALIDATION_ERROR", f"HTTP {request.method} is not supported by this URL")
    else:
        body = error_body("OBJECT_NOT_FOUND", "resource not found")
    return JSONResponse(body, status_code=exc.status_code)


def build_routes(store: HubSpotStore, events: ContactEvents | None = None) -> list[BaseRoute]:
    routes: list[BaseRoute] = []
    for schema in SCHEMAS.values():
        mine = events if schema.name == "contacts" else None
        routes += ObjectEndpoints(store, schema, mine).routes()
    routes += AssociationEndpoints(store).routes()
    routes += property_routes(object_type, store)
    return routes


def create_app(world: World) -> SimulatorControl:
    """The HubSpot simulator over ``world``, wrapped in the shared control layer."""
    store = HubSpotStore(world)
    webhooks = WebhookSender(SCHEME)
    routes = build_routes(store, ContactEvents(webhooks))
    app = Starlette(
        routes=routes,
        exception_handlers={ApiError: _api_error, 404: _http_error, 405: _http_error},
    )
    return SimulatorControl(
        BearerAuth(app),
        routes,
        HubSpotDialect(),
        NOMINAL,
        seed=world.seed,
        reseed=store.reset,
        webhooks=webhooks,
    )
