"""The Python SDK's provider helpers on recorded response shapes: the event each produces is what
the API contract expects, and the cost the server computes for it equals genai-prices' own
`calc_price` on genai-prices' own reading of the same response (`extract_usage`)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import marginlens_sdk
import pytest
from genai_prices import Usage, calc_price, extract_usage

from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e
RESPONSES = Path(__file__).parent / "responses"
BEDROCK_MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"


def recorded(name: str) -> Any:
    path = RESPONSES / name
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return json.loads(path.read_text())


# (file, the SDK's reader, genai-prices' provider id and API flavor)
CASES = [
    ("openai_chat.json", marginlens_sdk.from_openai_chat, "openai", "chat"),
    ("openai_chat_reasoning.json", marginlens_sdk.from_openai_chat, "openai", "chat"),
    ("openai_responses.json", marginlens_sdk.from_openai_responses, "openai", "responses"),
    ("anthropic.json", marginlens_sdk.from_anthropic, "anthropic", "default"),
    ("gemini.json", marginlens_sdk.from_gemini, "google", "default"),
    (
        "bedrock_converse.json",
        lambda r: marginlens_sdk.from_bedrock_converse(r, BEDROCK_MODEL),
        "aws",
        "default",
    ),
]


def reference(response: Any, provider: str, flavor: str, model: str | None = None) -> tuple[Usage, Decimal]:
    """genai-prices' reading of the response and its price."""
    extracted = extract_usage(response, provider_id=provider, api_flavor=flavor)
    if extracted.model is not None:
        return extracted.usage, extracted.calc_price().total_price
    assert model is not None
    return extracted.usage, calc_price(extracted.usage, model, provider_id=provider).total_price


def assert_same_buckets(event: dict[str, Any], usage: Usage) -> None:
    """The SDK's event carries genai-prices' buckets as the contract wants them: the whole input,
    the whole output (reasoning and thinking included), the cache parts apart."""
    assert event["prompt_tokens"] == usage.input_tokens
    assert event["completion_tokens"] == usage.output_tokens
    assert event.get("cached_tokens", 0) == (usage.cache_read_tokens or 0)
    assert event.get("cache_write_tokens", 0) == (usage.cache_write_tokens or 0)


def post(stack: RunningStack, event: dict[str, Any], request_id: str) -> Decimal:
    with stack.client() as client:
        body = {"request_id": request_id, "customer_id": "sdk_helpers", **event}
        answer = client.post("/v1/usage", json=body)
        assert answer.status_code == 200, answer.text
        (result,) = answer.json()["results"]
        assert result["status"] == "created" and result["price_status"] == "priced", result
        return Decimal(result["cost"])


@pytest.mark.parametrize(("name", "reader", "provider", "flavor"), CASES, ids=[case[0] for case in CASES])
def test_each_helper_produces_the_contracts_event_and_the_servers_cost_is_genai_prices(
    local_stack: RunningStack, name: str, reader: Any, provider: str, flavor: str
) -> None:
    response = recorded(name)
    event = reader(response)
    usage, expected = reference(response, provider, flavor, model=event["model"])
    assert_same_buckets(event, usage)
    assert marginlens_sdk.usage_of(response, model=BEDROCK_MODEL if "bedrock" in name else None) == event
    assert post(local_stack, event, f"helper-{name.split('.')[0]}") == expected


def test_a_streamed_response_is_read_from_its_final_usage_chunk(local_stack: RunningStack) -> None:
    chunks = recorded("openai_stream.jsonl")
    event = marginlens_sdk.from_openai_stream(chunks)
    usage, expected = reference(chunks[-1], "openai", "chat", model=chunks[0]["model"])
    assert_same_buckets(event, usage)
    assert event["model"] == "gpt-4o-2024-08-06"
    assert (
        post(local_stack, event, "helper-stream")
        == calc_price(usage, event["model"], provider_id="openai").total_price
    )
    assert expected == calc_price(usage, event["model"], provider_id="openai").total_price


def test_a_stream_without_usage_is_refused_clearly() -> None:
    chunks = [chunk for chunk in recorded("openai_stream.jsonl") if not chunk.get("usage")]
    with pytest.raises(ValueError, match="include_usage"):
        marginlens_sdk.from_openai_stream(chunks)


def test_helpers_read_the_providers_sdk_objects_too() -> None:
    from anthropic.types import Message
    from openai.types.chat import ChatCompletion

    chat = ChatCompletion.model_validate(recorded("openai_chat.json"))
    assert marginlens_sdk.from_openai_chat(chat) == marginlens_sdk.from_openai_chat(
        recorded("openai_chat.json")
    )
    message = Message.model_validate(recorded("anthropic.json"))
    assert marginlens_sdk.from_anthropic(message)["prompt_tokens"] == 50 + 2048 + 6144
