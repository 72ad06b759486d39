"""The dashboard's built files (`static/`, made by `make dashboard` from `dashboard/` at the repo
root) and how the api function serves them at `/dashboard/`."""
