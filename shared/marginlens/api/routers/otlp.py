"""POST /v1/otlp/v1/traces: OpenTelemetry GenAI spans as usage events, served by the ingest_usage function.

An OTLP/HTTP trace endpoint: point an app's OTLP exporter (OpenLLMetry, OpenLIT, Logfire, the Vercel
AI SDK, or the OpenTelemetry SDK itself) at `<api>/v1/otlp/v1/traces` with an `ingest` key in its
headers. The request gate hands this route the inflated body (`request_gate.RawBody`); the spans are
read and recorded by `usage.otlp`.

Answers, as OTLP/HTTP clients read them:
* 200 with an `ExportTraceServiceResponse` in the request's encoding (protobuf or JSON), its
  `partial_success` set (rejected spans and why) only when GenAI spans could not be recorded;
  spans that are not GenAI calls are ignored, not rejected. The counts also ride in
  `X-MarginLens-*` headers and the log line.
* 400 problem+json: the body is not an export request in its encoding (not retried by clients).
* 401, 403, 413, 415 problem+json from the gate; 503 with `Retry-After` when the ledger is busy
  (clients retry; spans already recorded come back as duplicates).
"""

from __future__ import annotations

from datetime import UTC, datetime

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from marginlens.api.app import current_principal, gated_body
from marginlens.api.problems import PROBLEM_CONTENT_TYPE, PROBLEM_SCHEMA, Problem
from marginlens.api.request_gate import MAX_OTLP_BYTES, MAX_OTLP_INFLATED_BYTES, RawBody
from marginlens.usage.otlp import OtlpDecodeError, encode_response, ingest_export
from marginlens.usecases.services import services

router = Router()

OTLP_TRACES_PATH = "/v1/otlp/v1/traces"

_RESPONSE_SCHEMA = {
    "type": "object",
    "description": "ExportTraceServiceResponse (OTLP/JSON); `{}` when every GenAI span was recorded",
    "properties": {
        "partialSuccess": {
            "type": "object",
            "properties": {
                "rejectedSpans": {
                    "type": "string",
                    "pattern": "^[0-9]+$",
                    "description": "GenAI spans not recorded (an int64: a decimal string in OTLP/JSON)",
                },
                "errorMessage": {"type": "string", "description": "Why, naming the first spans by id"},
            },
        }
    },
}
_REQUEST_JSON_SCHEMA = {
    "type": "object",
    "description": (
        "ExportTraceServiceRequest in OTLP/JSON: lowerCamelCase keys, hex trace and span ids, integer "
        "enums; unknown fields are ignored"
    ),
    "properties": {"resourceSpans": {"type": "array", "items": {"type": "object"}}},
}
_BINARY = {"type": "string", "format": "binary", "description": "ExportTraceServiceRequest, binary protobuf"}

# The body is documented here rather than declared as a parameter: it is protobuf or JSON, maybe
# compressed, and only `usage.otlp` decodes it.
_OPENAPI = {
    "parameters": [
        {
            "name": "Content-Encoding",
            "in": "header",
            "required": False,
            "description": "`gzip` or `deflate` when the body is compressed",
            "schema": {"type": "string", "enum": ["gzip", "deflate", "identity"]},
        }
    ],
    "requestBody": {
        "required": True,
        "description": (
            "An OTLP/HTTP trace export, as OpenTelemetry's OTLP exporters send it: at most "
            f"{MAX_OTLP_BYTES} bytes as sent and {MAX_OTLP_INFLATED_BYTES} once inflated"
        ),
        "content": {
            "application/x-protobuf": {"schema": _BINARY},
            "application/json": {"schema": _REQUEST_JSON_SCHEMA},
        },
    },
}


