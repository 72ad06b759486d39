"""The providers' own bill, day by day, so MarginLens's recorded costs can be checked against it.

Three sources give the same `BilledLine`s: OpenAI's organization Costs API, Anthropic's Admin API cost
report, and a CSV file for when an admin key is not at hand. Money is `Decimal` from the wire onwards:
no float ever holds an amount. HTTP is `urllib.request` only, because this module ships in the Lambda
bundle and must not add a dependency.

Documented fields this module relies on (and nothing else of the responses):

OpenAI, `GET /v1/organization/costs` (https://platform.openai.com/docs/api-reference/usage/costs;
the same in the official SDK, `openai.types.admin.organization.UsageCostsResponse`):
- auth `Authorization: Bearer <admin key>`;
- query `start_time` (unix seconds, inclusive, required), `end_time` (exclusive), `bucket_width=1d`
  (the only width), `group_by=line_item`, `limit` (buckets per page, 1-180, default 7), `page` (the
  previous page's `next_page`);
- page: `data` (buckets), `has_more` (bool), `next_page` (cursor or null);
- bucket: `start_time` (unix seconds: the UTC day the cost was incurred), `results`;
- result: `amount.value` (a JSON number, parsed straight to Decimal), `amount.currency` (lower-case ISO
  4217, "usd"), `line_item` (e.g. "gpt-4o-2024-08-06, input"; null when not grouped);
- errors: `{"error": {"message", "type", "param", "code"}}`.

Anthropic, `GET /v1/organizations/cost_report` (https://platform.claude.com/docs/en/api/admin/cost_report,
https://docs.anthropic.com/en/api/admin-api/usage-cost/get-cost-report):
- headers `x-api-key: <admin key>` and `anthropic-version: 2023-06-01`;
- query `starting_at` (RFC 3339, required: buckets that start on or after it), `ending_at` (buckets
  that end before it), `group_by[]=description`, `bucket_width=1d` (the only width), `limit` (1-31,
  default 7), `page` (the previous page's `next_page`);
- page: `data`, `has_more`, `next_page`; bucket: `starting_at` (inclusive), `results`; "end before"
  is read as "end at or before", as Anthropic's own cookbook does (it asks for N days with `ending_at`
  at the midnight after the last and `limit=N`), so `ending_at` is the midnight after `last_day`;
- result: `amount` (a decimal *string* in the lowest currency unit: "123.45" USD is $1.2345),
  `currency` ("Currently always USD"), `description` (e.g. "Claude Sonnet 4 Usage - Input Tokens"),
  `model` (null for non-token costs such as web search or code execution);
- errors: `{"type": "error", "error": {"type", "message"}, "request_id"}`.
Anthropic documents that Priority Tier costs never appear in this report: reconcile those elsewhere.

CSV, see `read_cost_csv`.
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from email.message import Message
from typing import IO, Any, Final

OPENAI_BASE_URL: Final = "https://api.openai.com"
ANTHROPIC_BASE_URL: Final = "https://api.anthropic.com"
OPENAI_COSTS_PATH: Final = "/v1/organization/costs"
ANTHROPIC_COST_REPORT_PATH: Final = "/v1/organizations/cost_report"
ANTHROPIC_VERSION: Final = "2023-06-01"
# The documented maximum number of 1-day buckets per page.
OPENAI_MAX_LIMIT: Final = 180
ANTHROPIC_MAX_LIMIT: Final = 31
# A bound on pagination, so a server that keeps answering has_more cannot keep a Lambda busy forever.
MAX_PAGES: Final = 1000
# The line item of a result the provider did not break down (it should not happen: we ask it to).
UNGROUPED_LINE_ITEM: Final = "total"
PROVIDERS: Final = frozenset({"openai", "anthropic"})

_MAX_MESSAGE = 300
_CURRENCY = re.compile(r"[A-Za-z]{3}")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_UNIX_SECONDS = re.compile(r"\d{1,12}")


@dataclass(frozen=True)
class BilledLine:
    """One amount the provider billed for one day: the unit reconciliation compares."""

    day: date  # the UTC day the cost was incurred (the bucket's start)
    provider: str  # "openai" or "anthropic" (genai-prices provider ids)
    line_item: str  # as the provider names it
    model: str | None  # the model, when the provider tells it
    amount: Decimal  # in `currency`, exact
    currency: str  # upper-case ISO code, "USD"


class ProviderReportError(Exception):
    """The provider's API failed or answered something unreadable."""


