"""Request and response shapes, one module per area: for the generated OpenAPI spec and to check
what handlers return. A function imports only the modules of the routes it serves."""
