"""A Dataverse org as tests and benchmarks reach it: a connector built as the gateway builds
one, and a contact made busy through the Web API's own ``$batch``."""

from __future__ import annotations

from typing import Any

import httpx

from app.connectors.dynamics.batch import Part
from app.connectors.dynamics.client import DynamicsClient
from app.connectors.dynamics.kind import KIND
from app.connectors.dynamics.settings import DynamicsSource
from app.connectors.http import UpstreamClient
from app.connectors.kind import BuildContext
from app.demo import demo_env, dynamics_source
from app.domain.custom import CustomFieldSpec
from app.resilience.budget import SourceBudget
from app.resilience.retry import RetryPolicy


def connector(
    base_url: str,
    made: list[UpstreamClient],
    window: float | None = None,
    attempts: int = 3,
    budget: bool = True,
    custom: dict[str, dict[str, CustomFieldSpec]] | None = None,
    **settings: Any,
) -> DynamicsClient:
    """A connector to the simulators at ``base_url`` as the gateway builds one (its kind's
    ``build``), with a rate budget reading Dataverse's headers; its HTTP clients are added
    to ``made``, for the caller to close."""
    demo_env()
    source = DynamicsSource.model_validate({**dynamics_source(base_url), **settings})

    def http(auth: httpx.Auth | None) -> UpstreamClient:
        client = UpstreamClient(
            "dynamics",
            source.url,
            auth=auth,
            budget=SourceBudget("dynamics", KIND.rates, None, window=window) if budget else None,
            retry=RetryPolicy(max_attempts=attempts, base=0.01, cap=0.05),
        )
        made.append(client)
        return client

    client: DynamicsClient = KIND.build(source, BuildContext("dynamics", http, custom=custom or {}))
    return client


async def make_busy(dyn: DynamicsClient, contact: str, brand: str, count: int) -> None:
    """``count`` more cases of the contact, of ``brand``, the newest of the org: made through
    the Web API's own ``$batch`` of ``POST incidents``, 100 at a time."""
    for start in range(0, count, 100):
        parts = [
            Part(
                "POST",
                "incidents",
                body={
                    "title": f"automated report {start + i}",
                    "customerid_contact@odata.bind": f"/contacts({contact})",
                    "crmgraph_brand": brand,
                },
            )
            for i in range(min(100, count - start))
        ]
        answers = await dyn.api.batch(parts, idempotent=False)
        assert {a.status for a in answers} == {204}, answers[0].text
