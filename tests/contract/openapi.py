"""Validate real loopback traffic against the vendors' own OpenAPI files in tests/contract/specs.

A :class:`ContractRecorder` is an httpx event hook pair: every request a test sends through the
client, and the answer, is validated by openapi-core against the spec, as if it had gone to the
vendor's own host. The files are vendored unchanged (``specs/SOURCES.md`` says where from); the
relaxations the specs README allows are applied in ``_relax`` and nowhere else.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

#: The vendors' files, vendored unchanged beside this module.
SPECS = Path(__file__).resolve().parent / "specs"


@dataclass(frozen=True)
class SpecTarget:
    """Where a spec's paths live: the vendor host they document, and our simulator prefix."""

    files: tuple[str, ...]
    host_url: str
    prefix: str
    path_prefix: str = ""


HUBSPOT_FILES = (
    "hubspot/contacts-v3.json",
    "hubspot/companies-v3.json",
    "hubspot/tickets-v3.json",
    "hubspot/associations-v4.json",
)
TARGETS = {
    "hubspot": SpecTarget(HUBSPOT_FILES, "https://api.hubapi.com", "/hubspot"),
    "zendesk": SpecTarget(("zendesk/support-oas.yaml",), "https://example.zendesk.com", "/zendesk"),
    "players": SpecTarget(
        ("player-stats.openapi.yaml",), "https://players.example.com", "/players"
    ),
}


def _load(name: str) -> dict[str, Any]:
    text = (SPECS / name).read_text()
    loaded: dict[str, Any] = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
    return loaded


def _drop_required(schema: dict[str, Any], names: set[str]) -> None:
    if "required" in schema:
        schema["required"] = [r for r in schema["required"] if r not in names]
        if not schema["required"]:
            del schema["required"]


def _relax(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Exactly the points where the vendor's file is stricter than its live API (specs README)."""
    schemas = spec.get("components", {}).get("schemas", {})
    if name.startswith("hubspot/"):
        for schema_name, schema in schemas.items():
            if schema_name == "PublicObjectSearchRequest":
                _drop_required(schema, {"after", "properties", "sorts"})
            if schema_name == "BatchReadInputSimplePublicObjectId":
                _drop_required(schema, {"propertiesWithHistory"})
    return spec


@functools.cache
def openapi_for(vendor: str, file: str) -> OpenAPI:
    spec = copy.deepcopy(_relax(file, _load(file)))
    spec["servers"] = [{"url": TARGETS[vendor].host_url + _server_path(spec)}]
    # Zendesk's published file fails strict spec validation on paths we never call.
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


def _server_path(spec: dict[str, Any]) -> str:
    url = str(spec.get("servers", [{"url": ""}])[0]["url"])
    # Keep only the path part of the documented server (player stats lives under /v1).
    without_scheme = url.split("://", 1)[-1]
    return "/" + without_scheme.split("/", 1)[1] if "/" in without_scheme else ""


class OpenAPIRequestAdapter:
    """An httpx request, seen as if sent to the vendor's documented host."""

    def __init__(self, request: httpx.Request, target: SpecTarget, path: str) -> None:
        self._request = request
        self.host_url = target.host_url
        self.path = path
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(request.url.params.multi_items())),
            header=Headers(list(request.headers.items())),
            cookie=ImmutableMultiDict(),
        )

    @property
    def method(self) -> str:
        return self._request.method.lower()

    @property
    def body(self) -> bytes | None:
        return self._request.content or None

    @property
    def content_type(self) -> str:
        return self._request.headers.get("content-type", "").lower()


class OpenAPIResponseAdapter:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def data(self) -> bytes:
        return self._response.content

    @property
    def status_code(self) -> int:
        return self._response.status_code

    @property
    def content_type(self) -> str:
        return self._response.headers.get("content-type", "")

    @property
    def headers(self) -> Headers:
        return Headers(list(self._response.headers.items()))


@dataclass
class ContractRecorder:
    """Validates every exchange of a client against ``vendor``'s spec; collects the failures.

    ``validate_errors`` is False for specs that declare no error responses (Zendesk's), so
    4xx/5xx answers are left to the simulator's own error-shape tests.
    """

    vendor: str
    validate_errors: bool = True
    checked: int = 0
    failures: list[str] = field(default_factory=list)

    def _spec_for(self, path: str) -> OpenAPI:
        target = TARGETS[self.vendor]
        for file in target.files:
            api = openapi_for(self.vendor, file)
            if _documents(file, path):
                return api
        raise AssertionError(f"no {self.vendor} spec documents {path}")

    def _vendor_path(self, request: httpx.Request) -> str:
        target = TARGETS[self.vendor]
        path = request.url.path
        assert path.startswith(target.prefix), path
        return path[len(target.prefix) :]

    async def response_hook(self, response: httpx.Response) -> None:
        await response.aread()
        request = response.request
        path = self._vendor_path(request)
        if path.startswith("/__"):
            return
        api = self._spec_for(path)
        adapted = OpenAPIRequestAdapter(request, TARGETS[self.vendor], path)
        where = f"{request.method} {path}"
        for error in api.iter_request_errors(adapted):
            self.failures.append(f"request {where}: {_describe(error)}")
        if response.status_code < 400 or self.validate_errors:
            for error in api.iter_response_errors(adapted, OpenAPIResponseAdapter(response)):
                self.failures.append(
                    f"response {response.status_code} to {where}: {_describe(error)}"
                )
        self.checked += 1

    def client(self, base_url: str, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=base_url, event_hooks={"response": [self.response_hook]}, **kwargs
        )

    def assert_clean(self) -> None:
        assert self.checked, "no exchange was validated"
        assert not self.failures, "\n".join(self.failures)


def _documents(file: str, path: str) -> bool:
    if "hubspot" not in file:
        return True
    kind = file.split("/")[-1].split("-")[0]  # contacts / companies / tickets / associations
    if kind == "associations":
        return path.startswith("/crm/v4/")
    return path.startswith(f"/crm/v3/objects/{kind}")


def _describe(error: Exception) -> str:
    parts = [f"{type(error).__name__}: {error}"]
    cause: BaseException | None = error.__cause__
    while cause is not None:
        details: Callable[[], Any] | None = getattr(cause, "schema_errors", None)
        parts.append(f"{type(cause).__name__}: {cause}")
        if details:
            parts.extend(str(d.message) for d in details)  # type: ignore[attr-defined]
        cause = cause.__cause__
    return " <- ".join(parts)
