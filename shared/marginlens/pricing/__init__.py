"""Pricing: the price book (genai-prices, overrides, aliases), its store and refresh, quality scores."""
