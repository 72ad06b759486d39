"""The providers' bills, fetched over real HTTP from local fakes of their documented cost APIs, and read
from CSV: exact amounts, every page, the documented requests, and clear errors."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from marginlens.reconciliation import provider_reports
from marginlens.reconciliation.provider_reports import (
    FETCHERS,
    BilledLine,
    CostCsvError,
    ProviderReportError,
    fetch_anthropic_costs,
    fetch_openai_costs,
    read_cost_csv,
)
from tests.provider_fakes import FakeAnthropicCosts, FakeOpenAICosts

pytestmark = pytest.mark.integration

AUGUST = [date(2025, 8, 1) + timedelta(days=n) for n in range(31)]
FIRST, LAST = AUGUST[0], AUGUST[-1]


def _unix(day: date) -> str:
    return str(int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()))


def openai_month() -> list[BilledLine]:
    """Three to four line items a day, with amounts a float would not keep."""
    lines = []
    for n, day in enumerate(AUGUST):
        lines += [
            BilledLine(
                day,
                "openai",
                "gpt-4o-2024-08-06, input",
                "gpt-4o-2024-08-06",
                Decimal(f"0.{n + 1:02d}"),
                "USD",
            ),
            BilledLine(
                day,
                "openai",
                "gpt-4o-2024-08-06, output",
                "gpt-4o-2024-08-06",
                Decimal("0.30000000000000004"),
                "USD",
            ),
            BilledLine(
                day,
                "openai",
                "gpt-4o-mini, cached input",
                "gpt-4o-mini",
                Decimal(f"1{n}.000000123456789"),
                "USD",
            ),
        ]
        if n % 3 == 0:
            lines.append(
                BilledLine(
                    day, "openai", "web search tool calls", None, Decimal("123456789.012345678901"), "USD"
                )
            )
    return lines


def anthropic_month() -> list[BilledLine]:
    """Anthropic's descriptions, amounts with more decimals than a cent."""
    sonnet = "claude-sonnet-4-20250514"
    lines = []
    for n, day in enumerate(AUGUST):
        lines += [
            BilledLine(
                day, "anthropic", "Claude Sonnet 4 Usage - Input Tokens", sonnet, Decimal("1.2345"), "USD"
            ),
            BilledLine(
                day,
                "anthropic",
                "Claude Sonnet 4 Usage - Output Tokens",
                sonnet,
                Decimal(f"{n}.000001"),
                "USD",
            ),
        ]
        if n % 4 == 0:
            lines.append(BilledLine(day, "anthropic", "Web Search", None, Decimal("0.01"), "USD"))
    return lines


def outside_and_zero(provider: str) -> list[BilledLine]:
    """Lines the fetch must not return: the days around the month, and a zero amount."""
    return [
        BilledLine(date(2025, 7, 31), provider, "gpt-4o, input", "gpt-4o", Decimal("9.99"), "USD"),
        BilledLine(date(2025, 9, 1), provider, "gpt-4o, input", "gpt-4o", Decimal("9.99"), "USD"),
        BilledLine(date(2025, 8, 15), provider, "gpt-4o, free", "gpt-4o", Decimal("0"), "USD"),
    ]


def _key(line: BilledLine) -> tuple[date, str]:
    return (line.day, line.line_item)


def _assert_same(got: list[BilledLine], expected: list[BilledLine]) -> None:
    assert sorted(got, key=_key) == sorted(expected, key=_key)
    for line in got:  # equal as numbers is not enough: no float went through
        assert type(line.amount) is Decimal


# --- OpenAI -----------------------------------------------------------------------------------------