class CostCsvError(ValueError):
    """A cost CSV the reader refuses, with the row and column to fix so the user can find it."""

    def __init__(self, row: int, column: str | None, problem: str) -> None:
        self.row = row
        self.column = column
        self.problem = problem
        where = f"row {row}" if column is None else f"row {row}, column {column!r}"
        super().__init__(f"{where}: {problem}")


# --- HTTP -------------------------------------------------------------------------------------------


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the admin key to wherever it points: answer it as the error it is."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


_OPENER = urllib.request.build_opener(_RefuseRedirects())


def _reject_constant(name: str) -> Any:
    """NaN and Infinity are not JSON, and not money: refuse them rather than let a float in."""
    raise ValueError(f"not a number: {name}")


def _load_json(raw: bytes) -> Any:
    """Every JSON number with a fraction becomes a Decimal, so an amount is exact from the first byte."""
    return json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)


def _error_message(raw: bytes) -> str:
    """The provider's own words about a failure: both document `{"error": {"message": ...}}`."""
    try:
        body = _load_json(raw)
    except (ValueError, RecursionError):
        text = raw.decode("utf-8", errors="replace").strip()
        return text[:_MAX_MESSAGE]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])[:_MAX_MESSAGE]
        if isinstance(error, str):
            return error[:_MAX_MESSAGE]
    return ""


def _check_base_url(base_url: str) -> str:
    """Only http(s): urllib would also open file: and ftp: URLs, which no provider is."""
    scheme = urllib.parse.urlsplit(base_url).scheme
    if scheme not in ("http", "https"):
        raise ValueError(f"base_url must be http or https, not {base_url!r}")
    return base_url.rstrip("/")


def _get_json(provider: str, url: str, headers: Mapping[str, str], timeout_s: float) -> Any:
    """One GET, with every way it can fail turned into a ProviderReportError naming the provider."""
    request = urllib.request.Request(url, headers=dict(headers), method="GET")  # noqa: S310 (scheme checked)
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            raw = response.read()
    except urllib.error.HTTPError as err:
        try:
            body = err.read()
        except (OSError, http.client.HTTPException):
            body = b""
        message = _error_message(body)
        detail = f": {message}" if message else ""
        raise ProviderReportError(f"{provider} cost API answered HTTP {err.code}{detail}") from err
    except (OSError, http.client.HTTPException) as err:  # URLError, timeouts, resets, bad status lines
        raise ProviderReportError(f"{provider} cost API could not be reached: {err}") from err
    try:
        return _load_json(raw)
    except (ValueError, RecursionError) as err:
        raise ProviderReportError(f"{provider} cost API answered a body that is not JSON: {err}") from err


def _pages(
    provider: str,
    url: str,
    params: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    timeout_s: float,
) -> Iterator[dict[str, Any]]:
    """Both APIs paginate the same way: resend the query with `page=<next_page>` while `has_more`."""
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        query = [*params, ("page", cursor)] if cursor is not None else list(params)
        page = _get_json(provider, f"{url}?{urllib.parse.urlencode(query)}", headers, timeout_s)
        if not isinstance(page, dict):
            raise _shape(provider, "the response is not a JSON object")
        yield page
        has_more = page.get("has_more")
        if not isinstance(has_more, bool):
            raise _shape(provider, "`has_more` is missing or not a boolean")
        if not has_more:
            return
        next_page = page.get("next_page")
        if not isinstance(next_page, str) or not next_page:
            raise _shape(provider, "`has_more` is true but `next_page` is not a cursor")
        if next_page == cursor:
            raise _shape(provider, f"`next_page` repeats the cursor just sent ({next_page!r})")
        cursor = next_page
    raise ProviderReportError(f"{provider} cost API still had more after {MAX_PAGES} pages; stopped")


