"""OTLP/HTTP trace ingestion over real HTTP: OpenTelemetry's own SDK (TracerProvider, span processors)
and its OTLP/HTTP exporter, pointed at the local stack's `/v1/otlp/v1/traces` with an ingest key.

GenAI spans become priced usage events (genai-prices' `calc_price` is the referee), every other span
is ignored, a re-export of the same spans creates nothing, and the JSON encoding, gzip and the
refusals behave as OTLP/HTTP says."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from genai_prices import Usage, calc_price
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.e2e.conftest import RunningStack, wait_until
from tests.e2e.test_api import new_key

pytestmark = pytest.mark.e2e

PATH = "/v1/otlp/v1/traces"
PROTOBUF = "application/x-protobuf"
PROBLEM = "application/problem+json"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def hex_id(one: ReadableSpan) -> str:
    context = one.get_span_context()
    assert context is not None
    return format(context.span_id, "016x")


def trace_hex(one: ReadableSpan) -> str:
    context = one.get_span_context()
    assert context is not None
    return format(context.trace_id, "032x")


class Recorder:
    """A TracerProvider exporting to MarginLens through the real OTLP/HTTP exporter, keeping a copy of
    every finished span (the same ReadableSpan objects) to export again."""

    def __init__(
        self,
        stack: RunningStack,
        key: str,
        resource: dict[str, Any],
        *,
        batch: bool,
        compression: Compression = Compression.NoCompression,
    ) -> None:
        self.exporter = OTLPSpanExporter(
            endpoint=stack.url + PATH,
            headers={"Authorization": f"Bearer {key}"},
            compression=compression,
            timeout=60,
        )
        self.kept = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create(resource))
        processor = BatchSpanProcessor(self.exporter) if batch else SimpleSpanProcessor(self.exporter)
        self.provider.add_span_processor(processor)
        self.provider.add_span_processor(SimpleSpanProcessor(self.kept))
        self.tracer = self.provider.get_tracer("tests.e2e.otlp")

    def spans(self) -> tuple[ReadableSpan, ...]:
        return self.kept.get_finished_spans()

    def flush(self) -> None:
        assert self.provider.force_flush(timeout_millis=60_000)

    def shutdown(self) -> None:
        self.provider.shutdown()


@pytest.fixture
def ingest_key(local_stack: RunningStack) -> str:
    return new_key(local_stack, "ingest")


@pytest.fixture
def recorders(local_stack: RunningStack, ingest_key: str) -> Iterator[list[Recorder]]:
    made: list[Recorder] = []
    yield made
    for recorder in made:
        recorder.shutdown()


def emit_checkout(recorder: Recorder) -> dict[str, ReadableSpan]:
    """An HTTP request whose handler calls two models (one with a prompt cache) and a database, and an
    agent span summing calls (not a model call of its own)."""
    tracer = recorder.tracer
    with tracer.start_as_current_span("POST /checkout", kind=SpanKind.SERVER) as request:
        request.set_attribute("http.request.method", "POST")
        request.set_attribute("enduser.id", "acct_parent_only")  # on the parent: not the LLM span's
        with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT) as openai:
            openai.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                    "gen_ai.usage.input_tokens": 1200,
                    "gen_ai.usage.output_tokens": 300,
                    "gen_ai.usage.cache_read.input_tokens": 1000,
                    "marginlens.feature": "summarize",
                }
            )
        with tracer.start_as_current_span("anthropic.chat", kind=SpanKind.CLIENT) as anthropic:
            anthropic.set_attributes(  # OpenLLMetry's older attribute names
                {
                    "gen_ai.system": "Anthropic",
                    "gen_ai.request.model": "claude-3-5-sonnet-20240620",
                    "gen_ai.usage.prompt_tokens": 2000,
                    "gen_ai.usage.completion_tokens": 150,
                    "gen_ai.usage.cache_read_input_tokens": 1500,
                    "gen_ai.usage.cache_creation_input_tokens": 400,
                    "llm.request.type": "chat",
                }
            )
        with tracer.start_as_current_span("SELECT orders", kind=SpanKind.CLIENT) as query:
            query.set_attribute("db.system.name", "postgresql")
        with tracer.start_as_current_span("invoke_agent planner") as agent:
            agent.set_attributes(
                {
                    "gen_ai.operation.name": "invoke_agent",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 3200,
                    "gen_ai.usage.output_tokens": 450,
                }
            )
    return {one.name: one for one in recorder.spans()}


def emit_support(recorder: Recorder) -> dict[str, ReadableSpan]:
    """A service whose resource names no customer: one call names it on the span, one does not."""
    tracer = recorder.tracer
    with tracer.start_as_current_span("generate_content gemini-1.5-flash", kind=SpanKind.CLIENT) as gemini:
        gemini.set_attributes(
            {
                "gen_ai.operation.name": "generate_content",
                "gen_ai.provider.name": "gcp.gemini",
                "gen_ai.request.model": "gemini-1.5-flash",
                "gen_ai.usage.input_tokens": 800,
                "gen_ai.usage.output_tokens": 200,
                "enduser.id": "acct_span",
            }
        )
    with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as nobody:
        nobody.set_attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 50,
                "gen_ai.usage.output_tokens": 5,
            }
        )
    with tracer.start_as_current_span("GET /health", kind=SpanKind.SERVER):
        pass
    return {one.name: one for one in recorder.spans()}


def priced(usage: Usage, model: str, provider: str) -> Decimal:
    return calc_price(usage, model, provider_id=provider).total_price


def pnl_totals(stack: RunningStack) -> dict[str, Any]:
    with stack.client() as admin:
        answer = admin.get(
            "/v1/pnl", params={"month": datetime.now(UTC).strftime("%Y-%m"), "consistent": "true"}
        )
    assert answer.status_code == 200, answer.text
    totals: dict[str, Any] = answer.json()["totals"]
    return totals


def stored(stack: RunningStack, span_id: str) -> httpx.Response:
    with stack.client() as admin:
        return admin.get(f"/v1/usage/{span_id}")


def otlp_json(spans: Sequence[ReadableSpan]) -> bytes:
    """The exporter's own request in OTLP/JSON: protobuf's JSON mapping with hex ids, integer enums."""
    document = json.loads(json_format.MessageToJson(encode_spans(spans), use_integers_for_enums=True))
    for resource_spans in document["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for one in scope_spans["spans"]:
                for name in ("traceId", "spanId", "parentSpanId"):
                    if name in one:
                        one[name] = base64.b64decode(one[name]).hex()
    return json.dumps(document).encode()


def test_the_sdks_exporter_creates_exactly_the_genai_events_priced_and_a_re_export_creates_none(
    local_stack: RunningStack, ingest_key: str, recorders: list[Recorder]
) -> None:
    checkout = Recorder(
        local_stack,
        ingest_key,
        {"service.name": "checkout", "marginlens.customer_id": "acct_resource"},
        batch=True,
    )
    support = Recorder(
        local_stack, ingest_key, {"service.name": "support"}, batch=False, compression=Compression.Gzip
    )
    recorders += [checkout, support]
    first = emit_checkout(checkout)
    checkout.flush()  # the batch processor's one export, sent now
    second = emit_support(support)  # the simple processor exports each span as it ends, gzipped

    expected = {
        hex_id(first["chat gpt-4o-mini"]): (
            "acct_resource",  # the resource's marginlens.customer_id
            "summarize",
            priced(
                Usage(input_tokens=1200, cache_read_tokens=1000, output_tokens=300), "gpt-4o-mini", "openai"
            ),
            (1200, 300, 1000, 0),
        ),
        hex_id(first["anthropic.chat"]): (
            "acct_resource",
            "default",
            priced(
                Usage(input_tokens=2000, cache_read_tokens=1500, cache_write_tokens=400, output_tokens=150),
                "claude-3-5-sonnet-20240620",
                "anthropic",
            ),
            (2000, 150, 1500, 400),
        ),
        hex_id(second["generate_content gemini-1.5-flash"]): (
            "acct_span",  # the span's own enduser.id
            "generate_content",  # gen_ai.operation.name
            priced(Usage(input_tokens=800, output_tokens=200), "gemini-1.5-flash", "google"),
            (800, 200, 0, 0),
        ),
    }
    everything = {**first, **second}
    for name, one in everything.items():
        answer = stored(local_stack, hex_id(one))
        if hex_id(one) not in expected:  # not a model call, an agent's sum, or no customer (strict mode)
            assert answer.status_code == 404, (name, answer.text)
            continue
        assert answer.status_code == 200, (name, answer.text)
        event = answer.json()
        customer, feature, cost, tokens = expected[hex_id(one)]
        assert event["request_id"] == hex_id(one) and len(event["request_id"]) == 16
        assert (event["customer_id"], event["feature"]) == (customer, feature)
        assert event["price_status"] == "priced" and Decimal(event["cost"]) == cost, name
        assert (
            event["prompt_tokens"],
            event["completion_tokens"],
            event["cached_tokens"],
            event["cache_write_tokens"],
        ) == tokens
        assert event["metadata"] == {"trace_id": trace_hex(one), "span_name": name}
        end = EPOCH + timedelta(microseconds=(one.end_time or 0) // 1000)
        assert datetime.fromisoformat(event["timestamp"]) == end

    totals = pnl_totals(local_stack)
    assert totals["events"] == 3
    assert Decimal(totals["cost"]) == sum(cost for _, _, cost, _ in expected.values())

    # The same ReadableSpan objects through another exporter: every GenAI span is a duplicate.
    again = OTLPSpanExporter(
        endpoint=local_stack.url + PATH, headers={"Authorization": f"Bearer {ingest_key}"}
    )
    assert again.export(list(everything.values())) == SpanExportResult.SUCCESS
    again.shutdown()
    with httpx.Client(base_url=local_stack.url, timeout=60) as client:
        answer = client.post(
            PATH,
            content=encode_spans(list(everything.values())).SerializeToString(),
            headers={"Authorization": f"Bearer {ingest_key}", "Content-Type": PROTOBUF},
        )
    assert answer.status_code == 200 and answer.headers["content-type"] == PROTOBUF
    assert answer.headers["x-marginlens-spans"] == str(len(everything))
    assert answer.headers["x-marginlens-events-created"] == "0"
    assert answer.headers["x-marginlens-events-duplicate"] == "3"
    assert answer.headers["x-marginlens-ignored-spans"] == str(len(everything) - 4)
    response = ExportTraceServiceResponse.FromString(answer.content)
    assert response.partial_success.rejected_spans == 1  # the span without a customer, strict mode
    assert hex_id(second["chat gpt-4o"]) in response.partial_success.error_message
    assert "no customer" in response.partial_success.error_message
    assert pnl_totals(local_stack)["events"] == 3


def test_the_json_encoding_creates_the_same_events_as_protobuf(
    local_stack: RunningStack, ingest_key: str, recorders: list[Recorder]
) -> None:
    """Spans sent first as OTLP/JSON, then as protobuf: the second is all duplicates (not conflicts),
    so both encodings read the spans into the same events."""
    offline = TracerProvider(resource=Resource.create({"service.name": "json", "user.id": "acct_json"}))
    kept = InMemorySpanExporter()
    offline.add_span_processor(SimpleSpanProcessor(kept))
    spans = emit_reasoning_and_embeddings(offline, kept)
    headers = {"Authorization": f"Bearer {ingest_key}"}
    with httpx.Client(base_url=local_stack.url, headers=headers, timeout=60) as client:
        as_json = client.post(PATH, content=otlp_json(spans), headers={"Content-Type": "application/json"})
        assert as_json.status_code == 200, as_json.text
        assert as_json.headers["content-type"] == "application/json"
        assert as_json.json() == {}  # every GenAI span recorded: partial_success unset
        assert as_json.headers["x-marginlens-events-created"] == "2"
        assert as_json.headers["x-marginlens-ignored-spans"] == "1"

        as_protobuf = client.post(
            PATH,
            content=gzip.compress(encode_spans(spans).SerializeToString()),
            headers={"Content-Type": PROTOBUF, "Content-Encoding": "gzip"},
        )
        assert as_protobuf.status_code == 200 and as_protobuf.content == b""
        assert as_protobuf.headers["x-marginlens-events-duplicate"] == "2"
        assert as_protobuf.headers["x-marginlens-events-created"] == "0"

    reasoning = stored(local_stack, hex_id(next(one for one in spans if one.name == "chat o3-mini"))).json()
    assert reasoning["customer_id"] == "acct_json" and reasoning["completion_tokens"] == 900
    assert Decimal(reasoning["cost"]) == priced(
        Usage(input_tokens=400, output_tokens=900), "o3-mini", "openai"
    )
    assert pnl_totals(local_stack)["events"] == 2
    offline.shutdown()


def emit_reasoning_and_embeddings(provider: TracerProvider, kept: InMemorySpanExporter) -> list[ReadableSpan]:
    tracer = provider.get_tracer("tests.e2e.otlp.json")
    with tracer.start_as_current_span("POST /ask") as parent:
        parent.set_attribute("http.request.method", "POST")
        with tracer.start_as_current_span("chat o3-mini") as reasoning:
            reasoning.set_attributes(
                {
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "o3-mini",
                    "gen_ai.usage.input_tokens": 400,
                    "gen_ai.usage.output_tokens": 900,
                    "gen_ai.usage.reasoning.output_tokens": 700,  # part of the output
                }
            )
        with tracer.start_as_current_span("embeddings text-embedding-3-small") as embedding:
            embedding.set_attributes(
                {
                    "gen_ai.operation.name": "embeddings",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "text-embedding-3-small",
                    "gen_ai.usage.input_tokens": 64,
                }
            )
    finished = list(kept.get_finished_spans())
    assert len(finished) == 3
    return finished


def test_otlp_refusals_are_what_otlp_clients_expect(local_stack: RunningStack, ingest_key: str) -> None:
    body = encode_spans([]).SerializeToString()
    with httpx.Client(base_url=local_stack.url, timeout=60) as client:

        def post(content: bytes, key: str = ingest_key, **headers: str) -> httpx.Response:
            return client.post(PATH, content=content, headers={"Authorization": f"Bearer {key}", **headers})

        empty = post(body, **{"Content-Type": PROTOBUF})
        assert empty.status_code == 200 and empty.headers["x-marginlens-spans"] == "0"

        wrong_type = post(b"{}", **{"Content-Type": "text/plain"})
        assert wrong_type.status_code == 415 and wrong_type.headers["content-type"] == PROBLEM
        assert wrong_type.json()["type"].endswith("/unsupported-media-type")
        wrong_encoding = post(b"{}", **{"Content-Type": "application/json", "Content-Encoding": "br"})
        assert wrong_encoding.status_code == 415

        for content, media in (
            (b"\xff\xff\xff\xff not protobuf", PROTOBUF),
            (b'{"resourceSpans": [', "application/json"),
            (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "zz!"}]}]}]}', "application/json"),
        ):
            garbage = post(content, **{"Content-Type": media})
            assert garbage.status_code == 400 and garbage.headers["content-type"] == PROBLEM, garbage.text
        not_gzip = post(b"plain", **{"Content-Type": PROTOBUF, "Content-Encoding": "gzip"})
        assert not_gzip.status_code == 400

        bomb = gzip.compress(b"\0" * (21 * 1024 * 1024))  # 20 KB that inflate past the 20 MiB bound
        too_large = post(bomb, **{"Content-Type": PROTOBUF, "Content-Encoding": "gzip"})
        assert too_large.status_code == 413 and too_large.json()["type"].endswith("/body-too-large")

        read_only = post(body, key=new_key(local_stack, "read"), **{"Content-Type": PROTOBUF})
        assert read_only.status_code == 403 and read_only.headers["content-type"] == PROBLEM
        anonymous = client.post(PATH, content=body, headers={"Content-Type": PROTOBUF})
        assert anonymous.status_code == 401

    # The SDK's exporter, given a read-only key: a failed export (not retried), nothing recorded.
    exporter = OTLPSpanExporter(
        endpoint=local_stack.url + PATH, headers={"Authorization": f"Bearer {new_key(local_stack, 'read')}"}
    )
    provider = TracerProvider()
    kept = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(kept))
    with provider.get_tracer("refused").start_as_current_span("chat gpt-4o-mini") as one:
        one.set_attributes(
            {
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 1,
                "gen_ai.usage.output_tokens": 1,
                "user.id": "acct_x",
            }
        )
    (finished,) = kept.get_finished_spans()
    assert exporter.export([finished]) == SpanExportResult.FAILURE
    assert stored(local_stack, hex_id(finished)).status_code == 404
    provider.shutdown()
    exporter.shutdown()


def test_a_burst_of_exports_is_recorded_once_each(
    local_stack: RunningStack, ingest_key: str, recorders: list[Recorder]
) -> None:
    """More GenAI spans than one ingest batch (100), through the batch processor's own exports,
    deflate-compressed (the exporter's other compression)."""
    recorder = Recorder(
        local_stack,
        ingest_key,
        {"service.name": "bulk", "enduser.id": "acct_bulk"},
        batch=True,
        compression=Compression.Deflate,
    )
    recorders.append(recorder)
    for number in range(230):
        with recorder.tracer.start_as_current_span(f"chat {number}") as one:
            one.set_attributes(
                {
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 10 + number,
                    "gen_ai.usage.output_tokens": 5,
                }
            )
    recorder.flush()
    spans = recorder.spans()
    assert len(spans) == 230
    expected = sum(
        (priced(Usage(input_tokens=10 + n, output_tokens=5), "gpt-4o-mini", "openai") for n in range(230)),
        Decimal(0),
    )

    def all_recorded() -> dict[str, Any] | None:
        totals = pnl_totals(local_stack)
        return totals if totals["events"] == 230 else None

    totals = wait_until(all_recorded, timeout_s=30)
    assert Decimal(totals["cost"]) == expected
