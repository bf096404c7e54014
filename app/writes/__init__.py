"""Writes to the CRMs: validation, idempotency and the durable outbox."""
