"""Alert claims: each alert is published once per claim, and a crash delays an alert, never loses it.

Budget alerts (`marginlens.budgets.budgets`) and operational alerts (`marginlens.alerts.operations`) both go
through `send_once`. One item per alert (single table, `pk`/`sk`):

  pk          ALERTCLAIM#{owner}   `ALERTCLAIM#{budget_id}` or `ALERTCLAIM#ops#{kind}`
  sk          the alert's identity, its period first (a period's claims are one Query prefix)
  state       `claimed` while its owner publishes it, `sent` once published. Claims written before
              leases existed have no `state`: they are read as `sent`.
  token       the current owner's random token; every later write is conditional on it
  claimed_at  when the current owner claimed it (or took it over): its lease runs from here
  sent_at     when it was marked `sent`
  attempt     1, then one more each time an expired lease is taken over
  ...         the caller's own attributes (budget, threshold, limit, pct, period, kind, key, ...)

The protocol; every write is conditional, so concurrent evaluators and botocore's retries of a
lost answer are safe:

  1. claim    Put with `attribute_not_exists(pk)`. If the item exists (returned by the failed
              condition, `ReturnValuesOnConditionCheckFailure=ALL_OLD`), it is ours if it holds our
              token (our own Put, retried after its answer was lost). Else, if it is still
              `claimed` `LEASE` after its `claimed_at`, its owner is taken to have died: a Put with
              a new token, conditional on `state = claimed AND token = <old token>`, takes it over
              (one evaluator wins). Otherwise it is someone else's (sent, or being sent):
              `already_claimed`.
  2. publish  the caller's function.
  3. sent     Put `state = sent`, conditional on our token.
  4. release  only if publishing raised: Delete, conditional on our token, so the next run retries
              at once. A release that fails is logged and reported as a failure; the claim stays
              `claimed` and a run after the lease publishes it.

Delivery: a crash between 1 and 2 (or a failed release) delays the alert by at most `LEASE` plus
one evaluation interval; it is never lost. A crash after 2 and before 3 publishes it again after
the lease: at-least-once in that window only. `LEASE` must be longer than any publish can take
(the check_budgets function's timeout is 60 s), else a slow owner would be taken over and the alert
sent twice.

Takeover and marking `sent` are conditional Puts of the whole item, not UpdateItem: the evaluator
needs only PutItem, GetItem and DeleteItem on the table.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from marginlens.core.observability import logger
from marginlens.storage.dynamodb import PK, SK, DynamoDBClient
from marginlens.storage.table import ConditionFailed, Table

LEASE = timedelta(minutes=10)  # longer than a Lambda timeout (check_budgets: 60 s)
CLAIMED = "claimed"
SENT = "sent"

Outcome = Literal["sent", "already_claimed", "failed"]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class ClaimResult:
    outcome: Outcome
    error: str | None = None  # `failed`: what failed (the publish, and the release if it failed too)
    took_over: bool = False  # the claim was taken over from an owner whose lease had run out
    released: bool = True  # `failed`: False if the claim could not be deleted (the lease retries it)


def _new_token() -> str:
    return uuid.uuid4().hex


def state(claim: Mapping[str, Any]) -> str:
    """`claimed` or `sent`; a claim written before leases existed has no state and was sent."""
    return str(claim.get("state", SENT))


def lease_expired(claim: Mapping[str, Any], now: datetime) -> bool:
    """True if a `claimed` claim's owner has had `LEASE` since it claimed it and not marked it sent."""
    if state(claim) != CLAIMED:
        return False
    try:
        claimed_at = datetime.fromisoformat(str(claim["claimed_at"]))
    except (KeyError, ValueError):
        return True  # an unreadable claim would otherwise hold its alert forever
    if claimed_at.tzinfo is None:
        claimed_at = claimed_at.replace(tzinfo=UTC)
    return claimed_at + LEASE <= now


