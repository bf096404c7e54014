"""Signed CRM webhooks in, a durable queue, a worker that applies them, dead letters."""
