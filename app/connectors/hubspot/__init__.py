from app.connectors.hubspot.client import HubSpotClient

__all__ = ["HubSpotClient"]
