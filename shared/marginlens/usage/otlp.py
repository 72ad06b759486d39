"""OpenTelemetry GenAI spans as usage events.

An OTLP/HTTP trace export (`ExportTraceServiceRequest`, binary protobuf or OTLP/JSON) is decoded with
opentelemetry-proto's generated classes; each span that records a model call under the GenAI
semantic conventions becomes the event `POST /v1/usage` takes, and those events go through
`usage.ingest.ingest` (at most 100 at a time), so validation, pricing, idempotency and duplicates are
exactly that route's. Plain Python: the HTTP side is `api/routers/otlp.py`.

What is a GenAI span: it has a token count (`gen_ai.usage.input_tokens` or `..output_tokens`, or the
older `..prompt_tokens` / `..completion_tokens`) and a model (`gen_ai.response.model` or
`gen_ai.request.model`), and its operation is not one that sums other calls (`invoke_agent`,
`invoke_workflow`, ...: counting those too would count each model call twice). Every other span is
ignored and counted, never rejected: most of an app's spans are not model calls.

How a GenAI span is read (each list of attribute names below is tried in its order):
* the request_id is the span id as 16 lowercase hex characters, so a span exported twice is a
  duplicate, and the same span id with other content a conflict;
* tokens as our events count them: the whole input as `prompt_tokens` (the conventions include the
  cache reads and writes in `input_tokens`; an instrumentation that reports fewer input tokens than
  its cache parts left them out, and they are added), the whole output as `completion_tokens`
  (reasoning included, as the conventions say; added when the output is smaller than the reasoning),
  the cache parts apart; an `embeddings` span without an output count has no output;
* the time is the span's end (its start if it has none), UTC;
* the customer and the feature are the first attribute set of the configured lists
  (`MARGINLENS_OTLP_CUSTOMER_ATTRIBUTES`, `MARGINLENS_OTLP_FEATURE_ATTRIBUTES`), each name looked up
  on the span itself, then on its resource;
* the metadata holds the trace id and the span's name.

Protobuf and opentelemetry-proto are imported with the first export, never when this module loads:
the ingest function's cold start pays for neither.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from marginlens.core.observability import logger, metrics
from marginlens.core.settings import Settings
from marginlens.pricing.book import PriceBook
from marginlens.usage.events import MAX_BATCH
from marginlens.usage.ingest import ingest
from marginlens.usage.ledger import Ledger

if TYPE_CHECKING:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

# Attribute names, the first one present winning: the GenAI semantic conventions' current names,
# then those earlier conventions used (and OpenLLMetry and OpenLIT still emit).
INPUT_TOKENS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
OUTPUT_TOKENS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
CACHE_READ_TOKENS = ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens")
CACHE_WRITE_TOKENS = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
)
REASONING_TOKENS = ("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens")
MODEL = ("gen_ai.response.model", "gen_ai.request.model")
PROVIDER = ("gen_ai.provider.name", "gen_ai.system")
OPERATION = "gen_ai.operation.name"
# Operations whose spans sum the model calls made under them (their children carry the same tokens).
AGGREGATE_OPERATIONS = frozenset({"invoke_agent", "invoke_workflow", "create_agent", "execute_tool"})
EMBEDDINGS = "embeddings"

MAX_SPAN_NAME = 256  # characters kept in the metadata (well inside its 2 KB)
MAX_REASONS = 5  # rejected spans named in the answer's error message; the log line has them all
_PROVIDER_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})*")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


class OtlpDecodeError(ValueError):
    """The body is not an `ExportTraceServiceRequest` in the encoding it claims (OTLP: 400)."""

    def __init__(self, detail: str, slug: str = "malformed-otlp") -> None:
        super().__init__(detail)
        self.slug = slug


class SpanRejected(Exception):
    """A GenAI span that cannot become a usage event."""


@dataclass(frozen=True)
class RejectedSpan:
    span_id: str | None
    reason: str

    def __str__(self) -> str:
        return f"span {self.span_id or '(no id)'}: {self.reason}"


@dataclass(frozen=True)
class MappedSpan:
    span_id: str
    event: dict[str, Any]  # as POST /v1/usage takes it
    sources: dict[str, str]  # event field -> where in the span it was read, for error messages


@dataclass
class ExportOutcome:
    """What one export came to. Ignored spans are not usage; rejected ones are GenAI spans that were
    not recorded (OTLP's `partial_success.rejected_spans`)."""

    spans: int = 0
    genai_spans: int = 0
    ignored_spans: int = 0
    created: int = 0
    duplicates: int = 0
    rejected: list[RejectedSpan] = field(default_factory=list)

    def error_message(self) -> str:
        """Why spans were rejected, in English, as OTLP asks: the first few by span id."""
        if not self.rejected:
            return ""
        count = len(self.rejected)
        named = "; ".join(str(rejected) for rejected in self.rejected[:MAX_REASONS])
        more = f"; and {count - MAX_REASONS} more" if count > MAX_REASONS else ""
        noun = "span was" if count == 1 else "spans were"
        return f"{count} GenAI {noun} not recorded as usage: {named}{more}"

    def headers(self) -> dict[str, str]:
        """The counts as response headers (OTLP leaves headers free; its body stays the standard one)."""
        return {
            "X-MarginLens-Spans": str(self.spans),
            "X-MarginLens-GenAI-Spans": str(self.genai_spans),
            "X-MarginLens-Ignored-Spans": str(self.ignored_spans),
            "X-MarginLens-Rejected-Spans": str(len(self.rejected)),
            "X-MarginLens-Events-Created": str(self.created),
            "X-MarginLens-Events-Duplicate": str(self.duplicates),
        }

    def log_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "spans": self.spans,
            "genai_spans": self.genai_spans,
            "ignored_spans": self.ignored_spans,
            "rejected_spans": len(self.rejected),
            "events_created": self.created,  # `created` is a LogRecord attribute of its own
            "events_duplicate": self.duplicates,
        }
        if self.rejected:
            fields["rejections"] = [str(rejected) for rejected in self.rejected[:100]]
        return fields


