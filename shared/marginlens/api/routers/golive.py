"""GET /v1/checks (the go-live checklist from live data) and POST /v1/alerts/test (an alert through
the real channels), for the dashboard's go-live page and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime

from aws_lambda_powertools.event_handler.api_gateway import Router

from marginlens.api.app import json_response
from marginlens.api.problems import Problem
from marginlens.api.schemas.golive import ChecksOut, TestAlertOut
from marginlens.core.observability import logger
from marginlens.usecases.golive import run_checks, send_test_alert
from marginlens.usecases.services import alert_publisher, services

router = Router()


@router.get(
    "/v1/checks",
    summary="The go-live checklist, each check passed or failed with what is missing",
    tags=["alerts"],
)
def get_checks() -> ChecksOut:
    now = datetime.now(UTC)
    checks = [check.as_dict() for check in run_checks(services(), now)]
    return ChecksOut.model_validate(
        {
            "checked_at": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "passed": sum(check["status"] == "pass" for check in checks),
            "total": len(checks),
            "checks": checks,
        }
    )


@router.post(
    "/v1/alerts/test",
    summary="Send a test alert through the alert channels (email and Slack subscriptions)",
    tags=["alerts"],
    responses={201: {"description": "Sent", "content": {"application/json": {"model": TestAlertOut}}}},
)
def post_test_alert():
    now = datetime.now(UTC)
    publisher = alert_publisher()
    try:
        alert = send_test_alert(services(), publisher, now)
    except Exception as error:
        logger.warning("test alert refused by the channel", error=str(error))
        raise Problem(
            502, f"The alert channel refused the test alert: {error}", slug="alert-channel-failed"
        ) from error
    channel = str(getattr(publisher, "channel", "custom"))
    body = {
        "kind": alert.kind,
        "subject": alert.subject,
        "time": now.isoformat().replace("+00:00", "Z"),
        "channels": [channel],
    }
    return json_response(201, TestAlertOut.model_validate(body).model_dump())
