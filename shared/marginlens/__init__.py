"""MarginLens: per-customer AI P&L (LLM cost per call joined to revenue)."""

__version__ = "0.1.0"
