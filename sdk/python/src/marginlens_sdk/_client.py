"""The MarginLens client: `track()` queues an event and returns at once; a background thread sends
batches to `POST /v1/usage`, retrying what can be retried. Nothing here raises into the app."""

from __future__ import annotations

import atexit
import json
import logging
import os
import random
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
import weakref
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable, Union

from marginlens_sdk._context import current_context

log = logging.getLogger("marginlens_sdk")

MAX_BATCH = 100  # the server's per-request limit
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_RETRYABLE_STATUS = {429, 500, 502, 503, 504}
Number = Union[int, float, Decimal, str]


class BudgetExceeded(Exception):
    """A guarded call refused: the customer, the feature or the organization is over its budget."""

    def __init__(self, customer_id: str | None, feature: str | None) -> None:
        super().__init__(f"over budget (customer {customer_id!r}, feature {feature!r})")
        self.customer_id = customer_id
        self.feature = feature


@dataclass
class Stats:
    """What became of the events tracked so far."""

    sent: int = 0  # created by the server
    duplicates: int = 0  # already stored (a retry after a lost answer): delivered, counted once
    conflicts: int = 0  # same request_id, other content: logged, not retried
    rejected: int = 0  # refused by the server (or the whole request was): logged, not retried
    invalid: int = 0  # refused here, before queueing (a bad argument)
    dropped: int = 0  # the oldest, dropped when the queue was full
    retries: int = 0  # requests sent again (network errors, 429, 5xx)

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Batch:
    events: list[dict[str, Any]]
    attempts: int = 0


@dataclass
class _Blocklist:
    version: int = -1
    blocked: dict[str, Any] = field(default_factory=dict)
    expires: float = 0.0


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _count(value: Any, name: str, required: bool) -> int | None:
    if value is None:
        if required:
            raise ValueError(f"{name} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, not {value!r}")
    return value


def build_event(
    customer_id: Any,
    model: Any,
    prompt_tokens: Any,
    completion_tokens: Any,
    *,
    cached_tokens: Any = None,
    cache_write_tokens: Any = None,
    feature: Any = None,
    request_id: Any = None,
    timestamp: Any = None,
    revenue_amount: Any = None,
    revenue_currency: Any = None,
    metadata: Any = None,
    provider: Any = None,
) -> dict[str, Any]:
    """The event as POST /v1/usage takes it; ValueError names what is wrong."""
    if not isinstance(customer_id, str) or not customer_id:
        raise ValueError(f"customer_id must be a non-empty string, not {customer_id!r}")
    if not isinstance(model, str) or not model:
        raise ValueError(f"model must be a non-empty string, not {model!r}")
    request_id = str(uuid.uuid4()) if request_id is None else request_id
    if not isinstance(request_id, str) or not _REQUEST_ID.match(request_id):
        raise ValueError(f"request_id must be 1-128 characters of A-Za-z0-9._:-, not {request_id!r}")
    event: dict[str, Any] = {
        "request_id": request_id,
        "customer_id": customer_id,
        "model": model,
        "prompt_tokens": _count(prompt_tokens, "prompt_tokens", True),
        "completion_tokens": _count(completion_tokens, "completion_tokens", True),
    }
    for name, value in (("cached_tokens", cached_tokens), ("cache_write_tokens", cache_write_tokens)):
        if _count(value, name, False) is not None:
            event[name] = value
    if feature is not None:
        if not isinstance(feature, str) or not feature:
            raise ValueError(f"feature must be a non-empty string, not {feature!r}")
        event["feature"] = feature
    if provider is not None:
        event["provider"] = str(provider)
    # When the call was made, not when it is delivered: an outage must not move it to another day.
    moment = datetime.now(timezone.utc) if timestamp is None else timestamp
    event["timestamp"] = _iso(moment) if isinstance(moment, datetime) else str(moment)
    if revenue_amount is not None:
        if isinstance(revenue_amount, float):  # money is never binary floating point on the wire
            raise ValueError("revenue_amount must be a Decimal, an int or a decimal string, not a float")
        event["revenue_amount"] = str(Decimal(str(revenue_amount)))
        event["revenue_currency"] = str(revenue_currency or "USD").upper()
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise ValueError("metadata must be a flat mapping")
        event["metadata"] = dict(metadata)
    return event


