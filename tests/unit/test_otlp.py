"""OTLP trace exports as usage events: decoding (binary protobuf and OTLP/JSON) and the mapping of
GenAI spans, on requests built with opentelemetry-proto's own generated classes."""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import zlib
from typing import Any

import pytest
from google.protobuf import json_format
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from marginlens.api.problems import Problem
from marginlens.api.request_gate import MAX_OTLP_INFLATED_BYTES, check_otlp_body, inflate
from marginlens.core.settings import Settings
from marginlens.usage.otlp import (
    JSON,
    PROTOBUF,
    ExportOutcome,
    OtlpDecodeError,
    RejectedSpan,
    SpanRejected,
    decode,
    encode_response,
    map_span,
    spans_of,
)

END_NS = 1_767_225_600_123_456_789  # 2026-01-01T00:00:00.123456789Z
TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")


def value(raw: Any) -> AnyValue:
    if isinstance(raw, bool):
        return AnyValue(bool_value=raw)
    if isinstance(raw, int):
        return AnyValue(int_value=raw)
    if isinstance(raw, float):
        return AnyValue(double_value=raw)
    if isinstance(raw, list):
        return AnyValue(array_value=ArrayValue(values=[value(item) for item in raw]))
    return AnyValue(string_value=raw)


def attributes(**pairs: Any) -> list[KeyValue]:
    """Keyword names with `__` for `.`: gen_ai__request__model -> gen_ai.request.model."""
    return [KeyValue(key=name.replace("__", "."), value=value(raw)) for name, raw in pairs.items()]


def span(number: int, name: str = "chat gpt-4o-mini", end_ns: int = END_NS, **pairs: Any) -> Span:
    return Span(
        trace_id=TRACE_ID,
        span_id=number.to_bytes(8, "big"),
        name=name,
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=end_ns - 1_000_000_000 if end_ns else 0,
        end_time_unix_nano=end_ns,
        attributes=attributes(**pairs),
    )


def export(*spans: Span, resource: dict[str, Any] | None = None) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=attributes(**(resource or {}))),
                scope_spans=[ScopeSpans(scope=InstrumentationScope(name="test"), spans=list(spans))],
            )
        ]
    )


GENAI = {
    "gen_ai__request__model": "gpt-4o-mini",
    "gen_ai__usage__input_tokens": 120,
    "gen_ai__usage__output_tokens": 80,
}


def events(
    request: ExportTraceServiceRequest, settings: Settings | None = None
) -> list[dict[str, Any] | None]:
    settings = settings or Settings()
    found = []
    for one, resource in spans_of(request):
        mapped = map_span(one, resource, settings)
        found.append(mapped.event if mapped else None)
    return found


def otlp_json(request: ExportTraceServiceRequest) -> bytes:
    """OTLP/JSON as the specification writes it: protobuf's JSON mapping, but hex trace and span ids."""
    document = json.loads(json_format.MessageToJson(request, use_integers_for_enums=True))
    for resource_spans in document.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for one in scope_spans.get("spans", []):
                for name in ("traceId", "spanId", "parentSpanId"):
                    if name in one:
                        one[name] = base64.b64decode(one[name]).hex()
    return json.dumps(document).encode()


def test_a_genai_span_becomes_the_event_post_usage_takes() -> None:
    request = export(span(0x1F, **GENAI, gen_ai__provider__name="openai", enduser__id="acct_123"))
    assert events(decode(request.SerializeToString(), PROTOBUF)) == [
        {
            "request_id": "000000000000001f",
            "model": "gpt-4o-mini",
            "provider": "openai",
            "prompt_tokens": 120,
            "completion_tokens": 80,
            "customer_id": "acct_123",
            "timestamp": "2026-01-01T00:00:00.123456Z",
            "metadata": {"trace_id": TRACE_ID.hex(), "span_name": "chat gpt-4o-mini"},
        }
    ]


