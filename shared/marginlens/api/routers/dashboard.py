"""GET /dashboard/{name}: the dashboard's files, served by the api function on the API's own origin
(marginlens.dashboard.site). GET / and GET /dashboard send a browser to its page,
`dashboard/index.html` (a file name, not `/dashboard/`: API Gateway routes match paths exactly)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from marginlens.api.problems import Problem
from marginlens.dashboard import site

router = Router()

NOT_BUILT = (
    "The dashboard is not built in this install: run `make dashboard` (npm ci and the bundler, in "
    "dashboard/) and restart."
)


def _serve(name: str) -> Response:
    found = site.asset(name)
    if found is None:
        if not site.is_built():
            raise Problem(404, NOT_BUILT, slug="dashboard-not-built")
        raise Problem(404, "No such dashboard file.")
    # Bytes: Powertools sends them base64-encoded, as API Gateway expects; text is gzipped when
    # the browser accepts it (the bundle is mostly JavaScript).
    headers = {**found.headers, "Vary": "Accept-Encoding"}
    return Response(200, found.content_type, found.body, headers, compress=found.is_text)


def _redirect(location: str) -> Response:
    return Response(302, "text/plain", "", {"Location": location, "Cache-Control": "no-cache"})


@router.get("/", include_in_schema=False)
def home():  # a bare `-> Response` annotation breaks Powertools' validation
    return _redirect(f"dashboard/{site.INDEX}")


@router.get("/dashboard", include_in_schema=False)
def dashboard():
    return _redirect(f"dashboard/{site.INDEX}")


@router.get("/dashboard/<name>", include_in_schema=False)
def dashboard_file(name: str):
    return _serve(name)