def _shape(provider: str, problem: str) -> ProviderReportError:
    """A body we cannot read as documented is an error, never an empty (zero-cost) bill."""
    return ProviderReportError(f"{provider} cost API answered an unexpected shape: {problem}")


def _list(provider: str, value: Any, what: str) -> list[Any]:
    """The documented arrays, checked: a missing `data` must not read as a month without costs."""
    if not isinstance(value, list):
        raise _shape(provider, f"{what} is not a list")
    return value


def _dict(provider: str, value: Any, what: str) -> dict[str, Any]:
    """The documented objects, checked before anything is read from them."""
    if not isinstance(value, dict):
        raise _shape(provider, f"{what} is not an object")
    return value


def _optional_str(provider: str, value: Any, what: str) -> str | None:
    """Null is documented for some fields (a model for non-token costs); any other non-string is not."""
    if value is None or isinstance(value, str):
        return value
    raise _shape(provider, f"{what} is not a string or null")


def _currency(provider: str, value: Any, what: str) -> str:
    """ISO codes in upper case, whatever case the provider sends ("usd" at OpenAI)."""
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise _shape(provider, f"{what} is not a currency code")
    return value.upper()


def _days(first_day: date, last_day: date) -> int:
    """Whole UTC days only: a datetime here would hide a time zone the caller did not mean."""
    for name, value in (("first_day", first_day), ("last_day", last_day)):
        if isinstance(value, datetime) or not isinstance(value, date):
            raise TypeError(f"{name} must be a date, not {type(value).__name__}")
    if last_day < first_day:
        raise ValueError(f"last_day {last_day} is before first_day {first_day}")
    return (last_day - first_day).days + 1


def _midnight(day: date) -> datetime:
    """The start of a UTC day: both APIs bucket by UTC day."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def _model_of_line_item(line_item: str) -> str | None:
    """OpenAI's line items read "<model>, <kind>"; one without (e.g. "web search tool calls") names none."""
    model, comma, _kind = line_item.partition(", ")
    return model if comma and model else None


def _cents_to_units(cents: Decimal) -> Decimal:
    """Exactly a hundredth, whatever the context precision: only the exponent moves."""
    sign, digits, exponent = cents.as_tuple()
    assert isinstance(exponent, int)  # finite: checked by the caller
    return Decimal((sign, digits, exponent - 2))


# --- OpenAI -----------------------------------------------------------------------------------------


def fetch_openai_costs(
    admin_key: str,
    first_day: date,
    last_day: date,
    *,
    base_url: str = OPENAI_BASE_URL,
    timeout_s: float = 30,
) -> list[BilledLine]:
    """OpenAI's bill for first_day..last_day (UTC, inclusive) by day and line item, as its Costs API
    reports it: the figures that reconcile to the invoice, unlike the usage endpoints'."""
    days = _days(first_day, last_day)
    url = _check_base_url(base_url) + OPENAI_COSTS_PATH
    params = [
        ("start_time", str(int(_midnight(first_day).timestamp()))),
        ("end_time", str(int(_midnight(last_day + timedelta(days=1)).timestamp()))),
        ("bucket_width", "1d"),
        ("group_by", "line_item"),
        ("limit", str(min(days, OPENAI_MAX_LIMIT))),
    ]
    headers = {"Authorization": f"Bearer {admin_key}", "Accept": "application/json"}
    lines: list[BilledLine] = []
    for page in _pages("OpenAI", url, params, headers, timeout_s):
        for bucket in _list("OpenAI", page.get("data"), "`data`"):
            lines.extend(_openai_bucket(_dict("OpenAI", bucket, "a bucket"), first_day, last_day))
    return lines