@router.post(
    OTLP_TRACES_PATH,
    summary="Record usage from OpenTelemetry GenAI spans (OTLP/HTTP traces, protobuf or JSON)",
    description=(
        "An OTLP/HTTP trace receiver: set an app's `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` to this URL and "
        "`OTEL_EXPORTER_OTLP_TRACES_HEADERS` to `Authorization=Bearer <ingest key>`. Each span that "
        "records a model call under the OpenTelemetry GenAI semantic conventions (a token count in "
        "`gen_ai.usage.input_tokens` / `gen_ai.usage.output_tokens`, or the older `prompt_tokens` / "
        "`completion_tokens`, and a model in `gen_ai.response.model` or `gen_ai.request.model`) becomes "
        "one usage event, priced and recorded as `POST /v1/usage` records it: its request_id is the "
        "span id (16 lowercase hex characters), so a span exported twice is a duplicate. Cache reads "
        "and writes come from `gen_ai.usage.cache_read.input_tokens` and "
        "`gen_ai.usage.cache_creation.input_tokens`, the provider hint from `gen_ai.provider.name` "
        "(or `gen_ai.system`), the time from the span's end. The customer and the feature are the first "
        "attribute set (each name on the span, then on its resource) of "
        "`MARGINLENS_OTLP_CUSTOMER_ATTRIBUTES` "
        "(default `marginlens.customer_id,enduser.id,user.id`) and `MARGINLENS_OTLP_FEATURE_ATTRIBUTES` "
        "(default `marginlens.feature,gen_ai.operation.name`). Other spans are ignored (not rejected); "
        "spans of operations that sum others (`invoke_agent`, `invoke_workflow`) too. The answer is an "
        "`ExportTraceServiceResponse` in the request's encoding, with `partial_success` naming the GenAI "
        "spans that could not be recorded (no customer in strict mode, a conflict, a bad count); the "
        "counts are also in the `X-MarginLens-Spans`, `-GenAI-Spans`, `-Ignored-Spans`, "
        "`-Rejected-Spans`, `-Events-Created` and `-Events-Duplicate` headers."
    ),
    tags=["usage"],
    openapi_extensions=_OPENAPI,
    responses={
        200: {
            "description": "Export accepted: every GenAI span recorded, or partial success",
            "content": {
                "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {"schema": _RESPONSE_SCHEMA},
            },
        },
        400: {
            "description": "Not an export request in its encoding; not retried",
            "content": {PROBLEM_CONTENT_TYPE: {"schema": PROBLEM_SCHEMA}},
        },
        413: {
            "description": "Larger than the limits, as sent or inflated",
            "content": {PROBLEM_CONTENT_TYPE: {"schema": PROBLEM_SCHEMA}},
        },
        415: {
            "description": "Not protobuf nor JSON, or an unknown Content-Encoding",
            "content": {PROBLEM_CONTENT_TYPE: {"schema": PROBLEM_SCHEMA}},
        },
        503: {"description": "The ledger is busy: retry (recorded spans come back as duplicates)"},
    },
)
def post_otlp_traces():  # a bare `-> Response` annotation breaks Powertools' validation
    body = gated_body(router)
    if not isinstance(body, RawBody):  # the gate hands this route its bytes; nothing else reaches it
        raise Problem(415, "Send an OTLP trace export.", slug="unsupported-media-type")
    state = services()
    principal = current_principal(router)
    try:
        outcome = ingest_export(
            body.data,
            body.media_type,
            settings=state.settings,
            ledger=state.ledger,
            prices=state.prices.book,
            now=datetime.now(UTC),
            key_id=principal.key_id if principal else None,
            arrived_at=_arrived_at(),
        )
    except OtlpDecodeError as error:
        raise Problem(400, str(error), slug=error.slug) from None
    return Response(
        200, body.media_type, encode_response(outcome, body.media_type), headers=outcome.headers()
    )


def _arrived_at() -> datetime | None:
    """When API Gateway received the request (`requestContext.timeEpoch`, ms), if it says."""
    epoch_ms = router.current_event.raw_event.get("requestContext", {}).get("timeEpoch")
    if not isinstance(epoch_ms, int) or epoch_ms <= 0:
        return None
    return datetime.fromtimestamp(epoch_ms / 1000, UTC)
