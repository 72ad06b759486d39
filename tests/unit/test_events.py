"""Event validation: aliases, strict types, timestamps, modes, content identity."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from marginlens.core.settings import Settings
from marginlens.usage.events import UNATTRIBUTED, accept

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SEED = {
    "customer_id": "acct_123",
    "model_name": "gpt-4o-mini",
    "prompt_tokens": 120,
    "completion_tokens": 80,
    "request_id": "req_abc123",
    "timestamp": "2026-02-14T15:04:05Z",
}


def check(raw: Any, **settings: Any) -> tuple[Any, list[str]]:
    accepted, errors = accept(raw, Settings(**settings), NOW)
    return accepted, [error.pointer for error in errors]


def test_seed_payload_is_accepted_verbatim() -> None:
    accepted, errors = check(SEED)
    assert errors == [] and accepted is not None
    assert accepted.wire.model == "gpt-4o-mini" and accepted.prompt_tokens == 120
    assert accepted.occurred_at == datetime(2026, 2, 14, 15, 4, 5, tzinfo=UTC)
    assert accepted.wire.feature == "default" and not accepted.estimated


def test_aliases_give_the_same_content_hash() -> None:
    spelled = {
        "request_id": "r1",
        "customer_id": "c",
        "model": "gpt-4o",
        "input_tokens": 5,
        "output_tokens": 6,
        "cache_read_tokens": 2,
        "event_type": "summarize",
        "timestamp": "2026-11-27T10:00:00+01:00",
    }
    canonical = {
        "request_id": "r1",
        "customer_id": "c",
        "model_name": "gpt-4o",
        "prompt_tokens": 5,
        "completion_tokens": 6,
        "cached_tokens": 2,
        "feature": "summarize",
        "timestamp": "2026-11-27T09:00:00Z",
    }
    first, _ = check(spelled)
    second, _ = check(canonical)
    assert first is not None and second is not None
    assert first.content_hash == second.content_hash
    assert first.wire.feature == "summarize" and first.cached_tokens == 2


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"prompt_tokens": -1}, "/prompt_tokens"),
        ({"prompt_tokens": "120"}, "/prompt_tokens"),
        ({"prompt_tokens": 1.5}, "/prompt_tokens"),
        ({"prompt_tokens": True}, "/prompt_tokens"),
        ({"request_id": ""}, "/request_id"),
        ({"request_id": "has space"}, "/request_id"),
        ({"request_id": "x" * 129}, "/request_id"),
        ({"timestamp": "2026-02-14T15:04:05"}, "/timestamp"),  # no time zone: ambiguous
        ({"timestamp": "yesterday"}, "/timestamp"),
        ({"metadata": {"k": "v" * 3000}}, "/metadata"),
        ({"metadata": {"nested": {"a": 1}}}, "/metadata/nested"),
        ({"cached_tokens": 200}, ""),  # cache parts cannot exceed the whole input
        ({"unknown_field": 1}, "/unknown_field"),
        ({"feature": "bad feature"}, "/feature"),
        ({"revenue_amount": "1.00"}, ""),  # needs a currency
    ],
)
def test_invalid_fields_point_at_the_problem(change: dict[str, Any], pointer: str) -> None:
    accepted, pointers = check({**SEED, **change})
    assert accepted is None
    assert any(found.startswith(pointer) for found in pointers), pointers


def test_missing_request_id_and_customer() -> None:
    _, pointers = check({k: v for k, v in SEED.items() if k != "request_id"})
    assert pointers == ["/request_id"]
    _, pointers = check({k: v for k, v in SEED.items() if k != "customer_id"})
    assert pointers == ["/customer_id"]


def test_lenient_customer_mode_books_to_unattributed() -> None:
    accepted, errors = check({k: v for k, v in SEED.items() if k != "customer_id"}, STRICT_CUSTOMER_ID=False)
    assert errors == [] and accepted is not None and accepted.customer_id == UNATTRIBUTED


def test_timestamp_window() -> None:
    _, pointers = check({**SEED, "timestamp": (NOW + timedelta(minutes=10)).isoformat()})
    assert pointers == ["/timestamp"]
    accepted, _ = check({**SEED, "timestamp": (NOW + timedelta(minutes=4)).isoformat()})
    assert accepted is not None  # small clock skew is fine
    _, pointers = check({**SEED, "timestamp": (NOW - timedelta(days=401)).isoformat()})
    assert pointers == ["/timestamp"]
    _, pointers = check({**SEED, "timestamp": (NOW - timedelta(days=31)).isoformat()}, MAX_EVENT_AGE_DAYS=30)
    assert pointers == ["/timestamp"]


def test_missing_tokens_strict_and_estimated() -> None:
    without = {k: v for k, v in SEED.items() if k not in ("prompt_tokens", "completion_tokens")}
    _, pointers = check(without)
    assert pointers == ["/prompt_tokens", "/completion_tokens"]
    accepted, errors = check(
        {**without, "prompt_chars": 400, "completion_chars": 10}, STRICT_TOKEN_COUNTS=False
    )
    assert errors == [] and accepted is not None and accepted.estimated
    assert (accepted.prompt_tokens, accepted.completion_tokens) == (110, 3)  # ceil(chars / 4 * 1.1)
    _, pointers = check(without, STRICT_TOKEN_COUNTS=False)
    assert pointers == ["/prompt_tokens", "/completion_tokens"]


def test_money_is_never_a_float() -> None:
    accepted, _ = check({**SEED, "revenue_amount": Decimal("0.10"), "revenue_currency": "usd"})
    assert accepted is not None and accepted.wire.revenue_amount == Decimal("0.10")
    _, pointers = check({**SEED, "revenue_amount": 0.1, "revenue_currency": "USD"})
    assert pointers == ["/revenue_amount"]


def test_batch_prefix_points_into_the_batch() -> None:
    accepted, errors = accept({**SEED, "prompt_tokens": -1}, Settings(), NOW, "/events/7")
    assert accepted is None and errors[0].pointer == "/events/7/prompt_tokens"
