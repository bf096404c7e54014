"""The live pipeline: record changes, their fan-out and the subscriptions over them."""