def test_spans_that_are_no_model_call_are_ignored() -> None:
    request = export(
        span(1, name="GET /checkout", http__request__method="GET"),  # not GenAI at all
        span(2, gen_ai__request__model="gpt-4o", gen_ai__operation__name="chat"),  # no token count
        span(3, gen_ai__usage__input_tokens=5, gen_ai__usage__output_tokens=1),  # no model
        span(4, **GENAI, gen_ai__operation__name="invoke_agent"),  # sums the calls made under it
        span(5, **GENAI, gen_ai__operation__name="invoke_workflow"),
        span(6, **GENAI, gen_ai__operation__name="chat"),
    )
    found = events(request)
    assert found[:5] == [None] * 5
    assert found[5] is not None and found[5]["request_id"] == "0000000000000006"


def test_the_json_encoding_reads_the_same_as_protobuf() -> None:
    request = export(
        span(0xABCDEF0123456789, **GENAI, gen_ai__usage__cache_read__input_tokens=20, user__id="u1"),
        span(7, name="db.query", db__system="postgresql"),
        resource={"service__name": "checkout", "marginlens__feature": "summarize"},
    )
    body = otlp_json(request)
    assert b'"spanId": "abcdef0123456789"' in body and b'"kind": 3' in body  # hex ids, integer enums
    from_json = decode(body, JSON)
    assert from_json == request
    assert events(from_json) == events(decode(request.SerializeToString(), PROTOBUF))
    first = events(from_json)[0]
    assert first is not None
    assert first["request_id"] == "abcdef0123456789" and first["cached_tokens"] == 20
    assert first["feature"] == "summarize" and first["customer_id"] == "u1"


def test_json_ids_are_case_insensitive_hex_and_base64_ids_are_accepted_too() -> None:
    request = export(span(0xABCDEF0123456789, **GENAI))
    upper = otlp_json(request).replace(b"abcdef0123456789", b"ABCDEF0123456789")
    assert decode(upper, JSON) == request
    # protobuf's standard JSON mapping (base64 bytes), as some exporters send it
    standard = json_format.MessageToJson(request).encode()
    assert decode(standard, JSON) == request


def test_json_follows_otlp_rules_unknown_fields_ignored_int64_as_strings() -> None:
    document = {
        "resourceSpans": [
            {
                "resource": {"attributes": [], "futureField": 1},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": TRACE_ID.hex(),
                                "spanId": "0102030405060708",
                                "name": "chat",
                                "kind": 3,
                                "endTimeUnixNano": str(END_NS),
                                "attributes": [
                                    {"key": "gen_ai.response.model", "value": {"stringValue": "gpt-4o"}},
                                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "10"}},
                                    {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 3}},
                                ],
                                "somethingNew": {"a": 1},
                            }
                        ]
                    }
                ],
            }
        ]
    }
    (event,) = events(decode(json.dumps(document).encode(), JSON))
    assert event is not None
    assert event["request_id"] == "0102030405060708"
    assert (event["prompt_tokens"], event["completion_tokens"]) == (10, 3)


def test_response_model_beats_request_model_and_provider_name_beats_system() -> None:
    (event,) = events(
        export(
            span(
                1,
                gen_ai__request__model="gpt-4o",
                gen_ai__response__model="gpt-4o-2024-08-06",
                gen_ai__provider__name="azure.ai.openai",
                gen_ai__system="openai",
                gen_ai__usage__input_tokens=1,
                gen_ai__usage__output_tokens=1,
            )
        )
    )
    assert event is not None
    assert event["model"] == "gpt-4o-2024-08-06" and event["provider"] == "azure.ai.openai"

    (older,) = events(export(span(2, **GENAI, gen_ai__system="anthropic", gen_ai__response__model="")))
    assert older is not None
    assert older["provider"] == "anthropic" and older["model"] == "gpt-4o-mini"  # an empty model is no model


