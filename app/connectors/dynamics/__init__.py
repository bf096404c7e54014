from app.connectors.dynamics.client import DynamicsClient

__all__ = ["DynamicsClient"]
