"""Operational alerts (`price_sync_failed`, ...): an SNS topic on AWS, a JSON-lines file locally.

Each alert is one JSON object: `{"kind", "subject", "detail", "time"}`. On AWS it is the SNS
message (with a `kind` message attribute, so subscriptions can filter on it); locally it is one
line appended to `MARGINLENS_ALERTS_FILE` (default `.marginlens/alerts.jsonl`) plus a readable
line on stderr, and a Slack message when `SLACK_WEBHOOK_URL` is set (see marginlens.alerts.slack).
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from marginlens.core.alerting import AlertPublisher
from marginlens.core.settings import Settings

DEFAULT_ALERTS_FILE = Path(".marginlens/alerts.jsonl")
SNS_SUBJECT_MAX = 100  # SNS refuses longer subjects (and any control character)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def alert_message(kind: str, subject: str, detail: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {"kind": kind, "subject": subject, "detail": detail, "time": _iso(at)}


def _sns_subject(subject: str) -> str:
    # Printable ASCII only, one line, at most 100 characters.
    cleaned = "".join(ch if " " <= ch <= "~" else " " for ch in subject).strip() or "MarginLens alert"
    return cleaned if len(cleaned) <= SNS_SUBJECT_MAX else cleaned[: SNS_SUBJECT_MAX - 3] + "..."


class SnsAlertPublisher:
    """Publishes each alert to an SNS topic (e-mail subscribers see the subject and the JSON)."""

    channel = "sns"  # the topic: its email and Slack subscriptions

    def __init__(
        self, topic_arn: str, client: Any, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.topic_arn = topic_arn
        self.client = client  # a boto3 SNS client
        self._clock = clock

    def publish(self, kind: str, subject: str, detail: dict[str, Any]) -> None:
        message = alert_message(kind, subject, detail, self._clock())
        self.client.publish(
            TopicArn=self.topic_arn,
            Subject=_sns_subject(f"[MarginLens] {subject}"),
            Message=json.dumps(message, default=str, indent=2),
            MessageAttributes={"kind": {"DataType": "String", "StringValue": kind}},
        )


class LocalAlertPublisher:
    """Prints the alert on stderr and appends it, as one JSON line, to a file; with `slack_url`, also
    posts it to that Slack incoming webhook (a failed post is logged: the file line is kept)."""

    _lock = threading.Lock()  # the local stack serves requests from several threads
    channel = "local-log"  # the JSON-lines file (and Slack, when a webhook URL is set)

    def __init__(
        self,
        path: Path | str = DEFAULT_ALERTS_FILE,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        slack_url: str | None = None,
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self.slack_url = slack_url

    def publish(self, kind: str, subject: str, detail: dict[str, Any]) -> None:
        message = alert_message(kind, subject, detail, self._clock())
        line = json.dumps(message, default=str, sort_keys=True)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as file:
                file.write(line + "\n")
        print(f"ALERT {message['time']} {kind}: {subject} (logged to {self.path})", file=sys.stderr)
        if self.slack_url:
            self._post_to_slack(json.loads(line))

    def _post_to_slack(self, message: dict[str, Any]) -> None:
        from marginlens.alerts import slack

        try:
            slack.post(self.slack_url or "", slack.format_message(message))
        except Exception as error:  # the alert is in the file already; Slack is best effort locally
            print(f"ALERT not posted to Slack: {error}", file=sys.stderr)

    def read(self) -> list[dict[str, Any]]:
        """Every alert in the file, oldest first (none if there is no file yet)."""
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]


def publisher_from_settings(settings: Settings) -> AlertPublisher:
    """SNS when `MARGINLENS_ALERTS_TOPIC_ARN` is set, else the local file `MARGINLENS_ALERTS_FILE`."""
    if settings.alerts_topic_arn:
        import boto3

        parts = settings.alerts_topic_arn.split(":")  # arn:aws:sns:<region>:<account>:<name>
        region = parts[3] if len(parts) == 6 and parts[3] else settings.aws_region
        client = boto3.client("sns", region_name=region)
        return SnsAlertPublisher(settings.alerts_topic_arn, client)
    from marginlens.alerts import slack

    # Locally only the URL itself (SLACK_WEBHOOK_URL); the secret is the notifier function's on AWS.
    local_url = settings.slack_webhook_url
    slack_url = slack.parse_secret_value(local_url.get_secret_value()) if local_url is not None else None
    return LocalAlertPublisher(settings.alerts_file, slack_url=slack_url)
