"""Slack alerts over real HTTP: the notifier handler and the local publisher post to a local receiver."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from marginlens.alerts import slack
from marginlens.alerts.publishers import LocalAlertPublisher, alert_message, publisher_from_settings
from marginlens.api.routes import SLACK_NOTIFIER
from marginlens.core.settings import Settings, get_settings
from marginlens.local.gateway import LambdaContext

BUDGET_DETAIL = {
    "budget_id": "org-monthly",
    "scope": "organization",
    "target": None,
    "period": "2026-11",
    "threshold": "critical",
    "threshold_pct": "90",
    "pct": "91.00",
    "spent": "546.00",
    "limit": "600.00",
}
BUDGET_SUBJECT = "Budget 'org-monthly' (organization) critical: 91.00% of 600.00 (monthly 2026-11)"


@dataclass
class Receiver:
    url: str
    requests: queue.Queue[tuple[str, dict[str, str], bytes]] = field(default_factory=queue.Queue)
    status: int = 200

    def next_request(self) -> tuple[str, dict[str, str], bytes]:
        return self.requests.get(timeout=5)  # set by the server thread: no sleeping


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            answer = b"ok" if state.status < 300 else b"invalid_payload"
            self.send_response(state.status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            state.requests.put((self.path, dict(self.headers), body))

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/XXXX"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def sns_event(message: str, subject: str = "[MarginLens] budget") -> dict[str, Any]:
    topic = "arn:aws:sns:us-east-1:123456789012:MarginLens-dev-AlertsTopic"
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{topic}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                    "TopicArn": topic,
                    "Subject": subject,
                    "Message": message,
                    "Timestamp": "2026-11-27T10:05:00.000Z",
                    "SignatureVersion": "1",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/cert.pem",
                    "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
                    "MessageAttributes": {"kind": {"Type": "String", "Value": "budget_critical"}},
                },
            }
        ]
    }


@pytest.fixture
def notifier_env(monkeypatch: pytest.MonkeyPatch, receiver: Receiver) -> Iterator[None]:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", receiver.url)
    monkeypatch.delenv("SLACK_WEBHOOK_SECRET_NAME", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _invoke(event: dict[str, Any]) -> dict[str, Any]:
    from functions.slack_notifier.handler import lambda_handler

    context = LambdaContext(SLACK_NOTIFIER.name, SLACK_NOTIFIER.memory_mb, SLACK_NOTIFIER.timeout_s, "req")
    return lambda_handler(event, context)


def _budget_alert_message() -> str:
    # Exactly what SnsAlertPublisher publishes (indented JSON).
    message = alert_message("budget_critical", BUDGET_SUBJECT, BUDGET_DETAIL, _at())
    return json.dumps(message, indent=2)


def _at() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 11, 27, 10, 5, tzinfo=UTC)


@pytest.mark.usefixtures("notifier_env")
def test_notifier_posts_a_readable_budget_message(receiver: Receiver) -> None:
    assert _invoke(sns_event(_budget_alert_message())) == {"posted": 1, "skipped": 0}

    path, headers, body = receiver.next_request()
    assert path == "/services/T000/B000/XXXX"
    assert headers["Content-Type"].startswith("application/json")
    payload = json.loads(body)
    for expected in ("org-monthly", "91.00%", "546.00", "600.00", "2026-11"):
        assert expected in payload["text"]
        assert expected in json.dumps(payload["blocks"])
    header, *_ = payload["blocks"]
    assert header["type"] == "header" and "org-monthly" in header["text"]["text"]
    (fields_section,) = [block for block in payload["blocks"] if "fields" in block]
    labels = [item["text"].split("\n")[0] for item in fields_section["fields"]]
    assert labels == ["*Budget*", "*Used*", "*Spent*", "*Limit*", "*Period*"]
    assert receiver.requests.empty()


@pytest.mark.usefixtures("notifier_env")
def test_a_slack_error_raises_so_the_delivery_is_retried(receiver: Receiver) -> None:
    receiver.status = 500
    with pytest.raises(slack.SlackError, match="500"):
        _invoke(sns_event(_budget_alert_message()))
    receiver.next_request()  # it did reach the receiver


def test_post_raises_on_non_2xx_and_unreachable(receiver: Receiver) -> None:
    receiver.status = 404
    with pytest.raises(slack.SlackError, match="404"):
        slack.post(receiver.url, {"text": "hello"})
    with pytest.raises(ValueError, match="http"):
        slack.post("file:///etc/passwd", {"text": "hello"})


@pytest.mark.usefixtures("notifier_env")
def test_notifier_posts_other_kinds_and_plain_text_readably(receiver: Receiver) -> None:
    failed = alert_message(
        "price_sync_failed", "Price refresh refused", {"reason": "shrank 40%", "models": 12}, _at()
    )
    _invoke(sns_event(json.dumps(failed)))
    payload = json.loads(receiver.next_request()[2])
    assert "Price refresh refused" in payload["text"] and "shrank 40%" in payload["text"]
    assert payload["blocks"][0]["type"] == "header"
    assert "price_sync_failed" in json.dumps(payload["blocks"])

    _invoke(sns_event("not json <at all>", subject="Raw"))
    payload = json.loads(receiver.next_request()[2])
    assert payload["text"].startswith("Raw")
    assert "&lt;at all&gt;" in json.dumps(payload["blocks"])  # mrkdwn escaped


def test_notifier_without_a_webhook_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("SLACK_WEBHOOK_SECRET_NAME", raising=False)
    get_settings.cache_clear()
    try:
        assert _invoke(sns_event(_budget_alert_message())) == {"posted": 0, "skipped": 1}
    finally:
        get_settings.cache_clear()


def test_local_publisher_posts_to_slack_and_keeps_the_line(receiver: Receiver, tmp_path: Path) -> None:
    publisher = LocalAlertPublisher(tmp_path / "alerts.jsonl", clock=_at, slack_url=receiver.url)
    publisher.publish("budget_critical", BUDGET_SUBJECT, BUDGET_DETAIL)

    payload = json.loads(receiver.next_request()[2])
    for expected in ("org-monthly", "91.00%", "546.00", "600.00", "2026-11"):
        assert expected in payload["text"]
    (line,) = publisher.read()
    assert line["kind"] == "budget_critical" and line["detail"] == BUDGET_DETAIL


def test_local_publisher_keeps_the_line_when_slack_fails(
    receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver.status = 500
    publisher = LocalAlertPublisher(tmp_path / "alerts.jsonl", clock=_at, slack_url=receiver.url)
    publisher.publish("budget_critical", BUDGET_SUBJECT, BUDGET_DETAIL)  # no exception
    receiver.next_request()
    assert len(publisher.read()) == 1
    assert "not posted to Slack" in capsys.readouterr().err


def test_local_publisher_from_settings_uses_slack_webhook_url(receiver: Receiver, tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"SLACK_WEBHOOK_URL": receiver.url, "MARGINLENS_ALERTS_FILE": str(tmp_path / "a.jsonl")}
    )
    publisher = publisher_from_settings(settings)
    assert isinstance(publisher, LocalAlertPublisher) and publisher.slack_url == receiver.url
    without = publisher_from_settings(Settings.model_validate({"MARGINLENS_ALERTS_FILE": "a.jsonl"}))
    assert isinstance(without, LocalAlertPublisher) and without.slack_url is None


def test_webhook_url_from_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools.utilities import parameters

    seen: list[tuple[str, int]] = []

    def fake_get_secret(name: str, max_age: int) -> str:
        seen.append((name, max_age))
        return values[name]

    values = {
        "configured": " https://hooks.slack.com/services/T/B/X ",
        "json": '{"url": "https://hooks.slack.com/services/T/B/Y"}',
        "placeholder": "Xk3uQ9aZ0placeholder",
    }
    monkeypatch.setattr(parameters, "get_secret", fake_get_secret)
    for name, expected in (
        ("configured", "https://hooks.slack.com/services/T/B/X"),
        ("json", "https://hooks.slack.com/services/T/B/Y"),
        ("placeholder", None),
    ):
        settings = Settings.model_validate({"SLACK_WEBHOOK_SECRET_NAME": name})
        assert slack.webhook_url(settings) == expected
    assert seen[0] == ("configured", 300)
    assert slack.webhook_url(Settings.model_validate({})) is None
