"""OAuth 2.0 client credentials for Salesforce (:mod:`app.connectors.oauth`).

Salesforce issues no refresh token and no expiry: a token is used until an answer says
``401 INVALID_SESSION_ID``; then one new token is fetched and the request sent once more.
"""

from __future__ import annotations

import httpx

from app.connectors.oauth import ClientCredentials


class SalesforceClientCredentials(ClientCredentials):
    """Salesforce gives no expiry: a token is good until an answer is ``401
    INVALID_SESSION_ID``."""

    def expired(self, response: httpx.Response) -> bool:
        return response.status_code == 401 and _session_expired(response)


def _session_expired(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, list) and any(
        isinstance(e, dict) and e.get("errorCode") == "INVALID_SESSION_ID" for e in body
    )
