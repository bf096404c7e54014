"""The field cache: upstream records by entity, id and field group (hot apart from cold)."""
