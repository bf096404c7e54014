"""The Web API's ``$batch``: many requests in one ``multipart/mixed`` body, and their answers
read back in order (OData 4.0 §11.7, as the Dataverse docs lay it out). No change sets: each
part stands alone."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

#: The most requests one batch may hold.
MAX_PARTS = 1000
_BOUNDARY = re.compile(r'boundary\s*=\s*"?([^";\s]+)"?', re.IGNORECASE)
_BLANK = re.compile(r"\r?\n\r?\n")
_STATUS = re.compile(r"^HTTP/1\.[01]\s+(\d{3})")


@dataclass(frozen=True, slots=True)
class Part:
    method: str
    #: Relative to the service root (``contacts``, ``contacts(<id>)``).
    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text) if self.text.strip() else None

    def json_or_none(self) -> Any:
        try:
            return self.json()
        except ValueError:
            return None


#: What a query value may hold unescaped in a part's request line.
_SAFE = "$,()'*:@/"


def query_string(params: Mapping[str, str]) -> str:
    return "&".join(f"{quote(k, safe='$')}={quote(v, safe=_SAFE)}" for k, v in params.items())


def encode(parts: list[Part]) -> tuple[bytes, str]:
    """The body and ``Content-Type`` of a batch of ``parts``."""
    if not 0 < len(parts) <= MAX_PARTS:
        raise ValueError(f"a batch holds 1 to {MAX_PARTS} requests")
    boundary = f"batch_{uuid.uuid4().hex}"
    chunks = []
    for number, part in enumerate(parts, 1):
        target = part.path + (f"?{query_string(part.params)}" if part.params else "")
        lines = [f"{part.method} {target} HTTP/1.1", "Accept: application/json"]
        lines += [f"{k}: {v}" for k, v in part.headers.items()]
        payload = ""
        if part.body is not None:
            lines.append("Content-Type: application/json; type=entry")
            payload = json.dumps(part.body, separators=(",", ":"))
        chunks.append(
            f"--{boundary}\r\nContent-Type: application/http\r\n"
            f"Content-Transfer-Encoding: binary\r\nContent-ID: {number}\r\n\r\n"
            + "\r\n".join(lines)
            + "\r\n\r\n"
            + payload
            + "\r\n"
        )
    body = "".join(chunks) + f"--{boundary}--\r\n"
    return body.encode(), f"multipart/mixed; boundary={boundary}"


def decode(content_type: str, body: str) -> list[Answer]:
    """Each answer of a batch, in order; ValueError when the body is not a batch answer."""
    match = _BOUNDARY.search(content_type)
    if not content_type.lower().startswith("multipart/mixed") or match is None:
        raise ValueError("the batch answer is not multipart/mixed")
    boundary = re.escape(match.group(1))
    pieces = re.split(rf"(?:^|\r?\n)--{boundary}(?:--)?[ \t]*(?=\r?\n|$)", body)
    answers = []
    for piece in pieces[1:]:
        text = piece.lstrip("\r\n")
        if not text.strip():
            continue
        head, _, rest = _split(text)
        if "multipart/mixed" in head.lower():  # a change set's answer: its parts in turn
            answers += decode(_header_value(head, "content-type"), rest)
            continue
        status_block, _, payload = _split(rest.lstrip("\r\n"))
        lines = status_block.splitlines()
        status = _STATUS.match(lines[0].strip()) if lines else None
        if status is None:
            raise ValueError("a batch answer part has no status line")
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        answers.append(Answer(int(status.group(1)), headers, payload.strip("\r\n")))
    return answers


def _split(text: str) -> tuple[str, str, str]:
    found = _BLANK.search(text)
    if found is None:
        return text, "", ""
    return text[: found.start()], found.group(), text[found.end() :]


def _header_value(head: str, name: str) -> str:
    for line in head.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == name:
            return value.strip()
    return ""
