"""The HTTP routers, one per area: each translates requests into calls into the areas or use cases
and their results back into responses."""
