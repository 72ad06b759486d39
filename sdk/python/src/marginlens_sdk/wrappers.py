"""`wrap_openai(client, marginlens)` and `wrap_anthropic(client, marginlens)`: every call the client
makes is tracked, with the customer and feature of the current `context(...)`, or of the call's own
`marginlens={"customer_id": ..., "feature": ...}` argument (taken out before the provider sees it).

The wrapped client is the same object; its answers are untouched. Recording never raises into
the app: an unreadable usage is counted in `stats()["invalid"]`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator
from typing import Any, Callable

from marginlens_sdk._client import MarginLens
from marginlens_sdk.providers import (
    from_anthropic,
    from_openai_chat,
    from_openai_responses,
    from_openai_stream,
)


def _record(
    marginlens: MarginLens, reader: Callable[[Any], dict[str, Any]], response: Any, extra: dict[str, Any]
) -> None:
    try:
        usage = reader(response)
    except Exception as error:  # a shape we cannot read: counted, never raised
        marginlens.count_invalid(f"unreadable usage: {error}")
        return
    marginlens.track(extra.get("customer_id"), **{**usage, **_feature(extra)})


def _feature(extra: dict[str, Any]) -> dict[str, Any]:
    return {"feature": extra["feature"]} if extra.get("feature") else {}


def _streamed(marginlens: MarginLens, stream: Any, extra: dict[str, Any]) -> Any:
    """Pass a stream's chunks through, and track its final usage chunk once it ends."""

    class Recorded:
        def __init__(self) -> None:
            self._chunks: list[Any] = []

        def __iter__(self) -> Iterator[Any]:
            for chunk in stream:
                self._chunks.append(chunk)
                yield chunk
            _record(marginlens, from_openai_stream, self._chunks, extra)

        def __getattr__(self, name: str) -> Any:  # close(), response, ... of the SDK's stream
            return getattr(stream, name)

        def __enter__(self) -> Any:
            return self

        def __exit__(self, *exc: Any) -> None:
            close = getattr(stream, "close", None)
            if callable(close):
                close()

    return Recorded()


def _wrap(owner: Any, marginlens: MarginLens, reader: Callable[[Any], dict[str, Any]]) -> None:
    original = owner.create
    if getattr(original, "__marginlens__", False):
        return  # wrapped already: never count a call twice

    if inspect.iscoroutinefunction(original):

        @functools.wraps(original)
        async def create_async(*args: Any, marginlens_: dict[str, Any] | None = None, **kwargs: Any) -> Any:
            extra = dict(kwargs.pop("marginlens", None) or marginlens_ or {})
            response = await original(*args, **kwargs)
            if not kwargs.get("stream"):
                _record(marginlens, reader, response, extra)
            return response

        create_async.__marginlens__ = True  # type: ignore[attr-defined]
        owner.create = create_async
        return

    @functools.wraps(original)
    def create(*args: Any, **kwargs: Any) -> Any:
        extra = dict(kwargs.pop("marginlens", None) or {})
        response = original(*args, **kwargs)
        if kwargs.get("stream"):
            return _streamed(marginlens, response, extra) if reader is from_openai_chat else response
        _record(marginlens, reader, response, extra)
        return response

    create.__marginlens__ = True  # type: ignore[attr-defined]
    owner.create = create


def wrap_openai(client: Any, marginlens: MarginLens) -> Any:
    """Track `client.chat.completions.create` and `client.responses.create` (OpenAI's SDK, or any
    client of an OpenAI-compatible API). A streamed chat call is tracked from its final usage chunk
    (`stream_options={"include_usage": True}`)."""
    _wrap(client.chat.completions, marginlens, from_openai_chat)
    responses = getattr(client, "responses", None)
    if responses is not None and hasattr(responses, "create"):
        _wrap(responses, marginlens, from_openai_responses)
    return client


def wrap_anthropic(client: Any, marginlens: MarginLens) -> Any:
    """Track `client.messages.create` (Anthropic's SDK)."""
    _wrap(client.messages, marginlens, from_anthropic)
    return client
