"""The Stripe backfill against stripe-mock (started by the fixture; see tests/stripe_mock.py).

stripe-mock is stateless: every list answers one fixed fixture object with `has_more: false`,
whatever `limit`, `created` or `status` ask, though it does reject parameters its OpenAPI spec does
not allow, and it honours `expand`. So these tests check what it can show (the requests the
backfill sends pass the spec's validation, which objects come back and the fields read from them)
and record every request to check the filters. Pagination and long `lines` lists are simulated by
rewriting its answers to say `has_more: true`, so stripe-python's own paging makes the next request.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import islice
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import stripe

from marginlens.revenue.backfill import (
    BackfillKind,
    RefundSource,
    fetch_since,
    since_timestamp,
    stripe_client,
)
from tests.stripe_mock import API_KEY, stripe_mock_server

pytestmark = pytest.mark.integration

SINCE = date(2024, 1, 1)
SINCE_TS = "1704067200"  # 2024-01-01T00:00:00Z

Rewrite = Callable[[str, dict[str, Any]], None]  # (path, decoded body), mutated in place


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    path: str
    query: dict[str, str]


class RecordingHTTPClient(stripe.HTTPClient):
    """stripe-python's urllib client, recording each request and optionally rewriting the answer."""

    name = "recording"

    def __init__(self, rewrite: Rewrite | None = None) -> None:
        super().__init__()
        self._inner = stripe.UrllibClient()
        self._rewrite = rewrite
        self.requests: list[Request] = []

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        parts = urlsplit(url)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        self.requests.append(Request(method, url, parts.path, query))
        content, status, response_headers = self._inner.request(method, url, headers or {}, post_data)
        if self._rewrite is not None and status == 200:
            body = json.loads(content)
            self._rewrite(parts.path, body)
            return json.dumps(body), status, response_headers
        return content, status, response_headers

    def close(self) -> None:
        self._inner.close()

    def paths(self) -> list[str]:
        return [request.path for request in self.requests]


@pytest.fixture(scope="module")
def stripe_mock_url() -> Iterator[str]:
    with stripe_mock_server() as url:
        yield url


def client_for(url: str, rewrite: Rewrite | None = None) -> tuple[stripe.StripeClient, RecordingHTTPClient]:
    http = RecordingHTTPClient(rewrite)
    return stripe_client(API_KEY, url, max_network_retries=0, http_client=http), http


def test_since_is_utc_midnight() -> None:
    assert since_timestamp(SINCE) == int(SINCE_TS)
    assert since_timestamp(SINCE) == int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())


def test_yields_each_kind_as_a_plain_dict(stripe_mock_url: str) -> None:
    client, http = client_for(stripe_mock_url)

    items = list(fetch_since(client, SINCE, refund_source="refund"))

    assert [item.kind for item in items] == ["invoice", "refund", "credit_note"]
    for _, document, _ in items:
        assert type(document) is dict
        json.dumps(document)  # JSON-shaped all the way down, like a webhook's data.object
    assert all(request.url.startswith(stripe_mock_url) for request in http.requests)

    invoice, refund, credit_note = (item.object for item in items)
    # The fields the document path reads, as stripe-mock's fixtures (the API's own examples) have them.
    assert invoice["object"] == "invoice" and invoice["id"].startswith("in_")
    assert invoice["customer"].startswith("cus_") and invoice["currency"] == "usd"
    assert isinstance(invoice["created"], int)
    assert invoice["lines"]["has_more"] is False
    line = invoice["lines"]["data"][0]
    assert isinstance(line["amount"], int)
    assert set(line["period"]) == {"start", "end"}
    assert refund["object"] == "refund" and refund["id"].startswith("re_")
    assert isinstance(refund["amount"], int) and refund["charge"].startswith("ch_")  # not expanded
    assert refund["status"] == "succeeded"
    assert credit_note["object"] == "credit_note" and credit_note["id"].startswith("cn_")
    assert credit_note["invoice"].startswith("in_") and credit_note["status"] in {"issued", "void"}
    assert isinstance(credit_note["total"], int)
    assert credit_note["lines"]["data"][0]["id"].startswith("cnli_")


def test_refunds_of_charges_come_as_their_charge_by_default(stripe_mock_url: str) -> None:
    client, http = client_for(stripe_mock_url)

    items = list(fetch_since(client, SINCE))

    assert [item.kind for item in items] == ["invoice", "charge", "credit_note"]
    charge = items[1].object
    assert charge["object"] == "charge" and charge["id"].startswith("ch_")
    assert isinstance(charge["amount_refunded"], int) and charge["currency"] == "usd"
    assert http.requests[1].query["expand[0]"] == "data.charge"  # expanded: no request per charge
    assert http.paths() == ["/v1/invoices", "/v1/refunds", "/v1/credit_notes"]


def test_on_item_is_called_once_per_object(stripe_mock_url: str) -> None:
    client, _ = client_for(stripe_mock_url)
    seen: list[BackfillKind] = []

    for kind, _, _ in fetch_since(client, SINCE, on_item=seen.append):
        assert seen[-1] == kind  # called before the object is handed out

    assert seen == ["invoice", "charge", "credit_note"]