def test_openai_month_over_several_pages_comes_back_exactly() -> None:
    month = openai_month()
    with FakeOpenAICosts(month + outside_and_zero("openai"), page_size=2) as fake:
        got = fetch_openai_costs(fake.admin_key, FIRST, LAST, base_url=fake.base_url)
        pages = len(fake.requests)

    _assert_same(got, month)
    assert pages == 16  # 31 daily buckets, 2 a page
    by_item = {line.line_item: line for line in got if line.day == date(2025, 8, 1)}
    assert by_item["gpt-4o-2024-08-06, output"].amount == Decimal("0.30000000000000004")
    assert by_item["gpt-4o-2024-08-06, output"].model == "gpt-4o-2024-08-06"
    assert by_item["gpt-4o-mini, cached input"].model == "gpt-4o-mini"
    assert by_item["web search tool calls"].model is None
    assert by_item["web search tool calls"].amount == Decimal("123456789.012345678901")
    assert {line.currency for line in got} == {"USD"}  # "usd" on the wire


def test_openai_requests_carry_the_key_the_documented_params_and_each_cursor() -> None:
    with FakeOpenAICosts(openai_month(), page_size=7) as fake:
        fetch_openai_costs(fake.admin_key, FIRST, LAST, base_url=fake.base_url)

    assert len(fake.requests) == 5  # 7 + 7 + 7 + 7 + 3 buckets
    for path, query in fake.requests:
        assert path == "/v1/organization/costs"
        assert query["start_time"] == [_unix(FIRST)]
        assert query["end_time"] == [_unix(date(2025, 9, 1))]  # exclusive: the whole of Aug 31
        assert query["bucket_width"] == ["1d"]
        assert query["group_by"] == ["line_item"]
        assert query["limit"] == ["31"]
    for headers in fake.request_headers:
        assert headers["authorization"] == "Bearer sk-admin-test"
    sent = [query.get("page") for _, query in fake.requests]
    assert sent[0] is None
    assert sent[1:] == [[cursor] for cursor in fake.next_pages[:-1]]
    assert fake.next_pages[-1] is None


