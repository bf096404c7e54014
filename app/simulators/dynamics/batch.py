"""``$batch`` bodies: reading ``multipart/mixed`` requests (with change sets) and writing the
``multipart/mixed`` answer, as OData 4.0 section 11.7 and the Dataverse docs lay them out."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus

from app.simulators.dynamics.dialect import ApiError, bad_request

MAX_REQUESTS = 1000
_BOUNDARY = re.compile(r'boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)
_REQUEST_LINE = re.compile(r"^([A-Z]+)\s+(\S+)(?:\s+HTTP/1\.[01])?$")


@dataclass(slots=True)
class SubRequest:
    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes
    content_id: str | None = None


@dataclass(slots=True)
class Changeset:
    requests: list[SubRequest] = field(default_factory=list)


@dataclass(slots=True)
class SubResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    content_id: str | None = None


def boundary_of(content_type: str) -> str | None:
    if not content_type.lower().startswith("multipart/mixed"):
        return None
    match = _BOUNDARY.search(content_type)
    return (match.group(1) or match.group(2)) if match else None


def _parts(body: str, boundary: str) -> list[str]:
    delimiter = re.compile(rf"(?:^|\r?\n)--{re.escape(boundary)}(--)?[ \t]*(?:\r?\n|$)")
    parts: list[str] = []
    position, closed = None, False
    for match in delimiter.finditer(body):
        if position is not None:
            parts.append(body[position : match.start()])
        position = match.end()
        if match.group(1):
            closed = True
            break
    if position is None or not closed:
        raise bad_request(f"The batch body is not closed by the delimiter '--{boundary}--'.")
    return parts


def _split_head(text: str) -> tuple[list[tuple[str, str]], str]:
    """Header lines up to the first empty line, and what follows it."""
    if text.startswith(("\r\n", "\n")):
        return [], text.split("\n", 1)[1]
    match = re.search(r"\r?\n\r?\n", text)
    head, rest = (text[: match.start()], text[match.end() :]) if match else (text, "")
    headers = []
    for line in head.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            headers.append((name.strip(), value.strip()))
    return headers, rest


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name.lower()), None)


def _request(part: str) -> SubRequest:
    part_headers, content = _split_head(part)
    kind = (_header(part_headers, "Content-Type") or "").lower()
    if not kind.startswith("application/http"):
        raise bad_request(
            "Each part of a batch request must have the content type application/http."
        )
    lines = content.lstrip("\r\n").split("\n", 1)
    match = _REQUEST_LINE.match(lines[0].strip())
    if match is None:
        raise bad_request(f"The request line '{lines[0].strip()}' of a batch part is not valid.")
    headers, body = _split_head(lines[1] if len(lines) > 1 else "")
    return SubRequest(
        method=match.group(1),
        url=match.group(2),
        headers=headers,
        body=body.strip("\r\n").encode(),
        content_id=_header(part_headers, "Content-ID"),
    )


def parse(body: bytes, content_type: str) -> list[SubRequest | Changeset]:
    """The batch's requests and change sets, in order."""
    boundary = boundary_of(content_type)
    if boundary is None:
        raise ApiError(
            400,
            "0x0",
            "The content type of a $batch request must be multipart/mixed with a boundary.",
        )
    items: list[SubRequest | Changeset] = []
    for part in _parts(body.decode("utf-8", "replace"), boundary):
        headers, content = _split_head(part)
        inner = boundary_of(_header(headers, "Content-Type") or "")
        if inner is None:
            items.append(_request(part))
        else:
            items.append(Changeset([_request(p) for p in _parts(content, inner)]))
    count = sum(len(i.requests) if isinstance(i, Changeset) else 1 for i in items)
    if count > MAX_REQUESTS:
        raise bad_request(
            f"The batch request contains {count} requests; a batch may contain at most "
            f"{MAX_REQUESTS}."
        )
    return items


def _part(response: SubResponse) -> str:
    reason = HTTPStatus(response.status).phrase
    head = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
    if response.content_id is not None:
        head += f"Content-ID: {response.content_id}\r\n"
    lines = [f"HTTP/1.1 {response.status} {reason}"]
    lines += [f"{k}: {v}" for k, v in response.headers]
    body = response.body.decode("utf-8", "replace")
    return f"{head}\r\n" + "\r\n".join(lines) + "\r\n\r\n" + body + ("\r\n" if body else "")


def render(answers: list[SubResponse | list[SubResponse]]) -> tuple[bytes, str]:
    """The ``multipart/mixed`` answer and its content type."""
    boundary = f"batchresponse_{uuid.uuid4()}"
    chunks: list[str] = []
    for answer in answers:
        if isinstance(answer, list):
            inner = f"changesetresponse_{uuid.uuid4()}"
            nested = "".join(f"--{inner}\r\n{_part(a)}" for a in answer) + f"--{inner}--\r\n"
            chunks.append(
                f"--{boundary}\r\nContent-Type: multipart/mixed; boundary={inner}\r\n\r\n{nested}"
            )
        else:
            chunks.append(f"--{boundary}\r\n{_part(answer)}")
    text = "".join(chunks) + f"--{boundary}--\r\n"
    return text.encode(), f"multipart/mixed; boundary={boundary}"
