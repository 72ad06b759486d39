"""Local stand-ins for the providers' cost APIs, over real HTTP on 127.0.0.1, for the reconciliation tests.

    with FakeOpenAICosts(lines, page_size=2) as fake:
        fetch_openai_costs(fake.admin_key, first, last, base_url=fake.base_url)

Each serves the documented request and response formats (see the docstring of
`marginlens.reconciliation.provider_reports` for the fields and where they are documented):

- `FakeOpenAICosts`: `GET /v1/organization/costs`, `Authorization: Bearer <admin key>`; `start_time`
  (required), `end_time` (exclusive), `bucket_width=1d`, `group_by` (or `group_by[]`, as the official
  SDK sends it) of `line_item`/`project_id`, `limit` 1-180 (default 7), `page`; amounts as JSON numbers
  with lower-case currencies; errors as `{"error": {"message", "type", "param", "code"}}`.
- `FakeAnthropicCosts`: `GET /v1/organizations/cost_report`, `x-api-key` and `anthropic-version`;
  `starting_at` (required, snapped to the day), `ending_at` (buckets ending after it are left out),
  `group_by[]` of `description`/`workspace_id`, `bucket_width=1d`, `limit` 1-31 (default 7), `page`;
  amounts as decimal strings in cents; errors as `{"type": "error", "error": {"type", "message"},
  "request_id"}`.

Both bucket the given `BilledLine`s (of their provider) by day, one bucket per day in the range (empty
ones included), sum the lines a grouping merges, and serve at most `page_size` buckets a page with an
opaque `next_page` cursor. `.requests` records (path, query as parse_qs gives it) for every request,
`.request_headers` the headers, `.next_pages` the cursors answered. `.fail_with(status, times)`
answers the provider's error body for `status` (`times=None`: until `.fail_with(None)`; `after=n`:
once n more requests were answered normally);
`.answer_raw(body, status, times)` answers a given body instead, to test what the client does with a
malformed one.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from marginlens.reconciliation.provider_reports import BilledLine

DAY = timedelta(days=1)
Query = dict[str, list[str]]
_DECIMAL_MARK = re.compile(r'"__decimal__([-+0-9.Ee]+)__"')


class _Refusal(Exception):
    """An answer other than a page: the status and the provider's error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _json_bytes(body: Any) -> bytes:
    """JSON with Decimals written as JSON numbers digit for digit, as a real server writes them."""

    def mark(value: object) -> str:
        if isinstance(value, Decimal):
            return f"__decimal__{value}__"
        raise TypeError(f"not JSON: {value!r}")

    return _DECIMAL_MARK.sub(r"\1", json.dumps(body, default=mark)).encode()


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _one(query: Query, name: str) -> str | None:
    values = query.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise _Refusal(400, f"'{name}' was given {len(values)} times")
    return values[0]


def _limit(query: Query, maximum: int) -> int:
    text = _one(query, "limit")
    if text is None:
        return 7  # both document a default of 7 buckets
    try:
        limit = int(text)
    except ValueError:
        raise _Refusal(400, f"Invalid value for 'limit': {text!r}") from None
    if not 1 <= limit <= maximum:
        raise _Refusal(400, f"'limit' must be between 1 and {maximum}, got {limit}")
    return limit


def _encode_cursor(text: str) -> str:
    return "page_" + base64.b64encode(text.encode()).decode()


def _decode_cursor(cursor: str) -> str:
    try:
        if not cursor.startswith("page_"):
            raise ValueError(cursor)
        return base64.b64decode(cursor.removeprefix("page_"), validate=True).decode()
    except (ValueError, binascii.Error):
        raise _Refusal(400, f"Invalid page cursor: {cursor!r}") from None


def _dollars_to_cents(amount: Decimal) -> Decimal:
    sign, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)
    return Decimal((sign, digits, exponent + 2))


