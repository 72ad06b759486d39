"""The alert claim protocol (marginlens.storage.claims): claim, publish, mark sent, release, lease."""

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from marginlens.api.routes import CHECK_BUDGETS
from marginlens.core.settings import Settings
from marginlens.storage import claims as alert_claims
from marginlens.storage.claims import LEASE, ClaimResult, send_once
from marginlens.storage.dynamodb import PK, SK, DynamoDBClient, from_item, make_client, to_item
from tests.integration.conftest import Crash

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
KEY = {PK: "ALERTCLAIM#test", SK: "2026-11#warning#600.00#75"}
ATTRIBUTES = {"claim": "threshold", "threshold": "warning", "period": "2026-11"}


class Calls:
    def __init__(self, error: BaseException | None = None) -> None:
        self.count = 0
        self.error = error
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self.count += 1
        if self.error is not None:
            raise self.error


class Broken:
    """A client on which one operation always fails (as after botocore's retries ran out)."""

    def __init__(self, client: DynamoDBClient, operation: str, when: Any = None) -> None:
        self._client, self._operation, self._when = client, operation, when

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._client, name)
        if name != self._operation:
            return real

        def fail(**arguments: Any) -> Any:
            if self._when is not None and not self._when(arguments):
                return real(**arguments)
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"}}, name)

        return fail


class RecordingLogger:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def _log(self, level: str, message: str, extra: dict[str, Any] | None = None, **_: Any) -> None:
        self.lines.append((level, message, extra or {}))

    def warning(self, message: str, **kwargs: Any) -> None:
        self._log("warning", message, **kwargs)

    def exception(self, message: str, **kwargs: Any) -> None:
        self._log("error", message, **kwargs)


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> RecordingLogger:
    recorder = RecordingLogger()
    monkeypatch.setattr(alert_claims, "logger", recorder)
    return recorder


def send(client: Any, table: str, publish: Calls, now: datetime) -> ClaimResult:
    return send_once(client, table, KEY[PK], KEY[SK], ATTRIBUTES, publish, now)


def stored(client: DynamoDBClient, table: str) -> dict[str, Any] | None:
    found = client.get_item(TableName=table, Key=to_item(KEY), ConsistentRead=True)
    return from_item(found["Item"]) if "Item" in found else None


def test_the_lease_outlasts_a_run_of_the_function_and_fits_the_tests() -> None:
    function_timeout = timedelta(seconds=CHECK_BUDGETS.timeout_s)
    after_lease = timedelta(minutes=11)  # AFTER_LEASE in test_budgets and test_ops_alerts
    assert function_timeout < LEASE < after_lease


def test_claimed_published_and_marked_sent_once(client: DynamoDBClient, settings: Settings) -> None:
    table, publish = settings.table_name, Calls()
    assert send(client, table, publish, NOW) == ClaimResult("sent")
    item = stored(client, table)
    assert item is not None
    assert {key: item[key] for key in ("state", "claimed_at", "sent_at", "attempt", "threshold")} == {
        "state": "sent",
        "claimed_at": "2026-11-27T12:00:00Z",
        "sent_at": "2026-11-27T12:00:00Z",
        "attempt": 1,
        "threshold": "warning",
    }
    for later in (NOW, NOW + LEASE, NOW + 100 * LEASE):  # sent: no lease applies
        assert send(client, table, publish, later).outcome == "already_claimed"
    assert publish.count == 1


def test_a_failed_publish_releases_the_claim(client: DynamoDBClient, settings: Settings) -> None:
    table = settings.table_name
    failed = send(client, table, Calls(RuntimeError("SNS is down")), NOW)
    assert (failed.outcome, failed.released) == ("failed", True) and "SNS is down" in (failed.error or "")
    assert stored(client, table) is None
    publish = Calls()
    assert send(client, table, publish, NOW).outcome == "sent" and publish.count == 1