def _openai_bucket(bucket: dict[str, Any], first_day: date, last_day: date) -> Iterator[BilledLine]:
    """A bucket's results, dated by the bucket's start; days outside the asked range are not asked for."""
    start = bucket.get("start_time")
    if not isinstance(start, int) or isinstance(start, bool):
        raise _shape("OpenAI", "a bucket's `start_time` is not unix seconds")
    try:
        day = datetime.fromtimestamp(start, tz=UTC).date()
    except (OverflowError, OSError, ValueError) as err:
        raise _shape("OpenAI", f"a bucket's `start_time` is out of range: {start}") from err
    results = _list("OpenAI", bucket.get("results"), "a bucket's `results`")
    if not first_day <= day <= last_day:
        return
    for item in results:
        result = _dict("OpenAI", item, "a result")
        amount = _dict("OpenAI", result.get("amount"), "a result's `amount`")
        value = amount.get("value")
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            raise _shape("OpenAI", "a result's `amount.value` is not a number")
        money = Decimal(value)
        currency = _currency("OpenAI", amount.get("currency"), "a result's `amount.currency`")
        line_item = _optional_str("OpenAI", result.get("line_item"), "a result's `line_item`")
        if money == 0:
            continue
        if line_item is None:
            line_item, model = UNGROUPED_LINE_ITEM, None
        else:
            model = _model_of_line_item(line_item)
        yield BilledLine(day, "openai", line_item, model, money, currency)


# --- Anthropic --------------------------------------------------------------------------------------


