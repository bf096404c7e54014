"""A Zendesk Support v2 simulator: tickets, users, search and job statuses on loopback."""