def test_a_provider_hint_that_is_no_provider_name_is_left_out() -> None:
    (event,) = events(export(span(1, **GENAI, gen_ai__provider__name="Azure OpenAI (EU)")))
    assert event is not None and "provider" not in event


def test_the_older_openllmetry_token_names_count_too() -> None:
    (event,) = events(
        export(
            span(
                1,
                gen_ai__request__model="claude-3-5-sonnet-20240620",
                gen_ai__system="Anthropic",
                gen_ai__usage__prompt_tokens=1000,
                gen_ai__usage__completion_tokens=50,
                gen_ai__usage__cache_read_input_tokens=600,
                gen_ai__usage__cache_creation_input_tokens=300,
            )
        )
    )
    assert event is not None
    assert (event["prompt_tokens"], event["completion_tokens"]) == (1000, 50)
    assert (event["cached_tokens"], event["cache_write_tokens"]) == (600, 300)


def test_the_current_names_win_over_the_older_ones() -> None:
    (event,) = events(
        export(
            span(
                1,
                gen_ai__request__model="gpt-4o",
                gen_ai__usage__input_tokens=100,
                gen_ai__usage__prompt_tokens=999,
                gen_ai__usage__output_tokens=10,
                gen_ai__usage__completion_tokens=999,
                gen_ai__usage__cache_read__input_tokens=40,
                gen_ai__usage__cache_read_input_tokens=99,
            )
        )
    )
    assert event is not None
    assert (event["prompt_tokens"], event["completion_tokens"], event["cached_tokens"]) == (100, 10, 40)


def test_cache_parts_are_in_the_input_and_added_when_an_instrumentation_left_them_out() -> None:
    included, left_out = events(
        export(
            span(
                1,
                **{**GENAI, "gen_ai__usage__input_tokens": 1000},
                gen_ai__usage__cache_read__input_tokens=800,
            ),
            span(
                2,
                **{
                    **GENAI,
                    "gen_ai__usage__input_tokens": 12,
                },  # Anthropic's own input_tokens: the uncached part
                gen_ai__usage__cache_read__input_tokens=800,
                gen_ai__usage__cache_creation__input_tokens=200,
            ),
        )
    )
    assert included is not None and left_out is not None
    assert (included["prompt_tokens"], included["cached_tokens"]) == (1000, 800)
    assert (left_out["prompt_tokens"], left_out["cached_tokens"], left_out["cache_write_tokens"]) == (
        1012,
        800,
        200,
    )


def test_reasoning_is_in_the_output_and_added_when_left_out() -> None:
    included, left_out = events(
        export(
            span(
                1,
                **{**GENAI, "gen_ai__usage__output_tokens": 500},
                gen_ai__usage__reasoning__output_tokens=400,
            ),
            span(2, **{**GENAI, "gen_ai__usage__output_tokens": 30}, gen_ai__usage__reasoning_tokens=400),
        )
    )
    assert included is not None and left_out is not None
    assert included["completion_tokens"] == 500
    assert left_out["completion_tokens"] == 430


def test_an_embeddings_span_without_an_output_count_has_no_output() -> None:
    embedding, chat = events(
        export(
            span(
                1,
                gen_ai__operation__name="embeddings",
                gen_ai__request__model="text-embedding-3-small",
                gen_ai__usage__input_tokens=64,
            ),
            span(
                2,
                gen_ai__operation__name="chat",
                gen_ai__request__model="gpt-4o",
                gen_ai__usage__input_tokens=64,
            ),
        )
    )
    assert embedding is not None and embedding["completion_tokens"] == 0
    assert chat is not None and "completion_tokens" not in chat  # strict token counts reject it in ingest


