"""The credentials the simulators accept.

These are fixtures of the simulated CRMs, not secrets: they unlock nothing but the simulators
on loopback. The demo and the tests hand the same values to the gateway's connectors through
environment variables, exactly as an operator would hand real ones.
"""

from __future__ import annotations

HUBSPOT_TOKEN = "sim-hubspot-private-app-token"
HUBSPOT_CLIENT_SECRET = "sim-hubspot-client-secret"  # signs webhooks (signature v3)

SALESFORCE_CLIENT_ID = "sim-salesforce-client-id"
SALESFORCE_CLIENT_SECRET = "sim-salesforce-client-secret"
SALESFORCE_API_VERSION = "v61.0"

ZENDESK_EMAIL = "agent@crmgraph.test"
ZENDESK_API_TOKEN = "sim-zendesk-api-token"
ZENDESK_WEBHOOK_SECRET = "sim-zendesk-webhook-secret"

PLAYERS_API_KEY = "sim-players-api-key"
PLAYERS_WEBHOOK_SECRET = "sim-players-webhook-secret"

# Microsoft Dynamics 365 (Dataverse): an Entra ID app registration's client credentials.
DYNAMICS_TENANT_ID = "5c2f7d1e-0b4a-4e3c-9d8f-6a1b2c3d4e5f"
DYNAMICS_CLIENT_ID = "8a6e4c2b-1d3f-4a5b-9c7d-0e1f2a3b4c5d"
DYNAMICS_CLIENT_SECRET = "sim~dynamics.client-secret_Q8w"
DYNAMICS_API_VERSION = "v9.2"
