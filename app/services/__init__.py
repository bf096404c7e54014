"""Services between the schema and the connectors: linking, lists across pages, health."""
