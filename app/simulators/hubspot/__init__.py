"""A HubSpot CRM v3 simulator: contacts, companies, tickets and their v4 associations."""
