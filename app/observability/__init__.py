"""Logs, metrics, traces and the explain view: how an operator sees what crmgraph does."""
