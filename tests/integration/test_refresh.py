"""The upstream price refresh against a real DynamoDB engine and a local HTTP server.

The price files are genai-prices' v2 data format, rebuilt from the data bundled with the
installed package (which ships Python objects, not the JSON), then edited per test.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from genai_prices import types
from genai_prices.data import providers as bundled_providers

from marginlens.alerts.publishers import LocalAlertPublisher
from marginlens.core.settings import Settings
from marginlens.pricing.book import BASELINE_VERSION, PriceBook, baseline_info
from marginlens.pricing.refresh import ALERT_KIND, RefreshResult, refresh_prices, shrink_refused
from marginlens.pricing.store import PriceStore, parse_snapshot
from marginlens.storage.dynamodb import DynamoDBClient
from marginlens.usage.ingest import ingest
from marginlens.usage.ledger import Ledger

pytestmark = pytest.mark.integration

MILLION = Decimal(1_000_000)
NEW_INPUT_PRICE = Decimal("0.3")  # gpt-4o-mini input, per million tokens (bundled: 0.15)


# --- genai-prices data files --------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """genai-prices' types back to the JSON shape its data file (and `_providers_from_raw`) uses."""
    if isinstance(value, types.ModelPrice):
        return {k: _plain(v) for k, v in vars(value).items() if not k.startswith("_") and v is not None}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for spec in dataclasses.fields(value):
            item = getattr(value, spec.name)
            if spec.name.startswith("_") or item is None:
                continue
            out[spec.name.rstrip("_")] = _plain(item)  # ClauseOr.or_ -> "or", ClauseAnd.and_ -> "and"
        return out
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, Decimal):
        return float(value)  # the upstream file has JSON numbers; parse_snapshot reads them as Decimal
    if isinstance(value, date | time):
        return value.isoformat()
    return value


@cache
def _bundled_data() -> str:
    return json.dumps(_plain(bundled_providers))


def bundled_price_data() -> list[dict[str, Any]]:
    """The bundled price table as a fresh, editable copy of the v2 JSON structure."""
    data: list[dict[str, Any]] = json.loads(_bundled_data())
    return data


def encode(data: list[dict[str, Any]]) -> bytes:
    return json.dumps(data).encode()


def with_input_price(
    data: list[dict[str, Any]], provider: str, model: str, price: Decimal
) -> list[dict[str, Any]]:
    changed = copy.deepcopy(data)
    (found,) = [m for p in changed if p["id"] == provider for m in p["models"] if m["id"] == model]
    entries = found["prices"] if isinstance(found["prices"], list) else [{"prices": found["prices"]}]
    for entry in entries:
        entry["prices"]["input_mtok"] = float(price)
    return changed


def without_models(data: list[dict[str, Any]], share: Decimal) -> list[dict[str, Any]]:
    """Each provider loses `share` of its models (rounded up), gpt-4o-mini kept."""
    shrunk = copy.deepcopy(data)
    for provider in shrunk:
        models = provider["models"]
        drop = math.ceil(len(models) * share)
        keep = [m for m in models if m["id"] == "gpt-4o-mini"]
        rest = [m for m in models if m["id"] != "gpt-4o-mini"]
        provider["models"] = keep + rest[: max(0, len(rest) - drop)]
    return shrunk


def model_count(data: list[dict[str, Any]]) -> int:
    return sum(len(provider["models"]) for provider in data)


# --- a local HTTP server standing in for GitHub ------------------------------------------------


