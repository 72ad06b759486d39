"""Auth: API keys, their scopes and the per-process key cache."""
