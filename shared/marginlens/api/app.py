"""Builds the Powertools resolvers both Lambda functions serve: auth, validation, problem+json."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from marginlens import __version__
from marginlens.api import request_gate
from marginlens.api.problems import PROBLEM_CONTENT_TYPE, Problem, validation_problem
from marginlens.api.routes import RouteScope
from marginlens.auth.keys import Principal, grants
from marginlens.core.observability import logger
from marginlens.usage.events import pointer_for
from marginlens.usage.ledger import LedgerUnavailable
from marginlens.usecases.services import services

OPENAPI_TITLE = "MarginLens API"
OPENAPI_DESCRIPTION = (
    "Per-customer AI P&L: usage events priced per call, joined to revenue. "
    "Authenticate with `Authorization: Bearer <key>` or `X-Api-Key: <key>`. "
    "Amounts are decimal strings; errors are RFC 9457 problem+json."
)
SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]
GATE_KEY = "marginlensGate"  # where the gate's findings ride on the event (see MarginLensResolver)


def is_scheduled(event: dict[str, Any]) -> bool:
    """An EventBridge scheduled event, as opposed to an API Gateway request."""
    return event.get("source") == "aws.events" or event.get("detail-type") == "Scheduled Event"


def presented_key(headers: dict[str, str]) -> str | None:
    lowered = {name.lower(): value for name, value in headers.items()}
    authorization = lowered.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    return lowered.get("x-api-key") or None


def principal_for(headers: dict[str, str], needed: RouteScope | None) -> Principal | None:
    """The caller's key, if the route needs one (each route's scope comes from the route table)."""
    if needed is None:
        return None
    principal = services().keys.authenticate(presented_key(headers))
    if principal is None:
        raise Problem(
            401, "A valid API key is required.", slug="unauthorized", headers={"WWW-Authenticate": "Bearer"}
        )
    if not grants(principal.scope, needed):
        raise Problem(403, f"This key has scope '{principal.scope}'; this route needs '{needed}'.")
    return principal


class MarginLensResolver(APIGatewayHttpResolver):
    """Powertools' HTTP API resolver behind the request gate: a request is authenticated and its
    body checked (`marginlens.api.request_gate`) before routing, validation or parsing runs.

    `documented_elsewhere`: routers other functions serve, included when the spec is first built so
    that one document describes the whole API without each request's function importing them."""

    documented_elsewhere: Callable[[], Iterable[Router]] | None = None

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        try:
            checked = request_gate.check(event, principal_for)
        except Problem as problem:
            logger.info("request refused", status=problem.status, problem=problem.slug)
            return {
                "statusCode": problem.status,
                "headers": {"Content-Type": PROBLEM_CONTENT_TYPE, **(problem.headers or {})},
                "body": json.dumps(problem.body()),
                "isBase64Encoded": False,
            }
        # Carried on the event itself: a router included by several resolvers in one process (the
        # local stack, the spec) reads the context of the last one, the event is this request's.
        gated = {**request_gate.normalised(event), GATE_KEY: checked}
        return super().resolve(gated, context)

    @cached_property
    def openapi_document(self) -> str:
        """The OpenAPI document (JSON) of this resolver's routes: built on first use, once, since
        Powertools' OpenAPI models cost about 100 ms to import and are needed only here."""
        from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, HTTPBearer

        for router in self.documented_elsewhere() if self.documented_elsewhere else ():
            self.include_router(router)
        return self.get_openapi_json_schema(
            title=OPENAPI_TITLE,
            version=__version__,
            description=OPENAPI_DESCRIPTION,
            security_schemes={
                "bearer": HTTPBearer(description="A MarginLens API key (`mlk_...`)"),
                "apiKey": APIKey(name="X-Api-Key", in_=APIKeyIn.header),
            },
            security=SECURITY,
        )

    @cached_property
    def swagger_page(self) -> str:
        """Swagger UI over `openapi_document`, its script and styles from Powertools' own copy (no
        CDN); built once, as the spec is: the files are read on the first request for it."""
        from aws_lambda_powertools.event_handler.openapi import swagger_ui

        assets = Path(swagger_ui.__file__).parent
        script = (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8")
        styles = (assets / "swagger-ui.min.css").read_text(encoding="utf-8")
        # `</` escaped so the spec cannot close the page's script element.
        spec = self.openapi_document.replace("</", "<\\/")
        return swagger_ui.generate_swagger_html(spec, script, styles, "", None)


def _checked(app: APIGatewayHttpResolver | Router) -> request_gate.Checked:
    found = app.current_event.raw_event.get(GATE_KEY)
    return (
        found if isinstance(found, request_gate.Checked) else request_gate.Checked(None, request_gate.NO_BODY)
    )


def gated_body(app: APIGatewayHttpResolver | Router) -> Any:
    """The JSON body as the request gate read it (exact decimals, no duplicate keys); NO_BODY when
    the request had none."""
    return _checked(app).body


def current_principal(app: APIGatewayHttpResolver | Router) -> Principal | None:
    principal = _checked(app).principal
    return principal if isinstance(principal, Principal) else None


def _validation_errors(error: RequestValidationError) -> list[dict[str, str]]:
    found = []
    for item in error.errors():
        location = tuple(item.get("loc", ()))
        source, path = (location[0], location[1:]) if location else ("body", ())
        # Query and path parameters: point at the parameter by name.
        pointer = pointer_for(path) if source == "body" else pointer_for(path[:1])
        found.append({"pointer": pointer, "detail": str(item.get("msg", "invalid"))})
    return found


def create_app(routers: Iterable[Router], *, docs: bool) -> MarginLensResolver:
    app = MarginLensResolver(enable_validation=True)
    for router in routers:
        app.include_router(router)
    if docs:

        @app.get("/docs", include_in_schema=False)
        def swagger():
            return Response(200, "text/html", app.swagger_page)

        @app.get("/openapi.json", include_in_schema=False)
        def openapi_json():  # a bare `-> Response` annotation breaks Powertools' validation
            return Response(200, "application/json", app.openapi_document)

    @app.exception_handler(Problem)
    def _problem(error: Problem) -> Response:
        return error.response(error.headers)

    @app.exception_handler(RequestValidationError)
    def _invalid(error: RequestValidationError) -> Response:
        if any(item.get("type") == "json_invalid" for item in error.errors()):
            errors = [{"pointer": "", "detail": "the body is not valid JSON"}]
            return Problem(
                400, "The body is not valid JSON.", slug="malformed-json", errors=errors
            ).response()
        errors = _validation_errors(error)
        return validation_problem(errors).response()

    @app.exception_handler(NotFoundError)
    def _not_found(_error: NotFoundError) -> Response:
        return Problem(404, "No such route.").response()

    @app.exception_handler(LedgerUnavailable)
    def _busy(error: LedgerUnavailable) -> Response:
        logger.warning("ledger unavailable", error=str(error))
        return Problem(
            503, "The ledger is busy. Retry the same request: events already written come back as duplicates."
        ).response({"Retry-After": "1"})

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        logger.exception("unhandled error")
        return Problem(500, "Internal error; the request may be retried safely.").response()

    return app


def json_response(status: int, body: Any) -> Response:
    return Response(status, "application/json", json.dumps(body))