def test_counts_sent_as_doubles_or_strings_are_read_and_anything_else_rejects_the_span() -> None:
    (event,) = events(
        export(
            span(
                1,
                gen_ai__request__model="gpt-4o",
                gen_ai__usage__input_tokens=12.0,
                gen_ai__usage__output_tokens="7",
            )
        )
    )
    assert event is not None and (event["prompt_tokens"], event["completion_tokens"]) == (12, 7)
    for bad, why in (
        (1.5, "whole number"),
        (-3, "negative"),
        ("many", "not a number"),
        (True, "not a number"),
    ):
        request = export(span(2, gen_ai__request__model="gpt-4o", gen_ai__usage__input_tokens=bad))
        ((one, resource),) = spans_of(request)
        with pytest.raises(SpanRejected, match=why):
            map_span(one, resource, Settings())


def test_the_customer_is_the_first_attribute_set_each_on_the_span_then_its_resource() -> None:
    request = export(
        span(1, **GENAI, user__id="span-user", marginlens__customer_id="span-marginlens"),
        span(2, **GENAI, user__id="span-user", enduser__id="span-enduser"),  # the list's order
        span(3, **GENAI, user__id="span-user"),  # the span's user.id before the resource's
        span(4, **GENAI, enduser__id=""),  # empty is not set
        span(5, **GENAI),
        resource={"user__id": "resource-user"},
    )
    assert [event["customer_id"] for event in events(request) if event] == [
        "span-marginlens",
        "span-enduser",
        "span-user",
        "resource-user",
        "resource-user",
    ]
    (explicit,) = events(
        export(span(1, **GENAI, enduser__id="span-enduser"), resource={"marginlens__customer_id": "tenant"})
    )
    assert explicit is not None and explicit["customer_id"] == "tenant"  # an earlier name wins anywhere
    (numbered,) = events(export(span(1, **GENAI, user__id=42)))
    assert numbered is not None and numbered["customer_id"] == "42"
    (nobody,) = events(export(span(1, **GENAI)))
    assert nobody is not None and "customer_id" not in nobody  # strict mode rejects it in ingest


def test_the_attribute_lists_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARGINLENS_OTLP_CUSTOMER_ATTRIBUTES", "traceloop.association.properties.customer_id")
    monkeypatch.setenv("MARGINLENS_OTLP_FEATURE_ATTRIBUTES", "app.feature, gen_ai.operation.name")
    request = export(
        span(
            1,
            **GENAI,
            enduser__id="ignored-now",
            traceloop__association__properties__customer_id="acct_9",
            gen_ai__operation__name="chat",
        ),
        resource={"app__feature": "translate"},
    )
    (event,) = events(request, Settings())
    assert event is not None and event["customer_id"] == "acct_9" and event["feature"] == "translate"
    monkeypatch.setenv("MARGINLENS_OTLP_CUSTOMER_ATTRIBUTES", "")
    (nobody,) = events(request, Settings())
    assert nobody is not None and "customer_id" not in nobody


def test_the_feature_defaults_to_the_operation_name() -> None:
    marked, operation, none = events(
        export(
            span(1, **GENAI, marginlens__feature="summarize", gen_ai__operation__name="chat"),
            span(2, **GENAI, gen_ai__operation__name="chat"),
            span(3, **GENAI),
        )
    )
    assert marked is not None and marked["feature"] == "summarize"
    assert operation is not None and operation["feature"] == "chat"
    assert none is not None and "feature" not in none  # the event's own default, `default`


def test_timestamps_are_the_span_end_in_utc() -> None:
    ended, started_only, no_time = events(
        export(
            span(1, **GENAI, end_ns=1_700_000_000_000_000_999),
            Span(
                span_id=(2).to_bytes(8, "big"),
                start_time_unix_nano=1_700_000_000_000_000_000,
                attributes=attributes(**GENAI),
            ),
            Span(span_id=(3).to_bytes(8, "big"), attributes=attributes(**GENAI)),
        )
    )
    assert ended is not None and ended["timestamp"] == "2023-11-14T22:13:20Z"
    assert started_only is not None and started_only["timestamp"] == "2023-11-14T22:13:20Z"
    assert (
        no_time is not None and "timestamp" not in no_time
    )  # the time of receipt, like an event without one
    assert "trace_id" not in no_time["metadata"]  # no trace id on the span


