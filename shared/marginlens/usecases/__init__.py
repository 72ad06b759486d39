"""Use cases: what the HTTP routes and the schedules both run, wired to this process's settings.

Routes translate HTTP into these calls and back; scheduled handlers call them directly. Each is
plain Python: it returns results and raises domain errors, never HTTP status codes.
"""
