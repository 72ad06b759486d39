"""A LiteLLM callback: `litellm.callbacks = [MarginLensLogger(marginlens)]` tracks every successful
call, with `customer_id` and `feature` read from the call's `metadata` (or the current context).

    litellm.completion(model="gpt-4o-mini", messages=[...],
                       metadata={"customer_id": "acct_123", "feature": "summarize"})
"""

from __future__ import annotations

from typing import Any

from marginlens_sdk._client import MarginLens
from marginlens_sdk.providers import from_openai_chat

try:  # LiteLLM is optional: the class works (duck-typed) without it
    from litellm.integrations.custom_logger import CustomLogger as _Base
except ImportError:  # pragma: no cover - exercised where litellm is absent
    _Base = object


class MarginLensLogger(_Base):  # type: ignore[misc]
    def __init__(self, marginlens: MarginLens) -> None:
        super().__init__()
        self.marginlens = marginlens

    def _track(self, kwargs: dict[str, Any], response: Any) -> None:
        params = kwargs.get("litellm_params") or {}
        metadata = dict(params.get("metadata") or kwargs.get("metadata") or {})
        try:
            usage = from_openai_chat(response)  # LiteLLM answers in OpenAI's shape, whatever the provider
        except Exception as error:
            self.marginlens.count_invalid(f"unreadable usage: {error}")  # counted, never raised
            return
        provider = params.get("custom_llm_provider")
        fields: dict[str, Any] = {**usage, "provider": provider or usage["provider"]}
        if kwargs.get("model"):
            fields["model"] = kwargs["model"]
        if metadata.get("feature"):
            fields["feature"] = metadata["feature"]
        self.marginlens.track(metadata.get("customer_id"), **fields)

    def log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._track(kwargs, response_obj)

    async def async_log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._track(kwargs, response_obj)
