"""POST /v1/budgets/evaluate: served by the check_budgets function (which the schedule runs too).

The answer (`report_dict`):
  evaluated     budgets evaluated. Each covers its current period and, while its settings were in
                force during it, the period before (yesterday, last month: late crossings).
  sent          alerts sent by this run; `alerts` lists them, each with the `period` it is for
                (the current or the previous one).
  already_sent  thresholds crossed (in either period) whose alert was claimed by an earlier or a
                concurrent run: sent, or being sent (a crashed run's claim is taken over after
                marginlens.storage.claims.LEASE).
  failures      alerts not published; `errors` says why and for which period. They are retried by
                the next run, or after the lease where the claim could not be released.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel

from marginlens.budgets.budgets import AlertFailure, SentAlert
from marginlens.usecases.budgets import report_dict, run_evaluation

router = Router()


class EvaluationOut(BaseModel):
    evaluated: int
    sent: int
    already_sent: int
    failures: int
    alerts: list[SentAlert]
    errors: list[AlertFailure]


@router.post(
    "/v1/budgets/evaluate",
    summary="Evaluate every budget now and send the alerts due (what the schedule runs)",
    tags=["budgets"],
    responses={
        200: {
            "description": "The alerts sent, those another run already sent, and any that failed to "
            "publish (retried on the next run)"
        }
    },
)
def post_evaluate() -> EvaluationOut:
    return EvaluationOut.model_validate(report_dict(run_evaluation()))