class _FakeCostAPI:
    """What both fakes share: the server thread, the recording and the failure switches."""

    provider = ""
    path = ""

    def __init__(self, lines: Iterable[BilledLine], page_size: int, admin_key: str) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.lines = [line for line in lines if line.provider == self.provider]
        self.page_size = page_size
        self.admin_key = admin_key
        self.requests: list[tuple[str, Query]] = []
        self.request_headers: list[dict[str, str]] = []
        self.next_pages: list[str | None] = []
        self._lock = threading.Lock()
        self._failure: int | None = None
        self._failures_left: int | None = None
        self._failure_after = 0
        self._raw: tuple[int, bytes] | None = None
        self._raw_left: int | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                split = urlsplit(self.path)
                query = parse_qs(split.query, keep_blank_values=True)
                headers = {name.lower(): value for name, value in self.headers.items()}
                status, body = fake._answer(split.path, query, headers)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # A short poll: shutdown() waits for it, once per fake.
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail_with(self, status: int | None, times: int | None = None, *, after: int = 0) -> None:
        """Answer `status` with the provider's error body, `times` times (None: until cleared), once
        `after` more requests have been answered normally (a failure midway through the pages)."""
        with self._lock:
            self._failure = status
            self._failures_left = times if status is not None else None
            self._failure_after = after if status is not None else 0

    def answer_raw(self, body: bytes, status: int = 200, times: int | None = 1) -> None:
        """Answer `body` as is, `times` times (None: for good): a malformed page, say."""
        with self._lock:
            self._raw = (status, body)
            self._raw_left = times

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    # The provider-specific parts.
    def error_body(self, status: int, message: str | None = None) -> bytes:
        raise NotImplementedError

    def authenticate(self, headers: Mapping[str, str]) -> None:
        raise NotImplementedError

    def page(self, query: Query) -> dict[str, Any]:
        raise NotImplementedError

    def _answer(self, path: str, query: Query, headers: dict[str, str]) -> tuple[int, bytes]:
        with self._lock:
            self.requests.append((path, query))
            self.request_headers.append(headers)
            failure = self._take_failure()
            raw = self._take_raw()
        if failure is not None:
            return failure, self.error_body(failure)
        if raw is not None:
            return raw
        try:
            if path != self.path:
                raise _Refusal(404, f"Not found: GET {path}")
            self.authenticate(headers)
            body = self.page(query)
        except _Refusal as refusal:
            return refusal.status, self.error_body(refusal.status, refusal.message)
        with self._lock:
            self.next_pages.append(body.get("next_page"))
        return 200, _json_bytes(body)

    def _take_failure(self) -> int | None:
        if self._failure is None:
            return None
        if self._failure_after > 0:
            self._failure_after -= 1
            return None
        status = self._failure
        if self._failures_left is not None:
            self._failures_left -= 1
            if self._failures_left <= 0:
                self._failure = self._failures_left = None
        return status

    def _take_raw(self) -> tuple[int, bytes] | None:
        if self._raw is None:
            return None
        raw = self._raw
        if self._raw_left is not None:
            self._raw_left -= 1
            if self._raw_left <= 0:
                self._raw = self._raw_left = None
        return raw

    def _paginate(
        self, buckets: list[dict[str, Any]], key: str, limit: int, query: Query
    ) -> tuple[list[dict[str, Any]], str | None]:
        """`limit` (at most `page_size`) buckets from the cursor's, and the cursor of the next one."""
        cursor = _one(query, "page")
        offset = 0
        if cursor is not None:
            start = _decode_cursor(cursor)
            starts = [str(bucket[key]) for bucket in buckets]
            if start not in starts:
                raise _Refusal(400, f"Invalid page cursor: {cursor!r}")
            offset = starts.index(start)
        size = min(limit, self.page_size)
        chosen = buckets[offset : offset + size]
        rest = buckets[offset + size :]
        return chosen, (_encode_cursor(str(rest[0][key])) if rest else None)

    def _days(self, first: date, end: date | None) -> list[date]:
        """first..end (exclusive); without an end, through the last day that has a line."""
        if end is None:
            last = max((line.day for line in self.lines if line.day >= first), default=first)
            end = last + DAY
        days = []
        day = first
        while day < end:
            days.append(day)
            day += DAY
        return days


