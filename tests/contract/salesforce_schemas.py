"""JSON Schemas of the Salesforce REST answers, written from tests/contract/specs/salesforce.md.

Salesforce publishes no OpenAPI file, so these stand in for one: each answer shape the digest
names (and the REST API Developer Guide pages it cites) is pinned here, and
``test_salesforce_contract.py`` validates real loopback exchanges against them with
``jsonschema``. :func:`schema_for` says which schema an exchange must meet.
"""

from __future__ import annotations

import re
from typing import Any

DRAFT = "https://json-schema.org/draft/2020-12/schema"

ID18 = r"^[0-9A-Za-z]{15}[A-Z0-5]{3}$"
DATETIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$"  # 2013-05-20T20:49:32.000+0000
DATE = r"^\d{4}-\d{2}-\d{2}$"  # 2013-05-20
VERSION = r"v\d{2}\.\d"
RECORD_URL = rf"^/services/data/{VERSION}/sobjects/[A-Za-z_]+/[0-9A-Za-z]{{18}}$"
NEXT_RECORDS_URL = rf"^/services/data/{VERSION}/query/01g[0-9A-Za-z]{{15}}-\d+$"

ATTRIBUTES: dict[str, Any] = {
    "type": "object",
    "required": ["type", "url"],
    "additionalProperties": False,
    "properties": {
        "type": {"type": "string", "enum": ["Lead", "Contact", "Account"]},
        "url": {"type": "string", "pattern": RECORD_URL},
    },
}

_ID = {"type": "string", "pattern": ID18}
_REFERENCE = {"type": ["string", "null"], "pattern": ID18}
_DATETIME = {"type": "string", "pattern": DATETIME}
_TEXT = {"type": ["string", "null"]}

#: A record as ``sobjects/{Type}/{Id}``, collections and query rows send it: ``attributes``
#: first, then fields; relationship fields nest a record (or ``null``) under the relationship.
RECORD: dict[str, Any] = {
    "$schema": DRAFT,
    "title": "record",
    "$id": "salesforce:record",
    "type": "object",
    "required": ["attributes"],
    "properties": {
        "attributes": ATTRIBUTES,
        "Id": _ID,
        "Name": _TEXT,
        "FirstName": _TEXT,
        "LastName": {"type": "string", "minLength": 1},
        "Company": {"type": "string", "minLength": 1},
        "Email": _TEXT,
        "Phone": _TEXT,
        "Status": {"type": "string"},
        "LeadSource": _TEXT,
        "IsConverted": {"type": "boolean"},
        "ConvertedAccountId": _REFERENCE,
        "ConvertedContactId": _REFERENCE,
        "ConvertedDate": {"type": ["string", "null"], "pattern": DATE},
        "AccountId": _REFERENCE,
        "CreatedDate": _DATETIME,
        "LastModifiedDate": _DATETIME,
        "SystemModstamp": _DATETIME,
        "Brand__c": _TEXT,
        "Account": {"oneOf": [{"type": "null"}, {"$ref": "salesforce:record"}]},
        "ConvertedAccount": {"oneOf": [{"type": "null"}, {"$ref": "salesforce:record"}]},
        "ConvertedContact": {"oneOf": [{"type": "null"}, {"$ref": "salesforce:record"}]},
    },
    # Any other field is a scalar: sObject JSON has no other nesting than relationships.
    "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
}

#: sObject Collections read: an array in the order asked, ``null`` for an unknown id.
COLLECTION: dict[str, Any] = {
    "$schema": DRAFT,
    "title": "collection",
    "type": "array",
    "items": {"oneOf": [{"type": "null"}, RECORD]},
}

#: A query page; ``nextRecordsUrl`` is there exactly when ``done`` is false.
QUERY_PAGE: dict[str, Any] = {
    "$schema": DRAFT,
    "title": "query_page",
    "type": "object",
    "required": ["totalSize", "done", "records"],
    "additionalProperties": False,
    "properties": {
        "totalSize": {"type": "integer", "minimum": 0},
        "done": {"type": "boolean"},
        "nextRecordsUrl": {"type": "string", "pattern": NEXT_RECORDS_URL},
        "records": {"type": "array", "maxItems": 2000, "items": RECORD},
    },
    "if": {"properties": {"done": {"const": False}}},
    "then": {"required": ["nextRecordsUrl"]},
    "else": {"not": {"required": ["nextRecordsUrl"]}},
}

#: ``POST sobjects/{Type}``: 201 ``{"id", "success": true, "errors": []}``.
CREATE_RESULT: dict[str, Any] = {
    "$schema": DRAFT,
    "title": "create_result",
    "type": "object",
    "required": ["id", "success", "errors"],
    "additionalProperties": False,
    "properties": {
        "id": _ID,
        "success": {"const": True},
        "errors": {"type": "array", "maxItems": 0},
    },
}

SAVE_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["statusCode", "message", "fields"],
    "additionalProperties": False,
    "properties": {
        "statusCode": {"type": "string", "pattern": "^[A-Z_]+$"},
        "message": {"type": "string", "minLength": 1},
        "fields": {"type": "array", "items": {"type": "string"}},
    },
}

