"""The domain: what crmgraph's callers see, whatever CRM it came from. Imports nothing of ours."""

from app.domain.ids import ExternalRef, NodeId
from app.domain.models import (
    Customer,
    Lead,
    LeadStatus,
    PlayerStats,
    Ticket,
    TicketPriority,
    TicketStatus,
)
from app.domain.money import Money

__all__ = [
    "Customer",
    "ExternalRef",
    "Lead",
    "LeadStatus",
    "Money",
    "NodeId",
    "PlayerStats",
    "Ticket",
    "TicketPriority",
    "TicketStatus",
]