class FakeOpenAICosts(_FakeCostAPI):
    """OpenAI's organization Costs API, as documented."""

    provider = "openai"
    path = "/v1/organization/costs"

    def __init__(
        self, lines: Iterable[BilledLine], page_size: int = 2, admin_key: str = "sk-admin-test"
    ) -> None:
        super().__init__(lines, page_size, admin_key)

    def error_body(self, status: int, message: str | None = None) -> bytes:
        kind, code, default = {
            400: ("invalid_request_error", None, "Invalid request."),
            401: (
                "invalid_request_error",
                "invalid_api_key",
                "Incorrect API key provided: sk-admi***test. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
            ),
            403: ("invalid_request_error", None, "You have insufficient permissions for this operation."),
            404: ("invalid_request_error", None, "Not found."),
            429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
            500: (
                "server_error",
                None,
                "The server had an error while processing your request. Sorry about that!",
            ),
            503: ("server_error", None, "The engine is currently overloaded, please try again later."),
        }.get(
            status,
            ("server_error" if status >= 500 else "invalid_request_error", None, f"HTTP {status}."),
        )
        if status == 401:
            message = default  # the documented text, whatever went wrong with the key
        error = {"message": message or default, "type": kind, "param": None, "code": code}
        return _json_bytes({"error": error})

    def authenticate(self, headers: Mapping[str, str]) -> None:
        if headers.get("authorization") != f"Bearer {self.admin_key}":
            raise _Refusal(401, "")

    def page(self, query: Query) -> dict[str, Any]:
        start_text = _one(query, "start_time")
        if start_text is None:
            raise _Refusal(400, "Missing query parameter 'start_time'.")
        start = self._unix(start_text, "start_time")
        end_text = _one(query, "end_time")
        end = self._unix(end_text, "end_time") if end_text is not None else None
        if _one(query, "bucket_width") not in (None, "1d"):
            raise _Refusal(400, "Invalid value for 'bucket_width': only '1d' is supported.")
        group_by = set(query.get("group_by", []) + query.get("group_by[]", []))
        unknown = group_by - {"project_id", "line_item", "user_id", "api_key_id", "api_source"}
        if unknown:
            raise _Refusal(400, f"Invalid value for 'group_by': {sorted(unknown)}")
        limit = _limit(query, 180)
        first = datetime.fromtimestamp(start, tz=UTC).date()
        last_end = None
        if end is not None:  # exclusive: the day holding end_time - 1 is the last
            last_end = datetime.fromtimestamp(end - 1, tz=UTC).date() + DAY
        by_key: dict[tuple[date, str | None], Decimal] = defaultdict(Decimal)
        for line in self.lines:
            by_key[(line.day, line.line_item if "line_item" in group_by else None)] += line.amount
        currency = {line.day: line.currency.lower() for line in self.lines}
        buckets = []
        for day in self._days(first, last_end):
            begins = int(_midnight(day).timestamp())
            results = [
                {
                    "object": "organization.costs.result",
                    "amount": {"value": amount, "currency": currency.get(day, "usd")},
                    "line_item": line_item,
                    "project_id": None,
                }
                for (on, line_item), amount in sorted(by_key.items(), key=lambda kv: str(kv[0]))
                if on == day
            ]
            buckets.append(
                {"object": "bucket", "start_time": begins, "end_time": begins + 86400, "results": results}
            )
        chosen, next_page = self._paginate(buckets, "start_time", limit, query)
        return {"object": "page", "data": chosen, "has_more": next_page is not None, "next_page": next_page}

    @staticmethod
    def _unix(text: str, name: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise _Refusal(400, f"Invalid value for '{name}': {text!r}") from None


class FakeAnthropicCosts(_FakeCostAPI):
    """Anthropic's Admin API cost report, as documented."""

    provider = "anthropic"
    path = "/v1/organizations/cost_report"

    def __init__(
        self, lines: Iterable[BilledLine], page_size: int = 2, admin_key: str = "sk-ant-admin-test"
    ) -> None:
        super().__init__(lines, page_size, admin_key)

    def error_body(self, status: int, message: str | None = None) -> bytes:
        kind = {
            400: "invalid_request_error",
            401: "authentication_error",
            403: "permission_error",
            404: "not_found_error",
            413: "request_too_large",
            429: "rate_limit_error",
            500: "api_error",
            529: "overloaded_error",
        }.get(status, "api_error" if status >= 500 else "invalid_request_error")
        default = {
            401: "invalid x-api-key",
            429: "Number of requests has exceeded your rate limit.",
            500: "Internal server error",
            529: "Overloaded",
        }.get(status, f"HTTP {status}")
        if status == 401:
            message = default
        body = {
            "type": "error",
            "error": {"type": kind, "message": message or default},
            "request_id": f"req_{uuid.uuid4().hex[:24]}",
        }
        return _json_bytes(body)

    def authenticate(self, headers: Mapping[str, str]) -> None:
        if headers.get("x-api-key") != self.admin_key:
            raise _Refusal(401, "")
        if not headers.get("anthropic-version"):
            raise _Refusal(400, "anthropic-version: header is required")

    def page(self, query: Query) -> dict[str, Any]:
        starting_at = _one(query, "starting_at")
        if starting_at is None:
            raise _Refusal(400, "starting_at: Field required")
        first = self._timestamp(starting_at, "starting_at").date()  # snapped to the day
        ending_at = _one(query, "ending_at")
        end: date | None = None
        if ending_at is not None:  # a bucket ending after ending_at is left out: the day it falls in ends
            end = self._timestamp(ending_at, "ending_at").date()
        if _one(query, "bucket_width") not in (None, "1d"):
            raise _Refusal(400, "bucket_width: Input should be '1d'")
        if "group_by" in query:
            raise _Refusal(400, "group_by: the parameter is named group_by[]")
        group_by = set(query.get("group_by[]", []))
        unknown = group_by - {"workspace_id", "description"}
        if unknown:
            raise _Refusal(400, f"group_by[]: Input should be 'workspace_id' or 'description': {unknown}")
        limit = _limit(query, 31)
        grouped = "description" in group_by
        by_key: dict[tuple[date, str | None, str | None], Decimal] = defaultdict(Decimal)
        for line in self.lines:
            key = (line.day, line.line_item, line.model) if grouped else (line.day, None, None)
            by_key[key] += line.amount
        buckets = []
        for day in self._days(first, end):
            results = [
                self._result(description, model, amount, grouped)
                for (on, description, model), amount in sorted(by_key.items(), key=lambda kv: str(kv[0]))
                if on == day
            ]
            buckets.append(
                {
                    "starting_at": f"{day.isoformat()}T00:00:00Z",
                    "ending_at": f"{(day + DAY).isoformat()}T00:00:00Z",
                    "results": results,
                }
            )
        chosen, next_page = self._paginate(buckets, "starting_at", limit, query)
        return {"data": chosen, "has_more": next_page is not None, "next_page": next_page}

    @staticmethod
    def _result(description: str | None, model: str | None, amount: Decimal, grouped: bool) -> dict[str, Any]:
        token_type = None
        if grouped and model is not None and description is not None:
            lowered = description.lower()
            token_type = (
                "output_tokens"
                if "output" in lowered
                else "cache_read_input_tokens"
                if "cache read" in lowered
                else "uncached_input_tokens"
            )
        return {
            "currency": "USD",
            "amount": format(_dollars_to_cents(amount), "f"),
            "workspace_id": None,
            "description": description,
            "cost_type": ("tokens" if model is not None else "web_search") if grouped else None,
            "context_window": "0-200k" if grouped and model is not None else None,
            "model": model,
            "service_tier": "standard" if grouped and model is not None else None,
            "token_type": token_type,
        }

    @staticmethod
    def _timestamp(text: str, name: str) -> datetime:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise _Refusal(400, f"{name}: Input should be a valid datetime") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
