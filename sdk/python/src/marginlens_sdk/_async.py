"""`AsyncMarginLens`: the same client for asyncio apps. `track()` stays synchronous (it only
queues); `flush()`, `close()` and `guard()` are awaitable and never block the event loop."""

from __future__ import annotations

import asyncio
from typing import Any

from marginlens_sdk._client import BudgetExceeded, MarginLens


class AsyncMarginLens(MarginLens):
    async def flush(self, timeout: float = 30.0) -> bool:  # type: ignore[override]
        return await asyncio.get_running_loop().run_in_executor(None, MarginLens.flush, self, timeout)

    async def close(self, timeout: float = 30.0) -> bool:  # type: ignore[override]
        return await asyncio.get_running_loop().run_in_executor(None, MarginLens.close, self, timeout)

    async def guard(self, customer_id: str | None = None, feature: str | None = None) -> bool:  # type: ignore[override]
        return await asyncio.get_running_loop().run_in_executor(
            None, MarginLens.guard, self, customer_id, feature
        )

    async def guarded_call(
        self,
        fn: Any,
        *args: Any,
        customer_id: str | None = None,
        feature: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if not await self.guard(customer_id, feature):
            raise BudgetExceeded(customer_id, feature)
        result = fn(*args, **kwargs)
        return await result if asyncio.iscoroutine(result) else result

    async def __aenter__(self) -> AsyncMarginLens:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
