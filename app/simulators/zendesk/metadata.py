"""The account's setup, as the Support API lists it: ``GET /api/v2/ticket_fields`` (the system
fields a ticket has, with the status and priority values the account offers, then the custom
fields made with ``POST /api/v2/ticket_fields``; ``GET /api/v2/ticket_fields/{id}`` shows one) and
``GET /api/v2/brands`` (the brands tickets can belong to). Values the live API sends as null
where Zendesk's OpenAPI file says a field is not nullable (``host_mapping``, ``logo``,
``key``) are left out, as the file allows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.simulators.responses import JSONResponse
from app.simulators.world import Brand
from app.simulators.zendesk.store import RecordNotFound, ZendeskStore, iso

CREATED = "2023-01-01T00:00:00Z"
_OPTIONS: dict[str, list[tuple[str, str]]] = {
    # The status field of an account with the On-hold status (sub_type_id 1).
    "status": [("Open", "open"), ("Pending", "pending"), ("On-hold", "hold"), ("Solved", "solved")],
    "priority": [("Low", "low"), ("Normal", "normal"), ("High", "high"), ("Urgent", "urgent")],
    "tickettype": [
        ("Question", "question"),
        ("Incident", "incident"),
        ("Problem", "problem"),
        ("Task", "task"),
    ],
}
#: (id, type, title) of each system field, in their positions.
_SYSTEM_FIELDS = (
    (360000001, "subject", "Subject"),
    (360000002, "description", "Description"),
    (360000003, "status", "Status"),
    (360000004, "tickettype", "Type"),
    (360000005, "priority", "Priority"),
    (360000006, "group", "Group"),
    (360000007, "assignee", "Assignee"),
)


def ticket_field(base: str, position: int, field_id: int, kind: str, title: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "url": f"{base}api/v2/ticket_fields/{field_id}.json",
        "id": field_id,
        "type": kind,
        "title": title,
        "raw_title": title,
        "description": "",
        "raw_description": "",
        "position": position,
        "active": True,
        "required": False,
        "collapsed_for_agents": False,
        "regexp_for_validation": None,
        "title_in_portal": title,
        "raw_title_in_portal": title,
        "visible_in_portal": kind in ("subject", "description"),
        "editable_in_portal": kind in ("subject", "description"),
        "required_in_portal": kind in ("subject", "description"),
        "agent_can_edit": True,
        "tag": None,
        "created_at": CREATED,
        "updated_at": CREATED,
        "removable": False,
    }
    if kind in _OPTIONS:
        body["system_field_options"] = [{"name": n, "value": v} for n, v in _OPTIONS[kind]]
    if kind in ("status", "priority"):
        body["sub_type_id"] = 1 if kind == "status" else 0
    return body


def brand(base: str, item: Brand, default: bool) -> dict[str, Any]:
    return {
        "url": f"{base}api/v2/brands/{item.zendesk_brand_id}.json",
        "id": item.zendesk_brand_id,
        "name": item.name,
        "brand_url": f"https://{item.key}.zendesk.com",
        "subdomain": item.key,
        "has_help_center": False,
        "help_center_state": "disabled",
        "active": True,
        "default": default,
        "is_deleted": False,
        "ticket_form_ids": [],
        "signature_template": "{{agent.signature}}",
        "created_at": CREATED,
        "updated_at": CREATED,
    }


def metadata_routes(
    brands: Sequence[Brand], base_of: Any, store: ZendeskStore, read_body: Any
) -> list[BaseRoute]:
    """The routes; ``base_of`` gives a request's base URL (ending in ``/``), ``read_body`` a
    request's JSON object."""

    def all_fields(base: str) -> list[dict[str, Any]]:
        fields = [
            ticket_field(base, position, field_id, kind, title)
            for position, (field_id, kind, title) in enumerate(_SYSTEM_FIELDS, start=1)
        ]
        start = len(fields) + 1
        for position, made in enumerate(store.ticket_fields.values(), start=start):
            fields.append(made.wire(base, position, iso(made.created_at)))
        return fields

    async def create_ticket_field(request: Request) -> Response:
        body = await read_body(request)
        made = store.add_ticket_field(body.get("ticket_field"))
        base = base_of(request)
        position = len(_SYSTEM_FIELDS) + len(store.ticket_fields)
        wire = made.wire(base, position, iso(made.created_at))
        return JSONResponse({"ticket_field": wire}, status_code=201)

    async def show_ticket_field(request: Request) -> Response:
        raw = str(request.path_params["ticket_field_id"]).removesuffix(".json")
        found = [f for f in all_fields(base_of(request)) if str(f["id"]) == raw]
        if not found:
            raise RecordNotFound(raw)
        return JSONResponse({"ticket_field": found[0]})

    async def ticket_fields(request: Request) -> Response:
        fields = all_fields(base_of(request))
        return JSONResponse(
            {
                "ticket_fields": fields,
                "next_page": None,
                "previous_page": None,
                "count": len(fields),
            }
        )

    async def list_brands(request: Request) -> Response:
        base = base_of(request)
        found = [brand(base, item, index == 0) for index, item in enumerate(brands)]
        return JSONResponse(
            {"brands": found, "next_page": None, "previous_page": None, "count": len(found)}
        )

    return [
        Route("/api/v2/ticket_fields", ticket_fields, methods=["GET"]),
        Route("/api/v2/ticket_fields", create_ticket_field, methods=["POST"]),
        Route("/api/v2/ticket_fields/{ticket_field_id}", show_ticket_field, methods=["GET"]),
        Route("/api/v2/brands", list_brands, methods=["GET"]),
    ]