def test_a_genai_span_without_a_valid_span_id_is_rejected() -> None:
    for broken in (
        Span(span_id=bytes(8), attributes=attributes(**GENAI)),
        Span(span_id=b"\x01\x02", attributes=attributes(**GENAI)),
    ):
        ((one, resource),) = spans_of(export(broken))
        with pytest.raises(SpanRejected, match="span id"):
            map_span(one, resource, Settings())


def test_the_latest_time_a_span_can_carry_is_still_a_time() -> None:
    latest = Span(span_id=b"\x01" * 8, end_time_unix_nano=2**64 - 1, attributes=attributes(**GENAI))
    (event,) = events(export(latest))
    assert event is not None and event["timestamp"].startswith("2554-07-21T23:34:33")  # ingest: in the future


def test_the_metadata_holds_the_trace_id_and_a_bounded_span_name() -> None:
    (event,) = events(export(span(1, name="x" * 5000, **GENAI)))
    assert event is not None
    assert event["metadata"] == {"trace_id": TRACE_ID.hex(), "span_name": "x" * 256}


def test_repeated_attributes_keep_the_first_and_arrays_are_no_values() -> None:
    one = span(1, **GENAI)
    one.attributes.append(KeyValue(key="gen_ai.usage.input_tokens", value=AnyValue(int_value=999)))
    one.attributes.append(KeyValue(key="enduser.id", value=value(["a", "b"])))
    one.attributes.append(KeyValue(key="user.id", value=AnyValue(string_value="u2")))
    (event,) = events(export(one))
    assert event is not None and event["prompt_tokens"] == 120 and event["customer_id"] == "u2"


@pytest.mark.parametrize(
    ("body", "media", "slug"),
    [
        (b"\xff\xff\xff\xff garbage", PROTOBUF, "malformed-otlp"),
        (b'{"resourceSpans": [', JSON, "malformed-json"),
        (b"[1, 2]", JSON, "malformed-otlp"),
        (b'{"resourceSpans": [], "resourceSpans": []}', JSON, "duplicate-key"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "not an id!"}]}]}]}',
            JSON,
            "malformed-otlp",
        ),
        (b'{"resourceSpans": "many"}', JSON, "malformed-otlp"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"endTimeUnixNano": "soon"}]}]}]}',
            JSON,
            "malformed-otlp",
        ),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5}]}]}]}', JSON, "malformed-otlp"),
        (b'{"a": NaN}', JSON, "malformed-json"),
    ],
)
def test_a_body_that_is_no_export_request_is_refused(body: bytes, media: str, slug: str) -> None:
    with pytest.raises(OtlpDecodeError) as refused:
        decode(body, media)
    assert refused.value.slug == slug


def test_an_empty_body_is_an_empty_export() -> None:
    assert decode(b"", PROTOBUF) == ExportTraceServiceRequest()
    assert decode(b"", JSON) == ExportTraceServiceRequest()
    assert decode(b"{}", JSON) == ExportTraceServiceRequest()


def test_the_response_is_an_export_response_in_the_requests_encoding() -> None:
    full = ExportOutcome(spans=3, genai_spans=2, ignored_spans=1, created=2)
    assert encode_response(full, PROTOBUF) == b""  # partial_success unset on full success
    assert json.loads(encode_response(full, JSON)) == {}

    partial = ExportOutcome(
        spans=9,
        genai_spans=8,
        rejected=[RejectedSpan(f"{n:016x}", "no customer") for n in range(7)],
    )
    decoded = ExportTraceServiceResponse.FromString(encode_response(partial, PROTOBUF))
    assert decoded.partial_success.rejected_spans == 7
    message = decoded.partial_success.error_message
    assert message.startswith("7 GenAI spans were not recorded as usage: span 0000000000000000: no customer")
    assert message.endswith("; and 2 more")
    as_json = json.loads(encode_response(partial, JSON))
    assert as_json["partialSuccess"] == {"rejectedSpans": "7", "errorMessage": message}


