"""The Salesforce REST simulator: an org of Leads, Contacts and Accounts seeded from the world."""
