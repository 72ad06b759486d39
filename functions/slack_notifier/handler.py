"""Posts each alert of the alerts SNS topic to Slack (incoming webhook kept in Secrets Manager)."""

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from marginlens.alerts import slack
from marginlens.core.observability import logger
from marginlens.core.settings import get_settings


def alert_of(sns: dict[str, Any]) -> dict[str, Any]:
    """The alert JSON (`{"kind", "subject", "detail", "time"}`), or a generic one for plain text."""
    message = sns.get("Message") or ""
    try:
        parsed = json.loads(message)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        return parsed
    return {
        "kind": "message",
        "subject": sns.get("Subject") or "MarginLens alert",
        "detail": {"message": message},
        "time": sns.get("Timestamp"),
    }


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = [record["Sns"] for record in event.get("Records", []) if "Sns" in record]
    url = slack.webhook_url(get_settings())
    if url is None:
        # Not configured yet (placeholder secret): nothing to retry, so no error.
        logger.warning("Slack webhook not configured; alerts not posted", extra={"skipped": len(records)})
        return {"posted": 0, "skipped": len(records)}
    for sns in records:
        logger.append_keys(message_id=sns.get("MessageId"))
        alert = alert_of(sns)
        slack.post(url, slack.format_message(alert))  # raises on non-2xx: Lambda retries
        logger.info("alert posted to Slack", extra={"kind": alert.get("kind")})
    return {"posted": len(records), "skipped": 0}