class MarginLens:
    """`MarginLens(api_key=..., url=...)`; both default to MARGINLENS_API_KEY and MARGINLENS_URL."""

    def __init__(
        self,
        api_key: str | None = None,
        url: str | None = None,
        *,
        batch_size: int = MAX_BATCH,
        flush_interval: float = 5.0,
        max_queue_size: int = 10_000,
        max_retries: int = 8,
        timeout: float = 10.0,
        on_error: Callable[[str, dict[str, Any]], None] | None = None,
        fail_closed: bool = False,
        backoff_base: float = 0.25,
        backoff_cap: float = 30.0,
    ) -> None:
        self.api_key = api_key or os.environ.get("MARGINLENS_API_KEY", "")
        self.url = (url or os.environ.get("MARGINLENS_URL") or "http://127.0.0.1:8787").rstrip("/")
        self.batch_size = max(1, min(MAX_BATCH, int(batch_size)))
        self.flush_interval = flush_interval
        self.max_queue_size = max(1, int(max_queue_size))
        self.max_retries = max_retries
        self.timeout = timeout
        self.on_error = on_error
        self.fail_closed = fail_closed
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self._stats = Stats()
        self._queue: deque[dict[str, Any]] = deque()
        self._inflight = 0  # events taken from the queue and not settled yet
        self._lock = threading.Condition()
        self._closed = False
        self._flushing = 0  # flush() calls waiting: the worker sends what it has without waiting
        self._overflowing = False
        self._blocklist = _Blocklist()
        self._blocklist_lock = threading.Lock()
        self._worker = threading.Thread(target=self._run, name="marginlens-sdk", daemon=True)
        self._worker.start()
        atexit.register(_close_at_exit, weakref.ref(self))

    # --- the app's side: never raises, never waits on the network --------------------------------

    def track(
        self,
        customer_id: str | None = None,
        model: str | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        **fields: Any,
    ) -> str | None:
        """Queue one model call; its request_id (generated when absent), or None if it was refused
        (logged and counted in `stats()["invalid"]`). The customer and feature default to the
        current `marginlens_sdk.context(...)`."""
        try:
            scope = current_context()
            if customer_id is None:
                customer_id = scope.get("customer_id")
            if "feature" not in fields and scope.get("feature") is not None:
                fields["feature"] = scope["feature"]
            event = build_event(customer_id, model, prompt_tokens, completion_tokens, **fields)
        except (TypeError, ValueError) as error:
            self.count_invalid(str(error))
            return None
        with self._lock:
            if self._closed:
                self._stats.invalid += 1
                log.warning("marginlens: track() after close(); event %s not sent", event["request_id"])
                return None
            if len(self._queue) >= self.max_queue_size:
                self._queue.popleft()  # the oldest goes: the newest usage is the likeliest still to matter
                self._stats.dropped += 1
                if not self._overflowing:
                    self._overflowing = True
                    log.warning(
                        "marginlens: queue full (%d events), dropping the oldest", self.max_queue_size
                    )
            else:
                self._overflowing = False
            self._queue.append(event)
            if len(self._queue) >= self.batch_size:
                self._lock.notify_all()
        return str(event["request_id"])

    def track_response(self, response: Any, *, customer_id: str | None = None, **fields: Any) -> str | None:
        """Track a provider response (OpenAI, Anthropic, Gemini, Bedrock Converse), read by `usage_of`."""
        from marginlens_sdk.providers import usage_of

        try:
            usage = usage_of(response, model=fields.pop("model", None))
        except (TypeError, ValueError, KeyError, AttributeError) as error:
            self.count_invalid(f"unreadable response: {error}")
            return None
        return self.track(customer_id, **{**usage, **fields})

    def count_invalid(self, reason: str) -> None:
        """A call that could not be tracked (a bad argument, an unreadable response): counted, logged."""
        log.warning("marginlens: event not tracked: %s", reason)
        self._report("invalid", {"error": reason})
        with self._lock:
            self._stats.invalid += 1

    def stats(self) -> dict[str, int]:
        with self._lock:
            return self._stats.as_dict()

    def flush(self, timeout: float = 30.0) -> bool:
        """Send everything queued; True once it is all settled, False at the timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._flushing += 1
            self._lock.notify_all()
            try:
                while self._queue or self._inflight:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._lock.wait(min(remaining, 0.5))
                return True
            finally:
                self._flushing -= 1

    def close(self, timeout: float = 30.0) -> bool:
        """Flush, then stop the worker; later `track()` calls are counted and ignored."""
        done = MarginLens.flush(self, timeout)
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        return done

    def __enter__(self) -> MarginLens:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the budget guard -------------------------------------------------------------------------

    def guard(self, customer_id: str | None = None, feature: str | None = None) -> bool:
        """Whether a call is allowed by the budget blocklist (cached for its `ttl_seconds`); when the
        blocklist cannot be read: allowed, unless the client was made with `fail_closed=True`."""
        scope = current_context()
        customer_id = customer_id if customer_id is not None else scope.get("customer_id")
        feature = feature if feature is not None else scope.get("feature")
        blocked = self._blocked()
        if blocked is None:
            return not self.fail_closed
        return not (
            blocked.get("organization")
            or (feature is not None and feature in blocked.get("features", ()))
            or (customer_id is not None and customer_id in blocked.get("customers", ()))
        )

    def guarded_call(
        self,
        fn: Callable[..., Any],
        *args: Any,
        customer_id: str | None = None,
        feature: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """`fn(*args, **kwargs)`, or `BudgetExceeded` before it runs (before the call is paid for)."""
        if not MarginLens.guard(self, customer_id, feature):
            raise BudgetExceeded(customer_id, feature)
        return fn(*args, **kwargs)

    def guarded(self, customer_id: str | None = None, feature: str | None = None) -> Callable[..., Any]:
        """A decorator: the function runs only while the guard allows it, else `BudgetExceeded`."""

        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                return self.guarded_call(fn, *args, customer_id=customer_id, feature=feature, **kwargs)

            wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
            return wrapper

        return decorate

    def _blocked(self) -> dict[str, Any] | None:
        with self._blocklist_lock:
            cached = self._blocklist
            if cached.expires > time.monotonic():
                return cached.blocked
            try:
                status, body, _ = self._request("GET", "/v1/budgets/blocklist", None)
            except OSError as error:
                self._report("guard_unreachable", {"error": str(error)})
                return None
            if status != 200 or not isinstance(body, dict):
                self._report("guard_unreachable", {"status": status})
                return None
            ttl = float(body.get("ttl_seconds", 30))
            self._blocklist = _Blocklist(
                int(body.get("version", 0)), dict(body.get("blocked", {})), time.monotonic() + ttl
            )
            return self._blocklist.blocked

    # --- delivery ---------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    if self._closed:
                        return
                    self._lock.wait(self.flush_interval)
                if not self._queue:
                    continue
                if len(self._queue) < self.batch_size and not self._closed and not self._flushing:
                    # Wait for a full batch, the interval, or a flush (which notifies).
                    self._lock.wait(self.flush_interval)
                events = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]
                self._inflight = len(events)
            try:
                self._deliver(_Batch(events))
            except Exception as error:  # the worker must outlive anything: count and go on
                self._report("delivery_failed", {"error": repr(error), "events": len(events)})
                with self._lock:
                    self._stats.rejected += len(events)
            finally:
                with self._lock:
                    self._inflight = 0
                    self._lock.notify_all()

    def _deliver(self, batch: _Batch) -> None:
        while True:
            retry_after: float | None = None
            try:
                status, body, headers = self._request("POST", "/v1/usage", {"events": batch.events})
            except OSError as error:  # unreachable, reset, timed out: the server may be back soon
                status, body, headers = 0, {"error": str(error)}, {}
            if status in (200, 422) and isinstance(body, dict) and isinstance(body.get("results"), list):
                self._settle(batch.events, body["results"])
                return
            if status and status not in _RETRYABLE_STATUS:
                # The whole request refused (401, 403, 413, a 409 of a single event...): not retried.
                self._report(
                    "request_rejected", {"status": status, "body": body, "events": len(batch.events)}
                )
                with self._lock:
                    self._stats.rejected += len(batch.events)
                return
            if status == 429:
                retry_after = _seconds(headers.get("retry-after"))
            batch.attempts += 1
            if batch.attempts > self.max_retries:
                self._report("gave_up", {"status": status, "events": len(batch.events)})
                with self._lock:
                    self._stats.rejected += len(batch.events)
                return
            with self._lock:
                self._stats.retries += 1
            delay = random.uniform(0, min(self.backoff_cap, self.backoff_base * 2**batch.attempts))  # noqa: S311
            time.sleep(max(delay, retry_after or 0.0))

    def _settle(self, events: list[dict[str, Any]], results: list[dict[str, Any]]) -> None:
        with self._lock:
            for result in results:
                status = result.get("status")
                if status == "created":
                    self._stats.sent += 1
                elif status == "duplicate":
                    self._stats.duplicates += 1
                elif status == "conflict":
                    self._stats.conflicts += 1
                    log.warning(
                        "marginlens: request_id %s already stored with other content",
                        result.get("request_id"),
                    )
                else:
                    self._stats.rejected += 1
                    log.warning(
                        "marginlens: event %s rejected: %s", result.get("request_id"), result.get("error")
                    )
        for result in results:
            if result.get("status") in ("conflict", "rejected"):
                self._report(str(result["status"]), dict(result))

    def _request(self, method: str, path: str, payload: Any) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310 - the configured URL
        request.add_header("Authorization", f"Bearer {self.api_key}")
        request.add_header("User-Agent", "marginlens-sdk-python/0.1.0")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return (
                    response.status,
                    _json(response.read()),
                    {k.lower(): v for k, v in response.headers.items()},
                )
        except urllib.error.HTTPError as error:
            return error.code, _json(error.read()), {k.lower(): v for k, v in error.headers.items()}

    def _report(self, kind: str, detail: dict[str, Any]) -> None:
        if self.on_error is None:
            return
        try:
            self.on_error(kind, detail)
        except Exception:  # the app's hook must not break delivery either
            log.exception("marginlens: on_error hook raised")


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _close_at_exit(ref: Callable[[], MarginLens | None]) -> None:
    client = ref()
    if client is not None and not client._closed:
        MarginLens.close(client, timeout=5.0)