def send_once(
    client: DynamoDBClient,
    table: str,
    pk: str,
    sk: str,
    attributes: Mapping[str, Any],
    publish: Callable[[], None],
    now: datetime,
) -> ClaimResult:
    """Claim `pk`/`sk`, call `publish`, mark the claim sent (see the module docstring).

    Never raises for a DynamoDB or publisher failure: it is logged and returned as `failed`, so the
    caller goes on with its other alerts. (A `BaseException` such as a timeout propagates: the
    claim stays `claimed` and its lease has it retried.)
    """
    db = Table(client, table)
    token = _new_token()
    claim = {
        **attributes,
        PK: pk,
        SK: sk,
        "state": CLAIMED,
        "token": token,
        "claimed_at": _iso(now),
        "attempt": 1,
    }
    log = {"claim_pk": pk, "claim_sk": sk}
    try:
        acquired = _acquire(db, claim, now)
    except Exception as error:  # nothing was published; a claim written anyway is retried after its lease
        logger.exception("alert claim failed", extra=log)
        return ClaimResult("failed", f"claim failed: {error!r}")
    if acquired is None:
        return ClaimResult("already_claimed")
    took_over = acquired == "took_over"
    if took_over:
        logger.warning(
            "alert claim taken over after its lease ran out", extra={**log, "attempt": claim["attempt"]}
        )

    try:
        publish()
    except Exception as error:  # any publisher failure: release the claim so the next run retries
        return _release(db, claim, repr(error), log, took_over)

    sent = {**claim, "state": SENT, "sent_at": _iso(now)}
    try:
        written, current = _put(db, sent, "#token = :token", {"#token": "token"}, {":token": token})
        if not written:
            logger.warning(
                "alert published, but its claim was taken over before it was marked sent: it may be sent "
                "twice",
                extra={**log, "owner_token": None if current is None else current.get("token")},
            )
    except Exception:  # published; left `claimed`, so it is published again after the lease
        logger.exception("alert published, but its claim could not be marked sent", extra=log)
    return ClaimResult("sent", took_over=took_over)


def _acquire(db: Table, claim: dict[str, Any], now: datetime) -> Literal["claimed", "took_over"] | None:
    token = claim["token"]
    written, existing = _put(db, claim, "attribute_not_exists(pk)", {}, {})
    if written or (existing is not None and existing.get("token") == token):
        return "claimed"
    if existing is None or not lease_expired(existing, now):
        return None  # sent, being sent, or released this instant (the next run claims it)
    claim["attempt"] = int(existing.get("attempt", 1)) + 1
    written, current = _put(
        db,
        claim,
        "#state = :claimed AND #token = :old",
        {"#state": "state", "#token": "token"},
        {":claimed": CLAIMED, ":old": existing.get("token")},
    )
    if written or (current is not None and current.get("token") == token):
        return "took_over"
    return None  # another evaluator took it over first, or its owner marked it sent just now


def _put(
    db: Table,
    item: Mapping[str, Any],
    condition: str,
    names: dict[str, str],
    values: dict[str, Any],
) -> tuple[bool, dict[str, Any] | None]:
    """A conditional Put: (True, None) if written, else (False, the item as it is, or None)."""
    try:
        db.put(item, condition=condition, names=names, values=values, return_old=True)
        return True, None
    except ConditionFailed as failed:
        if failed.item is not None:
            return False, failed.item
    # An engine that does not return it: read it.
    return False, db.get(item[PK], item[SK])


def _release(
    db: Table,
    claim: Mapping[str, Any],
    publish_error: str,
    log: dict[str, Any],
    took_over: bool,
) -> ClaimResult:
    try:
        db.delete(
            claim[PK],
            claim[SK],
            condition="#token = :token",
            names={"#token": "token"},
            values={":token": claim["token"]},
        )
    except ConditionFailed:
        pass  # not ours any more (taken over) or already gone (a retried Delete): nothing to release
    except Exception as error:
        return _not_released(publish_error, error, log, took_over)
    return ClaimResult("failed", publish_error, took_over=took_over)


def _not_released(publish_error: str, error: Exception, log: dict[str, Any], took_over: bool) -> ClaimResult:
    logger.exception(
        "alert not published and its claim not released: a run after the lease retries it",
        extra={**log, "publish_error": publish_error},
    )
    message = f"{publish_error}; claim not released ({error!r}): retried after the lease"
    return ClaimResult("failed", message, took_over=took_over, released=False)
