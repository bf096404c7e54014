from app.connectors.salesforce.client import SalesforceClient

__all__ = ["SalesforceClient"]
