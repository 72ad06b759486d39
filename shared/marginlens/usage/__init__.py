"""Usage: events, their ingestion, the usage ledger and repricing."""
