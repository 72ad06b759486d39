"""Alerts to Slack through an incoming webhook (`https://hooks.slack.com/services/...`).

On AWS the slack_notifier function, subscribed to the alerts topic, posts each SNS message; the
webhook URL lives in the Secrets Manager secret `SLACK_WEBHOOK_SECRET_NAME` names. Locally the
LocalAlertPublisher posts too when `SLACK_WEBHOOK_URL` is set. The URL is a credential: never log it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from marginlens.core.settings import Settings

SECRET_MAX_AGE_S = 300
HEADER_MAX = 150  # Slack's limit for a header block's plain text
FIELD_MAX = 2000  # ... and for one section field
MAX_FIELDS = 10  # ... and for the fields of one section

_BUDGET_ICONS = {
    "budget_warning": ":large_yellow_circle:",
    "budget_critical": ":large_orange_circle:",
    "budget_exceeded": ":red_circle:",
    "budget_resolved": ":large_green_circle:",
}


class SlackError(RuntimeError):
    """Slack refused the message (non-2xx) or could not be reached; raised so SNS/Lambda retries."""


def _escape(text: object) -> str:
    # Slack's mrkdwn control characters; everything else is shown as is.
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _field(label: str, value: object) -> dict[str, str]:
    return {"type": "mrkdwn", "text": _clip(f"*{label}*\n{_escape(value)}", FIELD_MAX)}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": _clip(text, HEADER_MAX), "emoji": True}}


def _context(alert: dict[str, Any]) -> dict[str, Any]:
    text = f"MarginLens `{_escape(alert.get('kind') or 'alert')}`"
    if alert.get("time"):
        text += f" at {_escape(alert['time'])}"
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def format_message(alert: dict[str, Any]) -> dict[str, Any]:
    """Slack incoming-webhook JSON for one alert (`{"kind", "subject", "detail", "time"}`)."""
    kind = str(alert.get("kind") or "alert")
    subject = str(alert.get("subject") or f"MarginLens alert: {kind}")
    raw = alert.get("detail")
    detail: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if kind.startswith("budget_") and "budget_id" in detail:
        return _budget_message(kind, subject, detail, alert)
    return _generic_message(subject, detail, alert)


def _budget_message(kind: str, subject: str, detail: dict[str, Any], alert: dict[str, Any]) -> dict[str, Any]:
    budget = str(detail["budget_id"])
    target = detail.get("target")
    scope = str(detail.get("scope") or "")
    described = f"{budget} ({scope}{'' if target is None else ' ' + str(target)})" if scope else budget
    threshold = str(detail.get("threshold") or "")
    used = f"{detail.get('pct')}%"
    spent, limit, period = detail.get("spent"), detail.get("limit"), detail.get("period")
    if kind == "budget_resolved":
        title = f"Budget {budget} back under its {threshold} threshold"
    else:
        title = f"Budget {budget} {threshold or kind.removeprefix('budget_')}"
    icon = _BUDGET_ICONS.get(kind, ":bell:")
    text = f"{title}: {used} used, spent {spent} of {limit} (period {period})"
    used_field = used
    if detail.get("threshold_pct") and kind != "budget_resolved":
        used_field += f" (threshold {detail['threshold_pct']}%)"
    fields = [
        _field("Budget", described),
        _field("Used", used_field),
        _field("Spent", spent),
        _field("Limit", limit),
        _field("Period", period),
    ]
    return {
        "text": f"{icon} {text}",
        "blocks": [
            _header(f"{icon} {title}"),
            {"type": "section", "text": {"type": "mrkdwn", "text": _clip(_escape(subject), FIELD_MAX)}},
            {"type": "section", "fields": fields},
            _context(alert),
        ],
    }


def _generic_message(subject: str, detail: dict[str, Any], alert: dict[str, Any]) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [_header(f":warning: {subject}")]
    shown = [(key, value) for key, value in detail.items() if value is not None and value != ""]
    if shown:
        fields = [
            _field(str(key), json.dumps(value, default=str) if isinstance(value, dict | list) else value)
            for key, value in shown[:MAX_FIELDS]
        ]
        blocks.append({"type": "section", "fields": fields})
    blocks.append(_context(alert))
    summary = ", ".join(f"{key}: {value}" for key, value in shown[:MAX_FIELDS])
    return {"text": _clip(subject + (f" ({summary})" if summary else ""), 3000), "blocks": blocks}


def _checked_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError("the Slack webhook URL must be an http(s) URL")
    return url


def post(url: str, payload: dict[str, Any], timeout: float = 10) -> None:
    """POST the payload as JSON; SlackError on any non-2xx answer or a connection failure."""
    request = urllib.request.Request(  # noqa: S310 (scheme checked: http(s) only)
        _checked_url(url),
        data=json.dumps(payload, default=str).encode("utf-8"),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status = response.status
            body = response.read(500)
    except urllib.error.HTTPError as error:
        raise SlackError(f"Slack webhook answered HTTP {error.code}: {error.read(500)!r}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        # `from None`: the URL (a credential) must not end up in the logged traceback.
        raise SlackError(f"Slack webhook unreachable: {type(error).__name__}") from None
    if not 200 <= status < 300:
        raise SlackError(f"Slack webhook answered HTTP {status}: {body!r}")


def parse_secret_value(value: str | bytes | dict[str, Any] | None) -> str | None:
    """The URL from a secret: the URL itself, or `{"url": ...}`. None for a placeholder."""
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except ValueError:
                return None
        else:
            value = {"url": text}
    if not isinstance(value, dict):
        return None
    url = str(value.get("url") or "").strip()
    parts = urlsplit(url)
    return url if parts.scheme in ("https", "http") and parts.netloc else None


def webhook_url(settings: Settings) -> str | None:
    """`SLACK_WEBHOOK_URL` locally, else the secret `SLACK_WEBHOOK_SECRET_NAME`; None if neither is set
    (or the secret still holds the deploy-time placeholder)."""
    if settings.slack_webhook_url is not None:
        return parse_secret_value(settings.slack_webhook_url.get_secret_value())
    if settings.slack_webhook_secret_name:
        from aws_lambda_powertools.utilities import parameters  # AWS only: keeps local imports lean

        return parse_secret_value(
            parameters.get_secret(settings.slack_webhook_secret_name, max_age=SECRET_MAX_AGE_S)
        )
    return None
