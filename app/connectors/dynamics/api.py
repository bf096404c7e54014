"""The Dataverse Web API v9.2 over the source's :class:`UpstreamClient`: queries (one GET, or
many in one ``$batch``), creates, updates, and its error bodies as upstream errors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx

from app.connectors.dynamics import batch
from app.connectors.dynamics.mapping import FORMATTED
from app.connectors.errors import (
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamNotFound,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from app.connectors.http import UpstreamClient, error_text, retry_after_seconds

ROOT = "/api/data/v9.2"
HEADERS = {"OData-MaxVersion": "4.0", "OData-Version": "4.0", "Accept": "application/json"}
ANNOTATIONS = f'odata.include-annotations="{FORMATTED.lstrip("@")}"'
_ENTITY_ID = re.compile(r"\(([0-9a-fA-F-]{36})\)\s*$")

Problem = tuple[list[str], str, str]


def describe_error(response: httpx.Response) -> str:
    error = response.json()["error"]
    return error_text(error.get("code"), error.get("message"))


def _error_of(body: Any) -> tuple[str, str]:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "REJECTED", ""
    return str(error.get("code", "REJECTED")), str(error.get("message", ""))[:300]


def problems(body: Any, columns: Mapping[str, str]) -> list[Problem]:
    """Dataverse's refusal as problems naming our fields: the columns (``columns``: column →
    domain field) its message quotes, e.g. ``Attribute 'lastname' cannot be NULL``."""
    code, message = _error_of(body)
    quoted = re.findall(r"'([A-Za-z_][A-Za-z0-9_]*)'", message)
    fields = list(dict.fromkeys(columns[q] for q in quoted if q in columns))
    return [(fields, code, message or "Dataverse refused the record")]


class DataverseApi:
    """One environment's Web API, named ``source`` in errors."""

    def __init__(self, source: str, http: UpstreamClient) -> None:
        self.source = source
        self.http = http

    # -- reading -----------------------------------------------------------------------------

    async def get(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        prefer: list[str] | None = None,
        items: int | None = None,
        route: str | None = None,
    ) -> Any:
        """One GET's JSON object; error statuses raise."""
        headers = dict(HEADERS)
        if prefer:
            headers["Prefer"] = ",".join(prefer)
        response = await self.http.send(
            "GET",
            f"{ROOT}/{path}",
            route=f"GET {ROOT}/{route or path}",
            params=params,
            headers=headers,
            items=items,
        )
        self.http.raise_for_status(response, describe_error)
        return self._object(response)

    async def many(self, parts: list[batch.Part], route: str) -> list[Any]:
        """Several GETs: one GET when there is one, else one ``$batch``; their JSON objects
        in order. A failed part raises what its status means."""
        if len(parts) == 1:
            part = parts[0]
            prefer = [part.headers["Prefer"]] if "Prefer" in part.headers else None
            return [await self.get(part.path, part.params, prefer, route=route)]
        answers = await self.batch(parts, idempotent=True)
        found = []
        for answer in answers:
            if answer.status >= 400:
                raise self.error(answer.status, answer.json_or_none(), answer.headers)
            body = answer.json_or_none()
            if not isinstance(body, dict):
                raise UpstreamProtocolError(self.source, "a batch answer part is not an object")
            found.append(body)
        return found

    async def batch(self, parts: list[batch.Part], idempotent: bool) -> list[batch.Answer]:
        """One ``$batch`` of ``parts`` (each run even when one fails); the answers in order."""
        content, kind = batch.encode(parts)
        headers = {**HEADERS, "Content-Type": kind, "Prefer": "odata.continue-on-error"}
        response = await self.http.send(
            "POST",
            f"{ROOT}/$batch",
            route=f"POST {ROOT}/$batch",
            content=content,
            headers=headers,
            items=len(parts),
            idempotent=idempotent,
        )
        self.http.raise_for_status(response, describe_error)
        try:
            answers = batch.decode(response.headers.get("content-type", ""), response.text)
        except ValueError as exc:
            raise UpstreamProtocolError(self.source, f"$batch: {exc}") from exc
        if len(answers) != len(parts):
            raise UpstreamProtocolError(self.source, "$batch answered the wrong number of parts")
        return answers

    # -- writing -----------------------------------------------------------------------------

    async def create(self, entity_set: str, body: dict[str, Any]) -> httpx.Response:
        """``POST {set}``; the answer, for :meth:`created_id` or the caller's own checks."""
        return await self.http.send(
            "POST",
            f"{ROOT}/{entity_set}",
            route=f"POST {ROOT}/{entity_set}",
            json=body,
            headers=HEADERS,
        )

    async def update(self, entity_set: str, key: str, body: dict[str, Any]) -> httpx.Response:
        """``PATCH {set}(<key>)`` with ``If-Match: *``: an update, never a create."""
        return await self.http.send(
            "PATCH",
            f"{ROOT}/{entity_set}({key})",
            route=f"PATCH {ROOT}/{entity_set}({{id}})",
            json=body,
            headers={**HEADERS, "If-Match": "*"},
        )

    def created_id(self, response: httpx.Response) -> str:
        """The new row's id, from ``OData-EntityId``."""
        found = _ENTITY_ID.search(response.headers.get("odata-entityid", ""))
        if found is None:
            raise UpstreamProtocolError(self.source, "the create answer has no OData-EntityId")
        return found.group(1).lower()

    def check_write(self, response: httpx.Response, columns: Mapping[str, str]) -> None:
        """A write's answer: a ``400`` becomes :class:`UpstreamRejected` naming our fields."""
        if response.status_code < 300:
            return
        if response.status_code < 400:
            self.http.raise_for_status(response, describe_error)  # a redirect: not followed
        raise self.error(response.status_code, _json(response), response.headers, columns)

    def error(
        self,
        status: int,
        body: Any,
        headers: Mapping[str, str],
        columns: Mapping[str, str] | None = None,
    ) -> UpstreamError:
        """The upstream error of an error answer (of a request, or of a batch part)."""
        code, message = _error_of(body)
        text = f"HTTP {status}: {code}: {message}"[:320]
        if status == 400:
            return UpstreamRejected(
                self.source, text, status=400, problems=problems(body, columns or {})
            )
        if status == 429:
            wait = retry_after_seconds(httpx.Response(429, headers=dict(headers)))
            return UpstreamRateLimited(self.source, text, status=429, retry_after=wait)
        kind: type[UpstreamError] = UpstreamRejected
        if status in (401, 403):
            kind = UpstreamAuthFailed
        elif status == 404:
            kind = UpstreamNotFound
        elif status in (408, 504):
            kind = UpstreamTimeout
        elif status >= 500:
            kind = UpstreamUnavailable
        return kind(self.source, text, status=status)

    def _object(self, response: httpx.Response) -> dict[str, Any]:
        body = self.http.json(response)
        if not isinstance(body, dict):
            raise UpstreamProtocolError(self.source, "the answer is not a JSON object")
        return body


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