# --- decoding -----------------------------------------------------------------------------------


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _DuplicateKey(f"the key {key!r} appears twice in one object")
        found[key] = value
    return found


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _json_spans(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every object of an OTLP/JSON export that carries trace or span ids: spans and their links."""
    for resource_spans in _as_list(document.get("resourceSpans")):
        if not isinstance(resource_spans, dict):
            continue
        for scope_spans in _as_list(resource_spans.get("scopeSpans")):
            if not isinstance(scope_spans, dict):
                continue
            for span in _as_list(scope_spans.get("spans")):
                if isinstance(span, dict):
                    yield span
                    yield from (link for link in _as_list(span.get("links")) if isinstance(link, dict))


def _id_as_base64(value: str) -> str:
    """An OTLP/JSON id (hex, any case) as protobuf's JSON mapping reads bytes (base64). An id that is
    not hex but base64 (protobuf's own JSON mapping, as some exporters send) is taken as it is."""
    if _HEX.fullmatch(value):
        return base64.b64encode(bytes.fromhex(value)).decode()
    try:
        return base64.b64encode(base64.b64decode(value + "=" * (-len(value) % 4), validate=True)).decode()
    except (binascii.Error, ValueError):
        raise OtlpDecodeError(f"the id {value[:64]!r} is not hex") from None


def decode(data: bytes, media_type: str) -> ExportTraceServiceRequest:
    """The export request in `data`, binary protobuf or OTLP/JSON (hex ids, integer enums, unknown
    fields ignored, as the OTLP specification has it). An empty body is an empty export."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    if not data:
        return request
    if media_type == PROTOBUF:
        from google.protobuf.message import DecodeError

        try:
            request.ParseFromString(data)
        except (DecodeError, RecursionError, ValueError) as error:
            raise OtlpDecodeError(f"The body is not a protobuf ExportTraceServiceRequest: {error}.") from None
        return request
    if media_type != JSON:
        raise OtlpDecodeError(f"OTLP has no {media_type} encoding.")
    try:
        document = json.loads(
            data.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_no_constants
        )
    except _DuplicateKey as error:
        raise OtlpDecodeError(f"The body is ambiguous: {error}.", slug="duplicate-key") from None
    except (ValueError, RecursionError) as error:
        raise OtlpDecodeError(f"The body is not valid JSON: {error}.", slug="malformed-json") from None
    if not isinstance(document, dict):
        raise OtlpDecodeError("An OTLP/JSON export request is a JSON object.")
    for carrier in _json_spans(document):
        for name in _ID_FIELDS:
            if isinstance(carrier.get(name), str):
                carrier[name] = _id_as_base64(carrier[name])
    from google.protobuf import json_format

    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as error:
        raise OtlpDecodeError(f"The body is not an OTLP/JSON ExportTraceServiceRequest: {error}") from None
    return request


def encode_response(outcome: ExportOutcome, media_type: str) -> bytes:
    """The `ExportTraceServiceResponse` in the request's encoding: `partial_success` set only when
    GenAI spans were rejected (OTLP: unset on full success)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    response = ExportTraceServiceResponse()
    if outcome.rejected:
        response.partial_success.rejected_spans = len(outcome.rejected)
        response.partial_success.error_message = outcome.error_message()
    if media_type == JSON:
        from google.protobuf import json_format

        return json_format.MessageToJson(response, indent=None).encode()
    return response.SerializeToString()


# --- mapping ------------------------------------------------------------------------------------


def _attributes(pairs: Sequence[KeyValue]) -> dict[str, AnyValue]:
    """Attributes by name; one without a value is not there, and a repeated name keeps its first."""
    found: dict[str, AnyValue] = {}
    for pair in pairs:
        if pair.value.WhichOneof("value") is not None:
            found.setdefault(pair.key, pair.value)
    return found


def _scalar(value: AnyValue) -> str | int | float | bool | None:
    kind = value.WhichOneof("value")
    if kind in ("string_value", "int_value", "double_value", "bool_value"):
        scalar: str | int | float | bool = getattr(value, kind)
        return scalar
    return None  # arrays, key-value lists and bytes are no names or counts


def _text(value: AnyValue) -> str | None:
    scalar = _scalar(value)
    if isinstance(scalar, bool | float) or scalar is None:
        return None
    text = str(scalar).strip()
    return text or None


def _first_text(names: Sequence[str], *scopes: tuple[str, Mapping[str, AnyValue]]) -> tuple[str, str] | None:
    """The first of `names` set to a usable value, each looked up in the scopes in turn (the span's
    attributes, then its resource's): (value, where it was read). The list's order is its priority,
    so `marginlens.feature` on the resource beats `gen_ai.operation.name` on the span."""
    for name in names:
        for scope, attributes in scopes:
            value = attributes.get(name)
            text = _text(value) if value is not None else None
            if text is not None:
                return text, f"{scope} attribute {name}"
    return None


def _count(attributes: Mapping[str, AnyValue], names: Sequence[str]) -> tuple[int, str] | None:
    """A token count: the first of `names` present, as a whole number >= 0 (an integer, a whole
    double or a string of digits, as some SDKs send them); anything else rejects the span."""
    for name in names:
        value = attributes.get(name)
        if value is None:
            continue
        scalar = _scalar(value)
        if isinstance(scalar, bool) or scalar is None:
            raise SpanRejected(f"{name} is not a number of tokens")
        if isinstance(scalar, float):
            if not math.isfinite(scalar) or not scalar.is_integer():
                raise SpanRejected(f"{name} is not a whole number of tokens ({scalar})")
            scalar = int(scalar)
        if isinstance(scalar, str):
            if not (scalar.strip().isascii() and scalar.strip().isdigit()):
                raise SpanRejected(f"{name} is not a number of tokens ({scalar[:32]!r})")
            scalar = int(scalar.strip())
        if scalar < 0:
            raise SpanRejected(f"{name} is negative ({scalar})")
        return scalar, name
    return None


def _hex_id(raw: bytes, size: int) -> str | None:
    return raw.hex() if len(raw) == size and any(raw) else None


def _timestamp(span: Span) -> str | None:
    nanos = span.end_time_unix_nano or span.start_time_unix_nano
    if not nanos:
        return None  # no time on the span: the time of receipt, as for an event without one
    # A uint64 of nanoseconds ends in 2554: always a datetime (ingest refuses one in the future).
    at = _EPOCH + timedelta(microseconds=nanos // 1000)
    return at.isoformat().replace("+00:00", "Z")


def is_genai(attributes: Mapping[str, AnyValue]) -> bool:
    """A span recording one model call: a token count, a model, and not an operation that sums others."""
    if not any(name in attributes for name in INPUT_TOKENS + OUTPUT_TOKENS):
        return False
    if _first_text(MODEL, ("span", attributes)) is None:
        return False
    return _operation(attributes) not in AGGREGATE_OPERATIONS


def _operation(attributes: Mapping[str, AnyValue]) -> str | None:
    value = attributes.get(OPERATION)
    return _text(value) if value is not None else None


def map_span(span: Span, resource: Mapping[str, AnyValue], settings: Settings) -> MappedSpan | None:
    """The usage event a GenAI span records; None for a span that is not a GenAI call. Raises
    `SpanRejected` for a GenAI span that cannot be one (no span id, counts that are not numbers)."""
    attributes = _attributes(span.attributes)
    if not is_genai(attributes):
        return None
    span_id = _hex_id(span.span_id, 8)
    if span_id is None:
        raise SpanRejected("it has no valid span id (8 bytes, not all zero)")
    model = _first_text(MODEL, ("span", attributes))
    assert model is not None  # is_genai
    event: dict[str, Any] = {"request_id": span_id, "model": model[0]}
    sources = {"request_id": "span id", "model": model[1]}

    provider = _first_text(PROVIDER, ("span", attributes))
    # Only a hint: one that is no provider name is left out rather than rejecting the span.
    if provider is not None and _PROVIDER_NAME.fullmatch(provider[0]):
        event["provider"], sources["provider"] = provider

    input_tokens, output_tokens = _count(attributes, INPUT_TOKENS), _count(attributes, OUTPUT_TOKENS)
    read, written = _count(attributes, CACHE_READ_TOKENS), _count(attributes, CACHE_WRITE_TOKENS)
    reasoning = _count(attributes, REASONING_TOKENS)
    cache_parts = (read[0] if read else 0) + (written[0] if written else 0)
    if input_tokens is not None:
        prompt = input_tokens[0]
        if cache_parts > prompt:  # this instrumentation counts the cache apart from the input
            prompt += cache_parts
        event["prompt_tokens"], sources["prompt_tokens"] = prompt, f"span attribute {input_tokens[1]}"
    if output_tokens is not None:
        completion = output_tokens[0]
        if reasoning is not None and reasoning[0] > completion:  # reasoning left out of the output
            completion += reasoning[0]
        event["completion_tokens"] = completion
        sources["completion_tokens"] = f"span attribute {output_tokens[1]}"
    elif _operation(attributes) == EMBEDDINGS:
        event["completion_tokens"], sources["completion_tokens"] = 0, "an embeddings call (no output)"
    for name, found in (("cached_tokens", read), ("cache_write_tokens", written)):
        if found is not None and found[0]:
            event[name], sources[name] = found[0], f"span attribute {found[1]}"

    scopes = (("span", attributes), ("resource", resource))
    customer = _first_text(settings.otlp_customer_attribute_names(), *scopes)
    if customer is not None:
        event["customer_id"], sources["customer_id"] = customer
    feature = _first_text(settings.otlp_feature_attribute_names(), *scopes)
    if feature is not None:
        event["feature"], sources["feature"] = feature

    timestamp = _timestamp(span)
    if timestamp is not None:
        event["timestamp"], sources["timestamp"] = timestamp, "the span's end time"
    metadata = {"span_name": span.name[:MAX_SPAN_NAME]}
    trace_id = _hex_id(span.trace_id, 16)
    if trace_id is not None:
        metadata = {"trace_id": trace_id, **metadata}
    event["metadata"] = metadata
    return MappedSpan(span_id, event, sources)


def spans_of(request: ExportTraceServiceRequest) -> Iterator[tuple[Span, dict[str, AnyValue]]]:
    """Every span of the export with its resource's attributes."""
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield span, resource


def _reason(error: Mapping[str, str], mapped: MappedSpan, settings: Settings) -> str:
    """Why ingest rejected the span's event, in the span's terms (attribute names, not event fields)."""
    parts = error.get("pointer", "").split("/")  # /events/{index}/{field}/...
    name = parts[3] if len(parts) > 3 else ""
    detail = error.get("detail", "rejected")
    if name == "customer_id" and "customer_id" not in mapped.event:
        names = ", ".join(settings.otlp_customer_attribute_names()) or "(none configured)"
        return (
            f"no customer: none of the attributes {names} is set on the span or its resource "
            "(STRICT_CUSTOMER_ID=true; MARGINLENS_OTLP_CUSTOMER_ATTRIBUTES names them)"
        )
    if name in ("prompt_tokens", "completion_tokens") and name not in mapped.event:
        names = ", ".join(INPUT_TOKENS if name == "prompt_tokens" else OUTPUT_TOKENS)
        return f"no {names} attribute (STRICT_TOKEN_COUNTS=true)"
    return f"{mapped.sources.get(name, name or 'the span')}: {detail}"


def ingest_export(
    data: bytes,
    media_type: str,
    *,
    settings: Settings,
    ledger: Ledger,
    prices: Callable[[], PriceBook],
    now: datetime,
    key_id: str | None,
    arrived_at: datetime | None = None,
) -> ExportOutcome:
    """Decode an export (raising `OtlpDecodeError`), record its GenAI spans as usage events through
    `ingest` and say what became of every span. `prices` is called only if there is usage to price."""
    request = decode(data, media_type)
    outcome = ExportOutcome()
    mapped: list[tuple[int, MappedSpan]] = []
    rejected: list[tuple[int, RejectedSpan]] = []  # by position in the export, for the message
    for position, (span, resource) in enumerate(spans_of(request)):
        outcome.spans += 1
        try:
            found = map_span(span, resource, settings)
        except SpanRejected as error:
            outcome.genai_spans += 1
            rejected.append((position, RejectedSpan(_hex_id(span.span_id, 8), str(error))))
            continue
        if found is None:
            outcome.ignored_spans += 1
        else:
            outcome.genai_spans += 1
            mapped.append((position, found))

    book = prices() if mapped else None
    for start in range(0, len(mapped), MAX_BATCH):
        batch = mapped[start : start + MAX_BATCH]
        assert book is not None
        result = ingest(
            {"events": [one.event for _, one in batch]},
            settings=settings,
            ledger=ledger,
            prices=book,
            now=now,
            key_id=key_id,
            arrived_at=arrived_at,
        )
        for (position, one), answer in zip(batch, result.results, strict=True):
            status = answer["status"]
            if status == "created":
                outcome.created += 1
            elif status == "duplicate":
                outcome.duplicates += 1
            elif status == "conflict":
                reason = "its span id was already recorded as usage with other content; nothing changed"
                rejected.append((position, RejectedSpan(one.span_id, reason)))
            else:
                rejected.append(
                    (position, RejectedSpan(one.span_id, _reason(answer["error"], one, settings)))
                )
    outcome.rejected = [one for _, one in sorted(rejected, key=lambda found: found[0])]

    for name, value in (
        ("OtlpSpansGenAI", outcome.genai_spans),
        ("OtlpSpansIgnored", outcome.ignored_spans),
        ("OtlpSpansRejected", len(outcome.rejected)),
    ):
        if value:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    log = logger.warning if outcome.rejected else logger.info
    log("otlp export", encoding=media_type, **outcome.log_fields())
    return outcome
