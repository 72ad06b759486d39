"""OTLP exports through `usage.otlp.ingest_export` on the real ledger: what each GenAI span becomes
(created, duplicate, rejected and why, in the span's own terms), strict and lenient customers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from marginlens.core.settings import Settings
from marginlens.pricing.book import PriceBook
from marginlens.usage.events import UNATTRIBUTED
from marginlens.usage.ledger import Ledger
from marginlens.usage.otlp import PROTOBUF, ExportOutcome, ingest_export
from tests.unit.test_otlp import GENAI, export, span

pytestmark = pytest.mark.integration

NOW = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)  # five minutes after the spans' end (tests.unit.test_otlp)


def send(spans: list[Any], settings: Settings, ledger: Ledger, **resource: Any) -> ExportOutcome:
    return ingest_export(
        export(*spans, resource=resource).SerializeToString(),
        PROTOBUF,
        settings=settings,
        ledger=ledger,
        prices=PriceBook.baseline,
        now=NOW,
        key_id="key_test",
    )


def test_each_genai_span_is_recorded_once_and_the_rest_counted(settings: Settings, ledger: Ledger) -> None:
    spans = [
        span(1, **GENAI, user__id="acct_1"),
        span(2, name="GET /", http__request__method="GET"),
        span(3, **GENAI, user__id="acct_1"),
        span(3, **GENAI, user__id="acct_1"),  # the same span twice in one export
    ]
    first = send(spans, settings, ledger)
    assert (first.spans, first.genai_spans, first.ignored_spans) == (4, 3, 1)
    assert (first.created, first.duplicates, first.rejected) == (2, 1, [])
    stored = ledger.get_event("0000000000000001")
    assert stored is not None and stored["customer_id"] == "acct_1" and int(stored["prompt_tokens"]) == 120

    again = send(spans, settings, ledger)
    assert (again.created, again.duplicates, again.rejected) == (0, 3, [])


def test_rejections_say_why_in_the_spans_terms(settings: Settings, ledger: Ledger) -> None:
    send([span(9, **GENAI, user__id="acct_1")], settings, ledger)
    outcome = send(
        [
            span(5, **GENAI),  # no customer anywhere: strict mode
            span(6, **{**GENAI, "gen_ai__request__model": "../../etc"}, user__id="acct_1"),
            span(7, **GENAI, user__id="acct#1"),  # `#` is no customer id
            span(8, **GENAI, user__id="acct_1", end_ns=1_900_000_000_000_000_000),  # 2030: the future
            span(9, **{**GENAI, "gen_ai__usage__output_tokens": 81}, user__id="acct_1"),  # other content
            span(10, **{**GENAI, "gen_ai__usage__input_tokens": "lots"}, user__id="acct_1"),
        ],
        settings,
        ledger,
    )
    assert outcome.created == 0
    reasons = {rejected.span_id: rejected.reason for rejected in outcome.rejected}
    assert set(reasons) == {f"{n:016x}" for n in range(5, 11)}
    assert reasons[f"{5:016x}"].startswith(
        "no customer: none of the attributes marginlens.customer_id, enduser.id"
    )
    assert reasons[f"{6:016x}"].startswith("span attribute gen_ai.request.model: ")
    assert reasons[f"{7:016x}"].startswith("span attribute user.id: ")
    assert reasons[f"{8:016x}"].startswith("the span's end time: timestamp is more than")
    assert "already recorded as usage with other content" in reasons[f"{9:016x}"]
    assert reasons[f"{10:016x}"] == "gen_ai.usage.input_tokens is not a number of tokens ('lots')"
    message = outcome.error_message()
    assert message.startswith("6 GenAI spans were not recorded as usage: span 0000000000000005: no customer")
    assert message.endswith("; and 1 more")
    assert ledger.get_event(f"{5:016x}") is None


def test_in_lenient_mode_a_span_without_a_customer_is_booked_to_unattributed(
    settings: Settings, ledger: Ledger
) -> None:
    lenient = settings.model_copy(update={"strict_customer_id": False})
    outcome = send([span(1, **GENAI)], lenient, ledger, service__name="checkout")
    assert (outcome.created, outcome.rejected) == (1, [])
    stored = ledger.get_event("0000000000000001")
    assert stored is not None and stored["customer_id"] == UNATTRIBUTED


def test_an_export_without_genai_spans_reads_no_prices(settings: Settings, ledger: Ledger) -> None:
    def no_prices() -> PriceBook:
        raise AssertionError("the price book was read for an export without usage")

    outcome = ingest_export(
        export(span(1, name="GET /", http__request__method="GET")).SerializeToString(),
        PROTOBUF,
        settings=settings,
        ledger=ledger,
        prices=no_prices,
        now=NOW,
        key_id=None,
    )
    assert (outcome.spans, outcome.ignored_spans, outcome.created) == (1, 1, 0)