def fetch_anthropic_costs(
    admin_key: str,
    first_day: date,
    last_day: date,
    *,
    base_url: str = ANTHROPIC_BASE_URL,
    timeout_s: float = 30,
) -> list[BilledLine]:
    """Anthropic's bill for first_day..last_day (UTC, inclusive) by day and cost description, from the
    Admin API cost report, with its cent amounts turned into dollars exactly."""
    days = _days(first_day, last_day)
    url = _check_base_url(base_url) + ANTHROPIC_COST_REPORT_PATH
    params = [
        ("starting_at", _midnight(first_day).strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("ending_at", _midnight(last_day + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("bucket_width", "1d"),
        ("group_by[]", "description"),
        ("limit", str(min(days, ANTHROPIC_MAX_LIMIT))),
    ]
    headers = {
        "x-api-key": admin_key,
        "anthropic-version": ANTHROPIC_VERSION,
        "Accept": "application/json",
    }
    lines: list[BilledLine] = []
    for page in _pages("Anthropic", url, params, headers, timeout_s):
        for bucket in _list("Anthropic", page.get("data"), "`data`"):
            lines.extend(_anthropic_bucket(_dict("Anthropic", bucket, "a bucket"), first_day, last_day))
    return lines


def _anthropic_bucket(bucket: dict[str, Any], first_day: date, last_day: date) -> Iterator[BilledLine]:
    """A bucket's results, dated by `starting_at` in UTC; days outside the asked range are not asked for."""
    starting_at = bucket.get("starting_at")
    if not isinstance(starting_at, str):
        raise _shape("Anthropic", "a bucket's `starting_at` is not a timestamp")
    try:
        start = datetime.fromisoformat(starting_at)
    except ValueError as err:
        raise _shape("Anthropic", f"a bucket's `starting_at` is not RFC 3339: {starting_at!r}") from err
    if start.tzinfo is None:
        raise _shape("Anthropic", f"a bucket's `starting_at` has no offset: {starting_at!r}")
    day = start.astimezone(UTC).date()
    results = _list("Anthropic", bucket.get("results"), "a bucket's `results`")
    if not first_day <= day <= last_day:
        return
    for item in results:
        result = _dict("Anthropic", item, "a result")
        amount = result.get("amount")
        if not isinstance(amount, str):
            raise _shape("Anthropic", "a result's `amount` is not a decimal string")
        try:
            cents = Decimal(amount.strip())
        except InvalidOperation as err:
            raise _shape("Anthropic", f"a result's `amount` is not a decimal: {amount!r}") from err
        if not cents.is_finite():
            raise _shape("Anthropic", f"a result's `amount` is not a finite decimal: {amount!r}")
        currency = _currency("Anthropic", result.get("currency"), "a result's `currency`")
        if currency != "USD":
            # The amount is in the currency's lowest unit; only USD's (the cent) is documented.
            raise _shape("Anthropic", f"a result is in {currency}, and only USD amounts are documented")
        description = _optional_str("Anthropic", result.get("description"), "a result's `description`")
        model = _optional_str("Anthropic", result.get("model"), "a result's `model`")
        cost_type = _optional_str("Anthropic", result.get("cost_type"), "a result's `cost_type`")
        if cents == 0:
            continue
        line_item = description or cost_type or UNGROUPED_LINE_ITEM
        yield BilledLine(day, "anthropic", line_item, model or None, _cents_to_units(cents), currency)


FETCHERS: Final[Mapping[str, Callable[..., list[BilledLine]]]] = {
    "openai": fetch_openai_costs,
    "anthropic": fetch_anthropic_costs,
}


# --- CSV --------------------------------------------------------------------------------------------

# The simple format every export can be turned into.
_SIMPLE_COLUMNS = ("date", "provider", "model", "line_item", "amount", "currency")
# OpenAI's own cost export (Usage > Export > Cost data, grouped by line item, 1-day interval).
_OPENAI_EXPORT_MARKERS = ("start_time", "amount_value")


def read_cost_csv(text: str, provider: str | None = None) -> list[BilledLine]:
    """The provider's bill from a CSV a user downloaded or wrote, for when no admin key is at hand.

    Two layouts, told apart by the header (column names are case-insensitive, any order, extra
    columns ignored):

    1. The simple one, that any export can be converted to:
       - `date`: the UTC day, `YYYY-MM-DD` (required);
       - `provider`: `openai` or `anthropic` (required unless `provider=` is given; when both are,
         they must agree);
       - `model`: the model, empty when the line has none;
       - `line_item`: the provider's name for the line (optional: defaults to the model; one of
         `model` and `line_item` must be a column, and one of them filled on each row);
       - `amount`: a plain decimal, `12.3400`, not negative (required);
       - `currency`: a three-letter ISO code (optional, default USD).
    2. OpenAI's own cost export, recognised by `start_time` and `amount_value` columns:
       `start_time` (unix seconds, the day's start), `end_time`, `amount_value`, `amount_currency`,
       `line_item`, `project_id`, `project_name`, `organization_id`, `organization_name`; the model
       is derived from `line_item` as for the API. (These columns are as described by a third party,
       Pelanor's OpenAI integration guide, not by OpenAI.)

    Anthropic's console export is not read as such: its columns are not publicly documented; convert
    it to the simple layout.

    Rows are numbered as lines of the file (the header is row 1), as a spreadsheet shows them. A bad
    row raises `CostCsvError` naming the row and the column.
    """
    if provider is not None:
        provider = provider.strip().lower()
        if provider not in PROVIDERS:
            raise ValueError(f"provider must be one of {sorted(PROVIDERS)}, not {provider!r}")
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header: list[str] | None = None
    for row in reader:
        if any(cell.strip() for cell in row):
            header = [cell.strip().lower() for cell in row]
            break
    if header is None:
        raise CostCsvError(1, None, "the file is empty: a header row is needed")
    header_row = reader.line_num
    seen: set[str] = set()
    for name in header:
        if name and name in seen:
            raise CostCsvError(header_row, name, "the column appears twice in the header")
        seen.add(name)

    if all(marker in seen for marker in _OPENAI_EXPORT_MARKERS):
        if provider not in (None, "openai"):
            raise CostCsvError(header_row, None, f"this is an OpenAI cost export, not {provider}'s")
        parse_row: Callable[[Mapping[str, str], int], BilledLine] = _openai_export_row
    else:
        for required in ("date", "amount"):
            if required not in seen:
                raise CostCsvError(header_row, required, "the header has no such column")
        if "model" not in seen and "line_item" not in seen:
            raise CostCsvError(header_row, "model", "the header needs a model or a line_item column")
        if provider is None and "provider" not in seen:
            raise CostCsvError(header_row, "provider", "no provider column, and no provider given")
        parse_row = _simple_row(provider)

    lines: list[BilledLine] = []
    for row in reader:
        number = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            raise CostCsvError(number, None, f"{len(row)} fields, but the header has {len(header)}")
        lines.append(parse_row(dict(zip(header, (cell.strip() for cell in row), strict=False)), number))
    return lines


def _simple_row(provider: str | None) -> Callable[[Mapping[str, str], int], BilledLine]:
    """The simple layout's row reader, with the provider the caller fixed, if any."""

    def parse(cells: Mapping[str, str], row: int) -> BilledLine:
        def cell(name: str) -> str:
            return cells.get(name, "")

        day = _csv_day(cell("date"), row, "date")
        named = cell("provider").lower()
        if named and named not in PROVIDERS:
            raise CostCsvError(row, "provider", f"must be one of {sorted(PROVIDERS)}, not {named!r}")
        if provider is not None and named and named != provider:
            raise CostCsvError(row, "provider", f"{named!r}, but the file was read as {provider!r}")
        chosen = named or provider
        if chosen is None:
            raise CostCsvError(row, "provider", "missing")
        model = cell("model") or None
        line_item = cell("line_item") or model
        if line_item is None:
            raise CostCsvError(row, "model", "neither a model nor a line_item")
        amount = _csv_amount(cell("amount"), row, "amount")
        currency = _csv_currency(cell("currency"), row, "currency")
        return BilledLine(day, chosen, line_item, model, amount, currency)

    return parse


def _openai_export_row(cells: Mapping[str, str], row: int) -> BilledLine:
    """One row of OpenAI's cost export: a day's cost for one line item."""

    def cell(name: str) -> str:
        return cells.get(name, "")

    start = cell("start_time")
    if not start:
        raise CostCsvError(row, "start_time", "missing")
    if not _UNIX_SECONDS.fullmatch(start):
        raise CostCsvError(row, "start_time", f"not unix seconds: {start!r}")
    day = datetime.fromtimestamp(int(start), tz=UTC).date()
    amount = _csv_amount(cell("amount_value"), row, "amount_value")
    currency = _csv_currency(cell("amount_currency"), row, "amount_currency")
    line_item = cell("line_item") or UNGROUPED_LINE_ITEM
    model = _model_of_line_item(line_item) if cell("line_item") else None
    return BilledLine(day, "openai", line_item, model, amount, currency)


def _csv_day(text: str, row: int, column: str) -> date:
    """`YYYY-MM-DD` only: `03/04/2025` means two different days on two sides of the Atlantic."""
    if not text:
        raise CostCsvError(row, column, "missing")
    if not _ISO_DAY.fullmatch(text):
        raise CostCsvError(row, column, f"not a YYYY-MM-DD date: {text!r}")
    try:
        return date.fromisoformat(text)
    except ValueError as err:
        raise CostCsvError(row, column, f"not a date: {text!r}") from err


def _csv_amount(text: str, row: int, column: str) -> Decimal:
    """A plain, finite, non-negative decimal: no currency signs or thousands separators to guess at."""
    if not text:
        raise CostCsvError(row, column, "missing")
    try:
        amount = Decimal(text)
    except InvalidOperation as err:
        raise CostCsvError(row, column, f"not a decimal amount: {text!r}") from err
    if not amount.is_finite():
        raise CostCsvError(row, column, f"not a finite amount: {text!r}")
    if amount < 0:
        raise CostCsvError(row, column, f"negative: {text}")
    return amount


def _csv_currency(text: str, row: int, column: str) -> str:
    """USD unless told otherwise: both providers bill in it."""
    if not text:
        return "USD"
    if not _CURRENCY.fullmatch(text):
        raise CostCsvError(row, column, f"not a three-letter currency code: {text!r}")
    return text.upper()