#: sObject Collections create/update: one save result per record, in order.
SAVE_RESULTS: dict[str, Any] = {
    "$schema": DRAFT,
    "title": "save_results",
    "type": "array",
    "maxItems": 200,
    "items": {
        "type": "object",
        "required": ["success", "errors"],
        "additionalProperties": False,
        "properties": {
            "id": _ID,
            "success": {"type": "boolean"},
            "errors": {"type": "array", "items": SAVE_ERROR},
        },
        "if": {"properties": {"success": {"const": True}}},
        "then": {"required": ["id"], "properties": {"errors": {"maxItems": 0}}},
        "else": {"properties": {"errors": {"minItems": 1}}},
    },
}

#: Every REST error: a JSON array of ``{message, errorCode[, fields]}``.
ERRORS: dict[str, Any] = {
    "$schema": DRAFT,
    "title": "errors",
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["message", "errorCode"],
        "additionalProperties": False,
        "properties": {
            "message": {"type": "string", "minLength": 1},
            "errorCode": {"type": "string", "pattern": "^[A-Z_]+$"},
            "fields": {"type": "array", "items": {"type": "string"}},
        },
    },
}

#: The OAuth token answer: exactly the digest's fields (no refresh token, no ``expires_in``).
TOKEN: dict[str, Any] = {
    "$schema": DRAFT,
    "title": "token",
    "type": "object",
    "required": ["access_token", "instance_url", "id", "token_type", "issued_at", "signature"],
    "additionalProperties": False,
    "properties": {
        "access_token": {"type": "string", "minLength": 20},
        "instance_url": {"type": "string", "pattern": "^https?://"},
        "id": {
            "type": "string",
            "pattern": "^https?://.+/id/00D[0-9A-Za-z]{15}/005[0-9A-Za-z]{15}$",
        },
        "token_type": {"const": "Bearer"},
        "issued_at": {"type": "string", "pattern": r"^\d{13}$"},
        "signature": {"type": "string", "contentEncoding": "base64", "minLength": 44},
    },
}

#: What the OAuth endpoint answers a refused request (not an error array: OAuth's own shape).
OAUTH_ERROR: dict[str, Any] = {
    "$schema": DRAFT,
    "title": "oauth_error",
    "type": "object",
    "required": ["error", "error_description"],
    "additionalProperties": False,
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}

#: ``GET /services/data``: the versions the instance serves.
VERSIONS: dict[str, Any] = {
    "$schema": DRAFT,
    "title": "versions",
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["label", "url", "version"],
        "additionalProperties": False,
        "properties": {
            "label": {"type": "string"},
            "url": {"type": "string", "pattern": rf"^/services/data/{VERSION}$"},
            "version": {"type": "string", "pattern": r"^\d{2}\.\d$"},
        },
    },
}

#: ``POST composite``: one result per subrequest, in order; each ``body`` is the answer the
#: subrequest's own resource gives (``null`` for a 204), checked against its own schema.
COMPOSITE: dict[str, Any] = {
    "$schema": DRAFT,
    "title": "composite",
    "type": "object",
    "required": ["compositeResponse"],
    "additionalProperties": False,
    "properties": {
        "compositeResponse": {
            "type": "array",
            "minItems": 1,
            "maxItems": 25,
            "items": {
                "type": "object",
                "required": ["body", "httpHeaders", "httpStatusCode", "referenceId"],
                "additionalProperties": False,
                "properties": {
                    "body": True,
                    "httpHeaders": {"type": "object", "additionalProperties": {"type": "string"}},
                    "httpStatusCode": {"type": "integer", "minimum": 200, "maximum": 599},
                    "referenceId": {"type": "string", "pattern": "^[A-Za-z0-9_]+$"},
                },
            },
        }
    },
}

_API = rf"/services/data/{VERSION}"
_TYPE = r"(?:Lead|Contact|Account)"
_SHAPES: list[tuple[str, str, int, dict[str, Any] | None]] = [
    ("POST", r"/services/oauth2/token", 200, TOKEN),
    ("GET", r"/services/data", 200, VERSIONS),
    ("GET", rf"{_API}/sobjects/{_TYPE}/[^/]+", 200, RECORD),
    ("PATCH", rf"{_API}/sobjects/{_TYPE}/[^/]+", 204, None),
    ("POST", rf"{_API}/sobjects/{_TYPE}", 201, CREATE_RESULT),
    ("GET", rf"{_API}/composite/sobjects/{_TYPE}", 200, COLLECTION),
    ("POST", rf"{_API}/composite/sobjects/{_TYPE}", 200, COLLECTION),
    ("POST", rf"{_API}/composite/sobjects", 200, SAVE_RESULTS),
    ("PATCH", rf"{_API}/composite/sobjects", 200, SAVE_RESULTS),
    ("GET", rf"{_API}/query", 200, QUERY_PAGE),
    ("GET", rf"{_API}/query/[^/]+", 200, QUERY_PAGE),
    ("POST", rf"{_API}/composite", 200, COMPOSITE),
]

NO_BODY: dict[str, Any] = {"title": "no_body", "$comment": "a 204: no body at all"}


def schema_for(method: str, path: str, status: int) -> dict[str, Any] | None:
    """The schema the answer to ``method path`` with ``status`` must meet (``NO_BODY`` for a
    204), or ``None`` when the digest names no such exchange.

    ``path`` is the path below the instance URL (``/services/…``).
    """
    if status >= 400:
        return OAUTH_ERROR if path == "/services/oauth2/token" else ERRORS
    for shape_method, pattern, shape_status, schema in _SHAPES:
        if method == shape_method and status == shape_status and re.fullmatch(pattern, path):
            return NO_BODY if schema is None else schema
    return None
