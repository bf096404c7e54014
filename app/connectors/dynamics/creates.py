"""Many leads created in one ``$batch``: one ``POST leads`` part each, run independently
(``odata.continue-on-error``), each answered with its id or Dataverse's reasons."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.connectors.dynamics import bodies
from app.connectors.dynamics.api import problems
from app.connectors.dynamics.batch import Answer, Part
from app.connectors.errors import UpstreamRejected

if TYPE_CHECKING:
    from app.connectors.dynamics.client import DynamicsClient

Result = tuple[str | None, list[tuple[list[str], str, str]]]


async def create_many(client: DynamicsClient, records: list[dict[str, Any]]) -> list[Result]:
    if len(records) > client.max_batch:
        raise ValueError(f"at most {client.max_batch} records can be created in one call")
    results: list[Result | None] = [None] * len(records)
    parts: list[Part] = []
    sent: list[int] = []
    for index, values in enumerate(records):
        try:
            body = bodies.lead_body(client.name, values, client.cols, client.words)
        except UpstreamRejected as refused:  # a value the org cannot take: never sent
            results[index] = (None, refused.problems)
            continue
        parts.append(Part("POST", "leads", body=body))
        sent.append(index)
    if parts:
        # Creates are not idempotent: a batch whose answer is lost is not sent again.
        answers = await client.api.batch(parts, idempotent=False)
        columns = bodies.columns_of("lead", client.cols)
        for index, answer in zip(sent, answers, strict=True):
            results[index] = _result(answer, columns)
    return [r if r is not None else (None, []) for r in results]


def _result(answer: Answer, columns: dict[str, str]) -> Result:
    if answer.status < 300:  # 204 and OData-EntityId
        entity = answer.headers.get("odata-entityid", "")
        key = entity.rsplit("(", 1)[-1].rstrip(")").lower() if "(" in entity else ""
        if key:
            return key, []
        return None, [([], "NO_ID", "Dataverse created the lead but did not say its id")]
    # Any refusal is this record's alone: raising would lose the ids of the others created.
    return None, problems(answer.json_or_none(), columns)
