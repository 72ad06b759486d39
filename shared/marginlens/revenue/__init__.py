"""Revenue: documents from Stripe or the revenue API, recognised over their service periods."""
