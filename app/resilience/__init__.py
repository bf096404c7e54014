"""Riding out upstream trouble: budgets, retries, breakers, deadlines."""
