"""How each CRM's records become domain objects: declared field maps and their converters."""