class PriceServer:
    """Serves `files[path] = (status, body)` on 127.0.0.1, from a background thread."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[int, bytes]] = {}
        self.requests: list[str] = []
        files, requests = self.files, self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                status, body = files.get(self.path, (404, b"not found"))
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def serve(self, path: str, body: bytes, status: int = 200) -> str:
        self.files[path] = (status, body)
        return self.url(path)

    def __enter__(self) -> PriceServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def price_server() -> Iterator[PriceServer]:
    with PriceServer() as server:
        yield server


@pytest.fixture
def store(client: DynamoDBClient, settings: Settings) -> PriceStore:
    return PriceStore(client, settings.table_name, cache_seconds=0)


@pytest.fixture
def alerts(tmp_path: Path) -> LocalAlertPublisher:
    return LocalAlertPublisher(tmp_path / "alerts.jsonl")


NOW = datetime(2030, 1, 2, 3, 15, tzinfo=UTC)  # the refresh time: far from any real fetch time


def refresh(store: PriceStore, alerts: LocalAlertPublisher, url: str, now: datetime = NOW) -> RefreshResult:
    return refresh_prices(store, alerts, url=url, max_shrink_pct=Decimal(5), now=now)


def input_cost(book: PriceBook, tokens: int = 1_000_000, at: datetime | None = None) -> Decimal | None:
    price = book.price(
        "gpt-4o-mini",
        None,
        input_tokens=tokens,
        output_tokens=0,
        cache_read_tokens=0,
        cache_write_tokens=0,
        at=at or datetime.now(UTC),
    )
    return price.cost


def event(request_id: str, at: datetime) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "customer_id": "acct_1",
        "model": "gpt-4o-mini",
        "prompt_tokens": 1000,
        "completion_tokens": 0,
        "timestamp": at.isoformat().replace("+00:00", "Z"),
    }


# --- the data files themselves ------------------------------------------------------------------


def test_rebuilt_bundled_file_parses_to_the_bundled_table() -> None:
    snapshot, count = parse_snapshot(encode(bundled_price_data()))
    assert count == baseline_info().model_count == model_count(bundled_price_data())
    assert snapshot.providers == bundled_providers


@pytest.mark.parametrize(
    ("previous", "new", "refused"),
    [(1000, 1000, False), (1000, 1100, False), (1000, 950, False), (1000, 949, True), (1000, 0, True)],
)
def test_shrink_rule(previous: int, new: int, refused: bool) -> None:
    assert shrink_refused(previous, new, Decimal(5)) is refused


# --- refresh ------------------------------------------------------------------------------------


def test_refresh_prices_new_events_at_the_new_price_and_keeps_old_costs(
    store: PriceStore,
    alerts: LocalAlertPublisher,
    price_server: PriceServer,
    settings: Settings,
    ledger: Ledger,
) -> None:
    before_refresh = datetime.now(UTC) - timedelta(minutes=5)
    book_before = store.book()
    assert book_before.info.version == BASELINE_VERSION
    old = ingest(
        event("req_before", before_refresh),
        settings=settings,
        ledger=ledger,
        prices=book_before,
        now=datetime.now(UTC),
        key_id=None,
    )
    old_cost = Decimal(old.results[0]["cost"])
    assert old_cost == 1000 * Decimal("0.15") / MILLION

    url = price_server.serve(
        "/v2/data.json",
        encode(with_input_price(bundled_price_data(), "openai", "gpt-4o-mini", NEW_INPUT_PRICE)),
    )
    result = refresh(store, alerts, url)

    assert result.status == "refreshed" and not result.refused
    assert result.previous == baseline_info()
    assert result.snapshot is not None and result.snapshot.fetched_at == NOW
    assert result.snapshot.model_count == baseline_info().model_count
    current = store.current_info()
    assert current == result.snapshot
    assert current.fetched_at == NOW and current.source == url
    assert current.version.startswith("2030-01-02T03:15:00Z-")
    assert [info.version for info in store.history()] == [current.version]
    assert alerts.read() == []

    store.invalidate()
    book = store.book()
    assert book.info == current
    assert input_cost(book) == NEW_INPUT_PRICE
    new = ingest(
        event("req_after", datetime.now(UTC)),
        settings=settings,
        ledger=ledger,
        prices=book,
        now=datetime.now(UTC),
        key_id=None,
    )
    assert Decimal(new.results[0]["cost"]) == 1000 * NEW_INPUT_PRICE / MILLION

    stored_old = ledger.get_event("req_before")
    assert stored_old is not None and stored_old["cost"] == old_cost  # priced before: keeps its cost
    stored_new = ledger.get_event("req_after")
    assert stored_new is not None and stored_new["cost"] == 1000 * NEW_INPUT_PRICE / MILLION


def test_byte_identical_file_is_unchanged_not_stored_again(
    store: PriceStore, alerts: LocalAlertPublisher, price_server: PriceServer
) -> None:
    url = price_server.serve("/data.json", encode(bundled_price_data()))
    first = refresh(store, alerts, url)
    again = refresh(store, alerts, url, now=NOW + timedelta(days=1))

    assert first.status == "refreshed"
    assert again.status == "unchanged" and again.snapshot == again.previous == first.snapshot
    assert store.current_info() == first.snapshot and len(store.history()) == 1
    assert alerts.read() == []


REFUSED_FILES: dict[str, bytes] = {
    "empty": b"",
    "blank": b"  \n",
    "corrupt": b'[{"id": "openai", "name": "OpenAI", "models": [',
    "not-a-list": b'{"providers": []}',
    "not-genai-prices": b'[{"id": "openai", "models": "gpt-4o-mini"}]',
    "no-models": b'[{"id": "openai", "name": "OpenAI", "api_pattern": "x", "models": []}]',
}


@pytest.mark.parametrize("kind", [*REFUSED_FILES, "shrunk-10pct"])
def test_bad_file_is_refused_alerted_once_and_the_last_good_snapshot_stays(
    kind: str, store: PriceStore, alerts: LocalAlertPublisher, price_server: PriceServer
) -> None:
    good = with_input_price(bundled_price_data(), "openai", "gpt-4o-mini", NEW_INPUT_PRICE)
    last_good = refresh(store, alerts, price_server.serve("/good.json", encode(good))).snapshot
    assert last_good is not None

    if kind == "shrunk-10pct":
        shrunk = without_models(good, Decimal("0.1"))
        assert model_count(shrunk) <= model_count(good) * Decimal("0.9")
        body = encode(shrunk)
    else:
        body = REFUSED_FILES[kind]
    url = price_server.serve(f"/{kind}.json", body)
    result = refresh(store, alerts, url, now=NOW + timedelta(days=1))

    assert result.refused and result.alerted
    assert result.snapshot == result.previous == last_good
    (alert,) = alerts.read()
    assert alert["kind"] == ALERT_KIND == "price_sync_failed"
    assert alert["detail"]["url"] == url and alert["detail"]["current_version"] == last_good.version
    assert alert["detail"]["reason"] == result.reason
    if kind == "shrunk-10pct":
        assert alert["detail"]["fetched_model_count"] == model_count(shrunk)
        assert "fewer" in alert["detail"]["reason"]

    assert store.current_info() == last_good and len(store.history()) == 1
    store.invalidate()
    assert input_cost(store.book()) == NEW_INPUT_PRICE  # pricing goes on with the last good snapshot


def test_refused_with_nothing_refreshed_yet_keeps_the_bundled_baseline(
    store: PriceStore, alerts: LocalAlertPublisher, price_server: PriceServer
) -> None:
    shrunk = without_models(bundled_price_data(), Decimal("0.1"))
    result = refresh(store, alerts, price_server.serve("/shrunk.json", encode(shrunk)))

    assert result.refused and result.snapshot == baseline_info()
    assert len(alerts.read()) == 1
    assert store.current_info() == baseline_info() and store.history() == []
    assert input_cost(store.book()) == Decimal("0.15")


def test_http_error_is_refused_with_an_alert(
    store: PriceStore, alerts: LocalAlertPublisher, price_server: PriceServer
) -> None:
    url = price_server.serve("/data.json", b'{"error": "upstream down"}', status=500)
    result = refresh(store, alerts, url)

    assert result.refused and "HTTP 500" in (result.reason or "")
    assert price_server.requests == ["/data.json"]
    (alert,) = alerts.read()
    assert alert["kind"] == "price_sync_failed" and "HTTP 500" in alert["detail"]["reason"]
    assert store.current_info() == baseline_info()


def test_unreachable_server_is_refused_with_an_alert(store: PriceStore, alerts: LocalAlertPublisher) -> None:
    with PriceServer() as server:
        url = server.url("/data.json")
    result = refresh(store, alerts, url)  # the port is closed now

    assert result.refused and "could not be fetched" in (result.reason or "")
    assert len(alerts.read()) == 1


def test_a_failing_alert_channel_does_not_turn_a_refusal_into_an_error(store: PriceStore) -> None:
    class Broken:
        calls = 0

        def publish(self, kind: str, subject: str, detail: dict[str, Any]) -> None:
            Broken.calls += 1
            raise ConnectionError("SNS is down")

    result = refresh_prices(
        store, Broken(), url="http://127.0.0.1:9/x", max_shrink_pct=Decimal(5), now=NOW, fetch=lambda _: b""
    )
    assert result.refused and not result.alerted and Broken.calls == 1