@pytest.mark.parametrize("refund_source", ["charge", "refund"])
def test_since_becomes_a_created_gte_filter(stripe_mock_url: str, refund_source: RefundSource) -> None:
    client, http = client_for(stripe_mock_url)

    list(fetch_since(client, SINCE, refund_source=refund_source))

    assert http.paths() == ["/v1/invoices", "/v1/refunds", "/v1/credit_notes"]
    invoices, refunds, credit_notes = http.requests
    assert invoices.query == {"status": "paid", "created[gte]": SINCE_TS, "limit": "100"}
    expand = {"expand[0]": "data.charge"} if refund_source == "charge" else {}
    assert refunds.query == {"created[gte]": SINCE_TS, "limit": "100", **expand}
    assert credit_notes.query == {"created[gte]": SINCE_TS, "limit": "100"}
    assert {request.method for request in http.requests} == {"get"}


def first_page_has_more() -> Rewrite:
    """Make the first answer of each list say there is another page (stripe-mock never does)."""
    answered: Counter[str] = Counter()

    def rewrite(path: str, body: dict[str, Any]) -> None:
        answered[path] += 1
        if answered[path] == 1 and body.get("object") == "list":
            body["has_more"] = True

    return rewrite


def test_follows_has_more_with_the_same_filters(stripe_mock_url: str) -> None:
    client, http = client_for(stripe_mock_url, first_page_has_more())

    items = list(fetch_since(client, SINCE, refund_source="refund", page_size=1))

    # stripe-mock's second page is its one fixture again: the same ids twice, each handed out.
    assert Counter(item.kind for item in items) == {"invoice": 2, "refund": 2, "credit_note": 2}
    assert http.paths() == ["/v1/invoices"] * 2 + ["/v1/refunds"] * 2 + ["/v1/credit_notes"] * 2
    for kind, first, second, last_id in (
        ("invoice", http.requests[0], http.requests[1], items[0].object["id"]),
        ("refund", http.requests[2], http.requests[3], items[2].object["id"]),
        ("credit_note", http.requests[4], http.requests[5], items[4].object["id"]),
    ):
        assert first.query["created[gte]"] == SINCE_TS and first.query["limit"] == "1", kind
        assert second.query == {**first.query, "starting_after": last_id}, kind
    assert http.requests[0].query["status"] == "paid"


def test_a_charge_refunded_twice_comes_once(stripe_mock_url: str) -> None:
    # Both refund pages name the same charge (stripe-mock's fixture): one charge, cumulative.
    client, http = client_for(stripe_mock_url, first_page_has_more())

    items = list(fetch_since(client, SINCE, page_size=1))

    assert Counter(item.kind for item in items) == {"invoice": 2, "charge": 1, "credit_note": 2}
    assert http.paths().count("/v1/refunds") == 2


def test_fetches_all_lines_when_the_embedded_page_has_more(stripe_mock_url: str) -> None:
    def embedded_lines_have_more(path: str, body: dict[str, Any]) -> None:
        if path in {"/v1/invoices", "/v1/credit_notes"}:
            for document in body["data"]:
                document["lines"]["has_more"] = True
                document["lines"]["data"] = []  # what was embedded is replaced, not kept

    client, http = client_for(stripe_mock_url, embedded_lines_have_more)

    items = {item.kind: item.object for item in fetch_since(client, SINCE)}

    assert list(items) == ["invoice", "charge", "credit_note"]
    invoice, credit_note = items["invoice"], items["credit_note"]
    assert http.paths() == [
        "/v1/invoices",
        f"/v1/invoices/{invoice['id']}/lines",
        "/v1/refunds",
        "/v1/credit_notes",
        f"/v1/credit_notes/{credit_note['id']}/lines",
    ]
    assert http.requests[1].query == http.requests[4].query == {"limit": "100"}
    for document in (invoice, credit_note):
        assert document["lines"]["has_more"] is False
        assert document["lines"]["url"] == f"/v1/{document['object']}s/{document['id']}/lines"
        assert len(document["lines"]["data"]) == 1
    assert invoice["lines"]["data"][0]["object"] == "line_item"
    assert credit_note["lines"]["data"][0]["object"] == "credit_note_line_item"


def test_pages_are_fetched_lazily(stripe_mock_url: str) -> None:
    client, http = client_for(stripe_mock_url)

    [(kind, _, _)] = islice(fetch_since(client, SINCE), 1)

    assert kind == "invoice"
    assert http.paths() == ["/v1/invoices"]


def test_stripe_mock_rejects_what_its_spec_does_not_allow(stripe_mock_url: str) -> None:
    """Why the tests above passing means the backfill's parameters are valid for the API."""
    client, _ = client_for(stripe_mock_url)

    with pytest.raises(stripe.InvalidRequestError, match="status"):
        client.v1.invoices.list({"status": "settled"})
