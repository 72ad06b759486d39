"""Reports: the per-customer P&L and its revenue side."""