def test_the_gate_inflates_gzip_and_deflate_within_a_bound() -> None:
    data = b"x" * 10_000
    assert inflate(gzip.compress(data), "gzip", 10_000) == data
    assert inflate(gzip.compress(data[:5000]) + gzip.compress(data[5000:]), "gzip", 10_000) == data
    assert inflate(zlib.compress(data), "deflate", 10_000) == data
    assert inflate(data, "identity", 1) == data  # nothing to inflate (the size is bounded before)
    with pytest.raises(Problem) as bomb:
        inflate(gzip.compress(data), "gzip", 9_999)
    assert bomb.value.status == 413
    for broken in (b"not gzip", gzip.compress(data)[:-10], gzip.compress(data) + b"trailing junk"):
        with pytest.raises(Problem) as refused:
            inflate(broken, "gzip", 10_000)
        assert refused.value.status == 400


def _event(body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    return {"headers": headers, "body": base64.b64encode(body).decode(), "isBase64Encoded": True}


def test_the_gate_takes_protobuf_and_json_and_refuses_anything_else() -> None:
    body = export(span(1, **GENAI)).SerializeToString()
    checked = check_otlp_body(
        _event(gzip.compress(body), {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})
    )
    assert checked.media_type == PROTOBUF and checked.data == body
    as_json = check_otlp_body(_event(b"{}", {"content-type": "Application/JSON; charset=utf-8"}))
    assert as_json.media_type == JSON and as_json.data == b"{}"
    for headers, status in (
        ({"content-type": "application/octet-stream"}, 415),
        ({}, 415),
        ({"content-type": "application/x-protobuf", "content-encoding": "br"}, 415),
        ({"content-type": "application/json; charset=utf-16"}, 415),
    ):
        with pytest.raises(Problem) as refused:
            check_otlp_body(_event(body, headers))
        assert refused.value.status == status, headers
    bomb = gzip.compress(b"\0" * (MAX_OTLP_INFLATED_BYTES + 1))
    with pytest.raises(Problem) as too_large:
        check_otlp_body(_event(bomb, {"content-type": "application/x-protobuf", "content-encoding": "gzip"}))
    assert too_large.value.status == 413
    deep = b'{"a":' * 100 + b"1" + b"}" * 100
    with pytest.raises(Problem) as too_deep:
        check_otlp_body(_event(deep, {"content-type": "application/json"}))
    assert too_deep.value.status == 400 and too_deep.value.slug == "body-too-deep"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=30,
)
SPAN_KEYS = st.sampled_from(["traceId", "spanId", "name", "kind", "endTimeUnixNano", "attributes", "links"])


@examples(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=300)
    | st.builds(lambda spans: export(*spans).SerializeToString(), st.just([span(1, **GENAI)]))
)
def test_any_bytes_decode_to_an_export_or_a_refusal(data: bytes) -> None:
    try:
        request = decode(data, PROTOBUF)
    except OtlpDecodeError:
        return
    for one, resource in spans_of(request):
        with contextlib.suppress(SpanRejected):  # a GenAI span that cannot be usage: the one refusal
            map_span(one, resource, Settings())


@examples(max_examples=300, deadline=None)
@given(span_fields=st.dictionaries(SPAN_KEYS, JSON_VALUES, max_size=5), extra=JSON_VALUES)
def test_any_json_decodes_to_an_export_or_a_refusal(span_fields: dict[str, Any], extra: Any) -> None:
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span_fields]}]}], "x": extra}).encode()
    try:
        request = decode(body, JSON)
    except OtlpDecodeError:
        return
    for one, resource in spans_of(request):
        with contextlib.suppress(SpanRejected):  # a GenAI span that cannot be usage: the one refusal
            map_span(one, resource, Settings())
