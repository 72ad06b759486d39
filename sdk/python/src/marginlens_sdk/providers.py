"""Usage read straight off a provider's response, as MarginLens counts it: `prompt_tokens` is the
whole input (cached and cache-written parts included), `completion_tokens` the whole output
(reasoning and thinking tokens included), and the cache parts apart, so nothing is counted twice.

Each reader takes the response as the provider's SDK returns it (an object) or as JSON (a dict).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def _plain(value: Any) -> Any:
    """SDK objects (pydantic models, dataclass-like) as plain dicts and lists."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    for method in ("model_dump", "to_dict", "dict"):
        dump = getattr(value, method, None)
        if callable(dump):
            try:
                return _plain(dump())
            except TypeError:
                continue
    if hasattr(value, "__dict__"):
        return {key: _plain(item) for key, item in vars(value).items() if not key.startswith("_")}
    return value


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _event(
    model: Any, provider: str, prompt: int, completion: int, cached: int = 0, written: int = 0
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "model": str(model),
        "provider": provider,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
    }
    if cached:
        event["cached_tokens"] = cached
    if written:
        event["cache_write_tokens"] = written
    return event


def from_openai_chat(response: Any) -> dict[str, Any]:
    """OpenAI Chat Completions (and compatible APIs): `prompt_tokens` already holds the cached part,
    `completion_tokens` the reasoning tokens."""
    body = _plain(response)
    usage = body["usage"]
    details = usage.get("prompt_tokens_details") or {}
    return _event(
        body["model"],
        "openai",
        _int(usage.get("prompt_tokens")),
        _int(usage.get("completion_tokens")),
        _int(details.get("cached_tokens")),
    )


def from_openai_responses(response: Any) -> dict[str, Any]:
    """OpenAI Responses API: `input_tokens` (cached part included), `output_tokens` (reasoning included)."""
    body = _plain(response)
    usage = body["usage"]
    details = usage.get("input_tokens_details") or {}
    return _event(
        body["model"],
        "openai",
        _int(usage.get("input_tokens")),
        _int(usage.get("output_tokens")),
        _int(details.get("cached_tokens")),
    )


def from_anthropic(response: Any) -> dict[str, Any]:
    """Anthropic Messages: `input_tokens` leaves out the cache, so the whole input is the sum of
    input, cache read and cache creation tokens."""
    body = _plain(response)
    usage = body["usage"]
    read, written = _int(usage.get("cache_read_input_tokens")), _int(usage.get("cache_creation_input_tokens"))
    return _event(
        body["model"],
        "anthropic",
        _int(usage.get("input_tokens")) + read + written,
        _int(usage.get("output_tokens")),
        read,
        written,
    )


def from_gemini(response: Any, model: str | None = None) -> dict[str, Any]:
    """Google Gemini `generateContent`: thinking tokens (`thoughtsTokenCount`) are billed as output."""
    body = _plain(response)
    usage = body.get("usageMetadata") or body.get("usage_metadata") or {}

    def pick(camel: str, snake: str) -> int:  # the REST API's camelCase, the Python SDK's snake_case
        return _int(usage.get(camel, usage.get(snake)))

    name = model or body.get("modelVersion") or body.get("model_version")
    return _event(
        name,
        "google",
        pick("promptTokenCount", "prompt_token_count"),
        pick("candidatesTokenCount", "candidates_token_count")
        + pick("thoughtsTokenCount", "thoughts_token_count"),
        pick("cachedContentTokenCount", "cached_content_token_count"),
    )


def from_bedrock_converse(response: Any, model_id: str) -> dict[str, Any]:
    """AWS Bedrock Converse: `inputTokens` leaves out the cache, like Anthropic's."""
    usage = _plain(response)["usage"]
    read, written = _int(usage.get("cacheReadInputTokens")), _int(usage.get("cacheWriteInputTokens"))
    return _event(
        model_id,
        "bedrock",
        _int(usage.get("inputTokens")) + read + written,
        _int(usage.get("outputTokens")),
        read,
        written,
    )


def from_openai_stream(chunks: Iterable[Any]) -> dict[str, Any]:
    """A streamed Chat Completion (`stream_options={"include_usage": True}`): the final chunk's usage."""
    last: dict[str, Any] | None = None
    model = None
    for chunk in chunks:
        body = _plain(chunk)
        model = body.get("model") or model
        if body.get("usage"):
            last = body
    if last is None:
        raise ValueError(
            "the stream carried no usage: ask for it with stream_options={'include_usage': True}"
        )
    return from_openai_chat({**last, "model": last.get("model") or model})


def usage_of(response: Any, model: str | None = None) -> dict[str, Any]:
    """Whichever provider's shape `response` has."""
    body = _plain(response)
    if not isinstance(body, dict):
        raise ValueError("not a response object")
    if "usageMetadata" in body or "usage_metadata" in body:
        return from_gemini(body, model)
    usage = body.get("usage") or {}
    if "inputTokens" in usage:
        if model is None:
            raise ValueError("a Bedrock Converse response does not name its model: pass model=")
        return from_bedrock_converse(body, model)
    if "prompt_tokens" in usage:
        return from_openai_chat(body)
    if (
        "cache_read_input_tokens" in usage
        or "cache_creation_input_tokens" in usage
        or body.get("type") == "message"
    ):
        return from_anthropic(body)
    if "input_tokens" in usage:
        return from_openai_responses(body)
    raise ValueError("no usage this SDK knows how to read")