def test_openai_page_is_the_documented_shape() -> None:
    day = date(2025, 8, 1)
    line = BilledLine(day, "openai", "gpt-4o-2024-08-06, input", "gpt-4o-2024-08-06", Decimal("0.06"), "USD")
    with FakeOpenAICosts([line]) as fake:
        request = urllib.request.Request(
            f"{fake.base_url}/v1/organization/costs?start_time={_unix(day)}&group_by=line_item",
            headers={"Authorization": "Bearer sk-admin-test"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            raw = response.read()

    assert b'"value": 0.06' in raw  # a JSON number, as documented
    page = json.loads(raw)
    assert page["object"] == "page"
    assert page["has_more"] is False
    assert page["next_page"] is None
    assert page["data"][0]["start_time"] == int(_unix(day))
    assert page["data"][0]["results"] == [
        {
            "object": "organization.costs.result",
            "amount": {"value": 0.06, "currency": "usd"},
            "line_item": "gpt-4o-2024-08-06, input",
            "project_id": None,
        }
    ]


# --- Anthropic --------------------------------------------------------------------------------------


def test_anthropic_month_over_several_pages_comes_back_exactly_in_dollars() -> None:
    month = anthropic_month()
    with FakeAnthropicCosts(month + outside_and_zero("anthropic"), page_size=3) as fake:
        got = fetch_anthropic_costs(fake.admin_key, FIRST, LAST, base_url=fake.base_url)
        pages = len(fake.requests)

    _assert_same(got, month)
    assert pages == 11  # 31 daily buckets, 3 a page
    first = {line.line_item: line for line in got if line.day == FIRST}
    assert first["Claude Sonnet 4 Usage - Input Tokens"].amount == Decimal("1.2345")  # "123.45" cents
    assert first["Claude Sonnet 4 Usage - Input Tokens"].model == "claude-sonnet-4-20250514"
    assert first["Web Search"].model is None


def test_anthropic_requests_carry_the_key_version_documented_params_and_each_cursor() -> None:
    with FakeAnthropicCosts(anthropic_month(), page_size=10) as fake:
        fetch_anthropic_costs(fake.admin_key, FIRST, LAST, base_url=fake.base_url)

    assert len(fake.requests) == 4  # 10 + 10 + 10 + 1 buckets
    for path, query in fake.requests:
        assert path == "/v1/organizations/cost_report"
        assert query["starting_at"] == ["2025-08-01T00:00:00Z"]
        assert query["ending_at"] == ["2025-09-01T00:00:00Z"]
        assert query["group_by[]"] == ["description"]
        assert query["bucket_width"] == ["1d"]
        assert query["limit"] == ["31"]
    for headers in fake.request_headers:
        assert headers["x-api-key"] == "sk-ant-admin-test"
        assert headers["anthropic-version"] == "2023-06-01"
        assert "authorization" not in headers
    sent = [query.get("page") for _, query in fake.requests]
    assert sent[0] is None
    assert sent[1:] == [[cursor] for cursor in fake.next_pages[:-1]]
    assert fake.next_pages[-1] is None


def test_anthropic_page_is_the_documented_shape_with_cents_as_strings() -> None:
    line = BilledLine(
        FIRST,
        "anthropic",
        "Claude Sonnet 4 Usage - Input Tokens",
        "claude-sonnet-4-20250514",
        Decimal("1.2345"),
        "USD",
    )
    with FakeAnthropicCosts([line]) as fake:
        request = urllib.request.Request(
            f"{fake.base_url}/v1/organizations/cost_report?starting_at=2025-08-01T00:00:00Z"
            "&ending_at=2025-08-02T00:00:00Z&group_by%5B%5D=description",
            headers={"x-api-key": "sk-ant-admin-test", "anthropic-version": "2023-06-01"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            page = json.loads(response.read())

    assert page["has_more"] is False
    assert page["data"] == [
        {
            "starting_at": "2025-08-01T00:00:00Z",
            "ending_at": "2025-08-02T00:00:00Z",
            "results": [
                {
                    "currency": "USD",
                    "amount": "123.45",
                    "workspace_id": None,
                    "description": "Claude Sonnet 4 Usage - Input Tokens",
                    "cost_type": "tokens",
                    "context_window": "0-200k",
                    "model": "claude-sonnet-4-20250514",
                    "service_tier": "standard",
                    "token_type": "uncached_input_tokens",
                }
            ],
        }
    ]


# --- Failures, both providers -----------------------------------------------------------------------

Fake = type[FakeOpenAICosts] | type[FakeAnthropicCosts]
PROVIDERS: list[tuple[Fake, Callable[..., list[BilledLine]], Callable[[], list[BilledLine]]]] = [
    (FakeOpenAICosts, fetch_openai_costs, openai_month),
    (FakeAnthropicCosts, fetch_anthropic_costs, anthropic_month),
]
IDS = ["openai", "anthropic"]


@pytest.mark.parametrize(("fake_type", "fetch", "month"), PROVIDERS, ids=IDS)
def test_a_wrong_key_is_a_401_with_the_providers_message(
    fake_type: Fake, fetch: Callable[..., list[BilledLine]], month: Callable[[], list[BilledLine]]
) -> None:
    with fake_type(month()) as fake, pytest.raises(ProviderReportError) as raised:
        fetch("sk-wrong", FIRST, LAST, base_url=fake.base_url)

    message = str(raised.value)
    assert "HTTP 401" in message
    assert ("Incorrect API key provided" if fake_type is FakeOpenAICosts else "invalid x-api-key") in message
    assert "sk-wrong" not in message


@pytest.mark.parametrize(("fake_type", "fetch", "month"), PROVIDERS, ids=IDS)
@pytest.mark.parametrize("status", [500, 429])
def test_a_failing_api_is_an_error_with_the_status_and_passes_when_it_recovers(
    fake_type: Fake,
    fetch: Callable[..., list[BilledLine]],
    month: Callable[[], list[BilledLine]],
    status: int,
) -> None:
    with fake_type(month()) as fake:
        fake.fail_with(status, times=1)
        with pytest.raises(ProviderReportError, match=f"HTTP {status}: ") as raised:
            fetch(fake.admin_key, FIRST, LAST, base_url=fake.base_url)
        assert len(fake.requests) == 1  # no retry here: the caller (a scheduled job) tries again later
        assert len(fetch(fake.admin_key, FIRST, LAST, base_url=fake.base_url)) == len(month())

    if status == 500:
        expected = "Sorry about that" if fake_type is FakeOpenAICosts else "Internal server error"
        assert expected in str(raised.value)


@pytest.mark.parametrize(("fake_type", "fetch", "month"), PROVIDERS, ids=IDS)
def test_a_failure_midway_through_the_pages_is_an_error_not_a_partial_bill(
    fake_type: Fake, fetch: Callable[..., list[BilledLine]], month: Callable[[], list[BilledLine]]
) -> None:
    with fake_type(month(), page_size=5) as fake:
        fake.fail_with(503, after=2)  # pages 1 and 2 served, then failures until cleared
        with pytest.raises(ProviderReportError, match="HTTP 503"):
            fetch(fake.admin_key, FIRST, LAST, base_url=fake.base_url)
        assert len(fake.requests) == 3
        fake.fail_with(None)
        assert len(fetch(fake.admin_key, FIRST, LAST, base_url=fake.base_url)) == len(month())


OPENAI_MALFORMED = [
    b"<html>Bad gateway</html>",
    b'{"object": "page", "has_more": false}',  # no data: not a month without costs
    b'{"object": "page", "data": "none", "has_more": false}',
    b'{"object": "page", "data": [], "has_more": "no"}',
    b'{"object": "page", "data": [], "has_more": true, "next_page": null}',
    b'{"data": [{"start_time": "yesterday", "results": []}], "has_more": false}',
    b'{"data": [{"start_time": 1754006400, "results": [{"amount": {"value": "0.06", "currency": "usd"}}]}],'
    b' "has_more": false}',
    b'{"data": [{"start_time": 1754006400, "results": [{"amount": {"value": NaN, "currency": "usd"}}]}],'
    b' "has_more": false}',
    b'{"data": [{"start_time": 1754006400, "results": [{"amount": {"value": 1, "currency": 840}}]}],'
    b' "has_more": false}',
]
ANTHROPIC_MALFORMED = [
    b"",
    b"[]",
    b'{"data": [{"starting_at": "2025-08-01", "results": []}], "has_more": false}',  # no offset
    b'{"data": [{"starting_at": "2025-08-01T00:00:00Z", "results": [{"amount": 123.45, "currency": "USD"}]}],'
    b' "has_more": false}',  # documented as a string
    b'{"data": [{"starting_at": "2025-08-01T00:00:00Z", "results": [{"amount": "12,5", "currency": "USD"}]}],'
    b' "has_more": false}',
    b'{"data": [{"starting_at": "2025-08-01T00:00:00Z", "results": [{"amount": "1", "currency": "EUR"}]}],'
    b' "has_more": false}',
]


@pytest.mark.parametrize("body", OPENAI_MALFORMED)
def test_a_malformed_openai_body_is_an_error(body: bytes) -> None:
    with FakeOpenAICosts(openai_month()) as fake:
        fake.answer_raw(body)
        with pytest.raises(ProviderReportError, match="OpenAI"):
            fetch_openai_costs(fake.admin_key, FIRST, LAST, base_url=fake.base_url)


@pytest.mark.parametrize("body", ANTHROPIC_MALFORMED)
def test_a_malformed_anthropic_body_is_an_error(body: bytes) -> None:
    with FakeAnthropicCosts(anthropic_month()) as fake:
        fake.answer_raw(body)
        with pytest.raises(ProviderReportError, match="Anthropic"):
            fetch_anthropic_costs(fake.admin_key, FIRST, LAST, base_url=fake.base_url)


def test_a_cursor_that_does_not_move_is_an_error_not_a_loop() -> None:
    stuck = b'{"object": "page", "data": [], "has_more": true, "next_page": "page_same"}'
    with FakeOpenAICosts([]) as fake:
        fake.answer_raw(stuck, times=None)
        with pytest.raises(ProviderReportError, match="repeats"):
            fetch_openai_costs(fake.admin_key, FIRST, LAST, base_url=fake.base_url)
        assert len(fake.requests) == 2


def test_pagination_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provider_reports, "MAX_PAGES", 3)
    with FakeAnthropicCosts(anthropic_month(), page_size=1) as fake:
        with pytest.raises(ProviderReportError, match="after 3 pages"):
            fetch_anthropic_costs(fake.admin_key, FIRST, LAST, base_url=fake.base_url)
        assert len(fake.requests) == 3


@pytest.mark.parametrize("fetch", [fetch_openai_costs, fetch_anthropic_costs], ids=IDS)
def test_an_unreachable_api_is_an_error(fetch: Callable[..., list[BilledLine]]) -> None:
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ProviderReportError, match="could not be reached"):
        fetch("key", FIRST, LAST, base_url=f"http://127.0.0.1:{port}", timeout_s=5)


def test_bad_arguments_are_refused_before_any_request() -> None:
    with pytest.raises(ValueError, match="before"):
        fetch_openai_costs("key", LAST, FIRST, base_url="http://127.0.0.1:9")
    with pytest.raises(TypeError):
        fetch_anthropic_costs("key", datetime(2025, 8, 1, tzinfo=UTC), LAST, base_url="http://127.0.0.1:9")
    with pytest.raises(ValueError, match="http"):
        fetch_openai_costs("key", FIRST, LAST, base_url="file:///etc")
    assert dict(FETCHERS) == {"openai": fetch_openai_costs, "anthropic": fetch_anthropic_costs}


def test_a_single_day_asks_for_one_bucket() -> None:
    with FakeOpenAICosts(openai_month()) as fake:
        got = fetch_openai_costs(fake.admin_key, FIRST, FIRST, base_url=fake.base_url)
    assert {line.day for line in got} == {FIRST}
    assert fake.requests[0][1]["limit"] == ["1"]
    assert fake.requests[0][1]["end_time"] == [_unix(FIRST + timedelta(days=1))]


# --- CSV --------------------------------------------------------------------------------------------


SIMPLE_CSV = (
    "\ufeffDate,Provider,Model,Line_Item,Amount,Currency\r\n"
    '2025-08-01,openai,gpt-4o-2024-08-06,"gpt-4o-2024-08-06, input",0.30000000000000004,usd\r\n'
    "2025-08-01,anthropic,claude-sonnet-4-20250514,,1.2345,\r\n"
    "\r\n"
    "2025-08-02,openai,,web search tool calls,12,USD\r\n"
)


def test_the_simple_csv_is_read_exactly() -> None:
    assert read_cost_csv(SIMPLE_CSV) == [
        BilledLine(
            date(2025, 8, 1),
            "openai",
            "gpt-4o-2024-08-06, input",
            "gpt-4o-2024-08-06",
            Decimal("0.30000000000000004"),
            "USD",
        ),
        BilledLine(
            date(2025, 8, 1),
            "anthropic",
            "claude-sonnet-4-20250514",
            "claude-sonnet-4-20250514",
            Decimal("1.2345"),
            "USD",
        ),
        BilledLine(date(2025, 8, 2), "openai", "web search tool calls", None, Decimal("12"), "USD"),
    ]


def test_the_minimal_csv_with_the_provider_given() -> None:
    text = "date,model,amount\n2025-08-03,claude-opus-4-1,0.5\n"
    assert read_cost_csv(text, provider="anthropic") == [
        BilledLine(date(2025, 8, 3), "anthropic", "claude-opus-4-1", "claude-opus-4-1", Decimal("0.5"), "USD")
    ]


def test_openais_own_cost_export_is_read() -> None:
    text = (
        "start_time,end_time,amount_value,amount_currency,line_item,project_id,project_name,"
        "organization_id,organization_name\n"
        f"{_unix(FIRST)},{_unix(FIRST + timedelta(days=1))},0.0123456789,usd,"
        '"gpt-4o-2024-08-06, output",proj_1,Default,org-1,Acme\n'
        f"{_unix(FIRST)},{_unix(FIRST + timedelta(days=1))},0.5,usd,web search tool calls,"
        "proj_1,Default,org-1,Acme\n"
    )
    assert read_cost_csv(text) == [
        BilledLine(
            FIRST, "openai", "gpt-4o-2024-08-06, output", "gpt-4o-2024-08-06", Decimal("0.0123456789"), "USD"
        ),
        BilledLine(FIRST, "openai", "web search tool calls", None, Decimal("0.5"), "USD"),
    ]
    with pytest.raises(CostCsvError, match="OpenAI cost export"):
        read_cost_csv(text, provider="anthropic")


HEADER = "date,provider,model,amount\n"
GOOD_ROW = "2025-08-01,openai,gpt-4o,1.00\n"


@pytest.mark.parametrize(
    ("row", "column", "problem"),
    [
        ("2025-08-02,openai,gpt-4o,-0.01", "amount", "negative"),
        ("2025-08-02,openai,gpt-4o,", "amount", "missing"),
        ("2025-08-02,openai,gpt-4o", "amount", "missing"),
        ("2025-08-02,openai,gpt-4o,$1.00", "amount", "not a decimal"),
        ("2025-08-02,openai,gpt-4o,1,234.00", None, "fields"),
        ("2025-08-02,openai,gpt-4o,NaN", "amount", "not a finite"),
        ("08/02/2025,openai,gpt-4o,1.00", "date", "YYYY-MM-DD"),
        ("2025-02-30,openai,gpt-4o,1.00", "date", "not a date"),
        (",openai,gpt-4o,1.00", "date", "missing"),
        ("2025-08-02,mistral,mistral-large,1.00", "provider", "must be one of"),
        ("2025-08-02,,gpt-4o,1.00", "provider", "missing"),
        ("2025-08-02,openai,,1.00", "model", "neither"),
    ],
)
def test_a_bad_row_names_its_row_and_column(row: str, column: str | None, problem: str) -> None:
    with pytest.raises(CostCsvError) as raised:
        read_cost_csv(HEADER + GOOD_ROW + row + "\n")

    error = raised.value
    assert isinstance(error, ValueError)
    assert error.row == 3  # the header is row 1
    assert error.column == column
    assert problem in str(error)
    assert str(error).startswith("row 3" + (f", column {column!r}" if column else ""))


def test_a_bad_currency_and_a_disagreeing_provider_name_their_column() -> None:
    with pytest.raises(CostCsvError, match=r"row 2, column 'currency'"):
        read_cost_csv("date,provider,model,amount,currency\n2025-08-01,openai,gpt-4o,1,dollars\n")
    with pytest.raises(CostCsvError, match=r"row 3, column 'provider'.*read as 'openai'"):
        read_cost_csv(HEADER + GOOD_ROW + "2025-08-01,anthropic,claude,1\n", provider="openai")


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("", None),
        ("provider,model,amount\nopenai,gpt-4o,1\n", "date"),
        ("date,provider,model\n2025-08-01,openai,gpt-4o\n", "amount"),
        ("date,provider,amount\n2025-08-01,openai,1\n", "model"),
        ("date,model,amount\n2025-08-01,gpt-4o,1\n", "provider"),
        ("date,provider,model,amount,amount\n", "amount"),
    ],
)
def test_a_bad_header_is_refused_on_its_row(text: str, column: str | None) -> None:
    with pytest.raises(CostCsvError) as raised:
        read_cost_csv(text)
    assert raised.value.row == 1
    assert raised.value.column == column


def test_an_unknown_provider_argument_is_refused() -> None:
    with pytest.raises(ValueError, match="provider"):
        read_cost_csv(HEADER + GOOD_ROW, provider="bedrock")
