"""Core: settings, money, bounds, identifiers, currencies, observability (imports nothing of ours)."""
