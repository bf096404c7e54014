"""A call that would ask differently after a timeout (a smaller page) says so: its timeouts,
and the CRM's ``408``/``504``, are not retried; every other retryable failure still is."""

from __future__ import annotations

import pytest

from app.connectors.errors import UpstreamTimeout
from app.connectors.http import UpstreamClient
from app.resilience.retry import RetryPolicy
from tests.misbehaving import Misbehaving, misbehaving

RETRY = RetryPolicy(max_attempts=3, base=0.001, cap=0.002)


@pytest.mark.parametrize(
    ("status", "retry_timeouts", "sent"),
    [(504, True, 3), (504, False, 1), (408, False, 1), (503, False, 3), (429, False, 3)],
)
async def test_which_answers_are_asked_again(status: int, retry_timeouts: bool, sent: int) -> None:
    crm = Misbehaving(status=status, body=b"{}")
    async with misbehaving(crm) as url:
        client = UpstreamClient("crm", url, retry=RETRY)
        try:
            response = await client.send(
                "GET", "/records", route="GET /records", retry_timeouts=retry_timeouts
            )
        finally:
            await client.aclose()
    assert response.status_code == status
    assert len(crm.requests) == sent


@pytest.mark.parametrize(("retry_timeouts", "sent"), [(True, 3), (False, 1)])
async def test_a_call_that_times_out(retry_timeouts: bool, sent: int) -> None:
    crm = Misbehaving(mode="trickle", size=10_000, step=10, pause=0.05)
    async with misbehaving(crm) as url:
        client = UpstreamClient("crm", url, retry=RETRY, total=0.2)
        try:
            with pytest.raises(UpstreamTimeout):
                await client.send(
                    "GET", "/records", route="GET /records", retry_timeouts=retry_timeouts
                )
        finally:
            await client.aclose()
    assert len(crm.requests) == sent
