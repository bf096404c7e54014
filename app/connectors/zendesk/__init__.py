from app.connectors.zendesk.client import ZendeskClient

__all__ = ["ZendeskClient"]
