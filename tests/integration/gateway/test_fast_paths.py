"""Issue 16: the executor's fast paths answer exactly what ordinary execution answers.

Plain fields are read in place (``schema.execution``) and known documents are not parsed or
validated again (``schema.documents``); both are switched off here, in the same gateway, to
compare whole answers byte for byte, for roles that see everything and roles refused fields.
"""

from __future__ import annotations

from typing import Any

import pytest

from schema import schema
from schema.documents import KnownDocuments, known_for
from schema.execution import PolicyExecutionContext
from tests.dashboard import DASHBOARD
from tests.integration.gateway.conftest import GraphQL

#: Fields refused to some roles, an argument, enums, money, nested lists and a relation.
ODDS_AND_ENDS = """
query Odds($first: Int!) {
  customers(first: $first, filter: {brand: ["luckyspin"]}) {
    edges { node {
      __typename id email phone lifecycleStage createdAt
      externalRefs { source id }
      tickets(first: 2) { __typename id status priority requester { email } }
      playerStats { level ggr { amount currency } depositsTotal { amount } }
    } }
  }
}
"""


async def _both(client: GraphQL, query: str, **variables: Any) -> tuple[Any, Any]:
    fast = await client(query, **variables)
    PolicyExecutionContext.plain_fields = False
    KnownDocuments.enabled = False
    try:
        slow = await client(query, **variables)
    finally:
        PolicyExecutionContext.plain_fields = True
        KnownDocuments.enabled = True
    return fast, slow


@pytest.mark.parametrize("key", ["admin", "marketing", "support@luckyspin", "analyst"])
@pytest.mark.parametrize("query", [DASHBOARD, ODDS_AND_ENDS], ids=["dashboard", "odds"])
async def test_fast_paths_answer_what_ordinary_execution_answers(
    gql_as: Any, key: str, query: str
) -> None:
    client = gql_as(key)
    fast, slow = await _both(client, query, first=40)

    assert fast == slow
    assert fast["data"] is not None


async def test_a_refused_plain_field_is_still_refused_at_each_record(gql_as: Any) -> None:
    body = await gql_as("analyst")(ODDS_AND_ENDS, first=3)

    refused = [e for e in body["errors"] if len(e["path"]) == 5 and e["path"][-1] == "email"]
    assert [e["path"][2] for e in refused] == [0, 1, 2], body["errors"]
    assert {e["message"] for e in refused} == {"your role may not read Customer.email"}
    assert all(e["node"]["email"] is None for e in body["data"]["customers"]["edges"])


async def test_a_known_document_is_parsed_once_and_a_broken_one_never_kept(
    gql: GraphQL,
) -> None:
    known = known_for(schema)
    text = "query Once { customers(first: 1) { totalCount } }"
    broken = "query Broken { customers(first: 1) { totalCont } }"

    await gql.data(text)
    document = known.documents[text]
    await gql.data(text)
    first = await gql(broken)
    second = await gql(broken)

    assert known.documents[text] is document  # the same parse served again
    assert broken in known.documents  # it parses…
    assert not [k for k in known.valid if k[0] == broken]  # …but is never known valid
    assert first["errors"][0]["message"] == second["errors"][0]["message"]
    assert "totalCont" in first["errors"][0]["message"]
