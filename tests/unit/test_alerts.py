"""Alert publishers: SNS (against moto's mock) and the local JSON-lines file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from marginlens.alerts.publishers import LocalAlertPublisher, SnsAlertPublisher, publisher_from_settings
from marginlens.core.settings import Settings
from marginlens.pricing.book import baseline_info
from marginlens.pricing.refresh import refresh_prices
from marginlens.pricing.store import PriceStore
from marginlens.storage.dynamodb import create_table

AT = datetime(2030, 1, 2, 3, 15, tzinfo=UTC)
REGION = "us-east-1"


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def topic(aws: None) -> tuple[str, Any, str]:
    """An SNS topic with an SQS queue subscribed (raw delivery), to read what was published."""
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    topic_arn = sns.create_topic(Name="marginlens-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    queue_arn = attributes["QueueArn"]
    sns.subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
    )
    return topic_arn, sqs, queue_url


def received(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
    ).get("Messages", [])
    return messages  # type: ignore[no-any-return]


def test_sns_publisher_sends_json_with_a_kind_attribute(topic: tuple[str, Any, str]) -> None:
    topic_arn, sqs, queue_url = topic
    publisher = SnsAlertPublisher(topic_arn, boto3.client("sns", region_name=REGION), clock=lambda: AT)
    publisher.publish("price_sync_failed", "Price refresh refused", {"reason": "empty", "count": 3})

    (message,) = received(sqs, queue_url)
    assert json.loads(message["Body"]) == {
        "kind": "price_sync_failed",
        "subject": "Price refresh refused",
        "detail": {"reason": "empty", "count": 3},
        "time": "2030-01-02T03:15:00Z",
    }
    assert message["MessageAttributes"]["kind"]["StringValue"] == "price_sync_failed"


def test_sns_subject_is_kept_within_sns_limits(topic: tuple[str, Any, str]) -> None:
    topic_arn, _, _ = topic
    client = boto3.client("sns", region_name=REGION)
    sent: list[dict[str, Any]] = []
    client.meta.events.register("provide-client-params.sns.Publish", lambda params, **_: sent.append(params))
    SnsAlertPublisher(topic_arn, client).publish("k", "line one\nline two é " + "x" * 200, {})
    (params,) = sent
    assert len(params["Subject"]) <= 100 and "\n" not in params["Subject"] and params["Subject"].isascii()


def test_refused_refresh_publishes_exactly_one_sns_alert(topic: tuple[str, Any, str]) -> None:
    topic_arn, sqs, queue_url = topic
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    create_table(dynamodb, "marginlens-alerts-test")
    store = PriceStore(dynamodb, "marginlens-alerts-test", cache_seconds=0)
    publisher = SnsAlertPublisher(topic_arn, boto3.client("sns", region_name=REGION))

    result = refresh_prices(
        store,
        publisher,
        url="https://mirror.test/data.json",
        max_shrink_pct=Decimal(5),
        now=AT,
        fetch=lambda _: b"[]",
    )

    assert result.refused and result.alerted
    (message,) = received(sqs, queue_url)
    body = json.loads(message["Body"])
    assert body["kind"] == "price_sync_failed"
    assert body["detail"]["url"] == "https://mirror.test/data.json"
    assert body["detail"]["current_version"] == baseline_info().version
    assert store.current_info() == baseline_info()


def test_local_publisher_appends_one_json_line_and_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nested" / "alerts.jsonl"
    publisher = LocalAlertPublisher(path, clock=lambda: AT)
    publisher.publish("price_sync_failed", "first", {"reason": "empty"})
    publisher.publish("price_sync_failed", "second", {"amount": Decimal("1.50")})

    lines = path.read_text().splitlines()
    assert [json.loads(line)["subject"] for line in lines] == ["first", "second"]
    assert publisher.read()[1]["detail"] == {"amount": "1.50"}
    assert "price_sync_failed: first" in capsys.readouterr().err


def test_publisher_from_settings(tmp_path: Path, aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MARGINLENS_ALERTS_FILE", raising=False)
    monkeypatch.delenv("MARGINLENS_ALERTS_TOPIC_ARN", raising=False)
    local = publisher_from_settings(Settings(MARGINLENS_ALERTS_FILE=str(tmp_path / "a.jsonl")))
    assert isinstance(local, LocalAlertPublisher) and local.path == tmp_path / "a.jsonl"
    assert Settings().alerts_file == Path(".marginlens/alerts.jsonl")

    arn = "arn:aws:sns:eu-west-1:123456789012:marginlens-alerts"
    sns = publisher_from_settings(Settings(MARGINLENS_ALERTS_TOPIC_ARN=arn))
    assert isinstance(sns, SnsAlertPublisher) and sns.topic_arn == arn
    assert sns.client.meta.region_name == "eu-west-1"
