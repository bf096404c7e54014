"""Checks of a deployment against the CRMs it names."""