def test_a_crash_after_claiming_is_taken_over_after_the_lease_by_one_evaluator(
    client: DynamoDBClient, settings: Settings, log: RecordingLogger
) -> None:
    table = settings.table_name
    with pytest.raises(Crash):
        send(client, table, Calls(Crash()), NOW)
    left = stored(client, table)
    assert left is not None and left["state"] == "claimed"
    publish = Calls()
    assert send(client, table, publish, NOW + LEASE - timedelta(seconds=1)).outcome == "already_claimed"
    assert publish.count == 0

    results: list[ClaimResult] = []
    barrier = threading.Barrier(4)

    def evaluator() -> None:
        own = make_client(settings)
        barrier.wait()
        results.append(send(own, table, publish, NOW + LEASE))

    threads = [threading.Thread(target=evaluator) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert publish.count == 1
    assert sorted(result.outcome for result in results) == ["already_claimed"] * 3 + ["sent"]
    assert [result.took_over for result in results if result.outcome == "sent"] == [True]
    item = stored(client, table)
    assert item is not None and (item["state"], item["attempt"]) == ("sent", 2)
    assert item["claimed_at"] == "2026-11-27T12:10:00Z" and item["token"] != left["token"]
    assert [message for _, message, _ in log.lines] == ["alert claim taken over after its lease ran out"]


def test_a_crash_after_publishing_publishes_again_after_the_lease(
    client: DynamoDBClient, settings: Settings, log: RecordingLogger
) -> None:
    """The at-least-once window: published, but not marked sent."""
    table, publish = settings.table_name, Calls()
    no_mark = Broken(client, "put_item", when=lambda arguments: arguments["Item"]["state"]["S"] == "sent")
    assert send(no_mark, table, publish, NOW).outcome == "sent"
    assert ("error", "alert published, but its claim could not be marked sent") in [
        (level, message) for level, message, _ in log.lines
    ]
    assert send(client, table, publish, NOW + timedelta(minutes=1)).outcome == "already_claimed"
    assert send(client, table, publish, NOW + LEASE).outcome == "sent"
    assert publish.count == 2


def test_a_failed_release_is_logged_reported_and_retried_after_the_lease(
    client: DynamoDBClient, settings: Settings, log: RecordingLogger
) -> None:
    table = settings.table_name
    failed = send(Broken(client, "delete_item"), table, Calls(RuntimeError("SNS is down")), NOW)
    assert (failed.outcome, failed.released) == ("failed", False)
    assert "SNS is down" in (failed.error or "") and "not released" in (failed.error or "")
    [(level, message, extra)] = log.lines
    assert level == "error" and "not released" in message
    assert extra["claim_sk"] == KEY[SK] and "SNS is down" in extra["publish_error"]
    publish = Calls()
    assert send(client, table, publish, NOW + timedelta(minutes=5)).outcome == "already_claimed"
    retried = send(client, table, publish, NOW + LEASE)
    assert (retried.outcome, retried.took_over, publish.count) == ("sent", True, 1)


def test_a_failed_claim_is_reported_not_raised(
    client: DynamoDBClient, settings: Settings, log: RecordingLogger
) -> None:
    publish = Calls()
    failed = send(Broken(client, "put_item"), settings.table_name, publish, NOW)
    assert failed.outcome == "failed" and "claim failed" in (failed.error or "") and publish.count == 0
    assert [message for _, message, _ in log.lines] == ["alert claim failed"]
    assert send(client, settings.table_name, publish, NOW).outcome == "sent"


def test_a_claim_whose_answer_was_lost_is_still_ours(
    client: DynamoDBClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """botocore retries a Put whose answer was lost; the retry fails its condition on our own item."""
    table = settings.table_name

    monkeypatch.setattr(alert_claims, "_new_token", lambda: "ours")
    mine = {**KEY, "state": "claimed", "token": "ours", "claimed_at": "2026-11-27T12:00:00Z", "attempt": 1}
    client.put_item(TableName=table, Item=to_item(mine))  # the first attempt, which did go through
    publish = Calls()
    assert send(client, table, publish, NOW).outcome == "sent" and publish.count == 1


def test_claims_from_before_leases_count_as_sent(client: DynamoDBClient, settings: Settings) -> None:
    old = {**KEY, "claim": "threshold", "token": "old", "claimed_at": "2026-11-01T00:00:00Z"}  # no state
    client.put_item(TableName=settings.table_name, Item=to_item(old))
    publish = Calls()
    assert send(client, settings.table_name, publish, NOW).outcome == "already_claimed"
    assert publish.count == 0
