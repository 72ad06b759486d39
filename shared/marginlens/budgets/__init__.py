"""Budgets: limits, their evaluation and the blocklist."""
