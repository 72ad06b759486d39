"""POST /v1/prices/refresh: served by the refresh_prices function (which the daily schedule runs too)."""

from __future__ import annotations

from typing import Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel

from marginlens.api.problems import PROBLEM_CONTENT_TYPE, PROBLEM_SCHEMA, Problem
from marginlens.api.schemas.models import SnapshotOut
from marginlens.usecases.prices import run_refresh

router = Router()


# The 502 body: RFC 9457 fields plus the snapshot that stays in force and the URL that failed.
REFUSED_SCHEMA = {
    **PROBLEM_SCHEMA,
    "description": "RFC 9457 problem details (type .../price-sync-failed)",
    "properties": {
        **PROBLEM_SCHEMA["properties"],
        "url": {"type": "string", "description": "The price file that was refused"},
        "snapshot": {
            "anyOf": [{"$ref": "#/components/schemas/SnapshotOut"}, {"type": "null"}],
            "description": "The snapshot still in force",
        },
    },
}


class RefreshOut(BaseModel):
    status: Literal["refreshed", "unchanged"]
    snapshot: SnapshotOut
    previous: SnapshotOut


@router.post(
    "/v1/prices/refresh",
    summary="Fetch the newest upstream price table now (what the daily schedule runs)",
    tags=["prices"],
    responses={
        200: {"description": "Refreshed (a new snapshot is in force) or unchanged (same file)"},
        502: {
            "description": "The file could not be fetched or was refused (empty, unparsable, or too "
            "many models missing); the last good snapshot stays in force and an alert was sent",
            "content": {PROBLEM_CONTENT_TYPE: {"schema": REFUSED_SCHEMA}},
        },
    },
)
def post_refresh() -> RefreshOut:
    result = run_refresh()
    if result.refused or result.snapshot is None or result.previous is None:
        kept = f" ({result.snapshot.version})" if result.snapshot else ""
        raise Problem(
            502,
            f"The price refresh was refused: {result.reason}. "
            f"The last good price snapshot{kept} stays in force.",
            slug="price-sync-failed",
            extra={
                "url": result.url,
                "snapshot": result.snapshot.as_dict() if result.snapshot else None,
            },
        )
    return RefreshOut.model_validate(
        {
            "status": result.status,
            "snapshot": result.snapshot.as_dict(),
            "previous": result.previous.as_dict(),
        }
    )
