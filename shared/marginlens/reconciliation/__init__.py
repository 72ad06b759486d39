"""Reconciliation: what the providers billed, to hold against what MarginLens recorded."""
