"""Who a model call is for: `with marginlens_sdk.context(customer_id=..., feature=...):` sets it for
the code inside (threads and asyncio tasks each see their own, as contextvars do)."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

# None outside any context(): a shared mutable default would leak between scopes.
_CURRENT: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "marginlens_context", default=None
)


@contextlib.contextmanager
def context(customer_id: str | None = None, feature: str | None = None, **metadata: Any) -> Iterator[None]:
    """Calls tracked inside (by `track`, the wrappers, the LiteLLM callback) default to these."""
    outer = _CURRENT.get() or {}
    inner = dict(outer)
    if customer_id is not None:
        inner["customer_id"] = customer_id
    if feature is not None:
        inner["feature"] = feature
    if metadata:
        inner["metadata"] = {**outer.get("metadata", {}), **metadata}
    token = _CURRENT.set(inner)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current_context() -> dict[str, Any]:
    return _CURRENT.get() or {}
