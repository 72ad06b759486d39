"""The one TransactWriteItems loop: retried while DynamoDB is busy, never past a failed condition.

`TransactionWriter.write(actions)` sends one transaction and either returns (it committed), or
raises `ConditionsFailed` with DynamoDB's cancellation reasons (a condition failed: nothing was
written, the caller decides what that means: a duplicate, a document that moved on), or
`Unavailable` once throttling, transaction conflicts or a busy service outlast its attempts
(nothing of it was written either). botocore retries a lost answer with the same
`ClientRequestToken`, so a committed transaction is never applied twice; `token(attempt)` lets a
caller give each of its own attempts a token of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from marginlens.storage.dynamodb import RETRYABLE_ERRORS, DynamoDBClient, backoff

MAX_ATTEMPTS = 8
# Cancellation reasons a retry can get past; any other (ValidationError, ...) is final.
_TRANSIENT_REASONS = frozenset(
    {"None", "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)
BACKOFF_BASE_S = 0.025


def is_retryable(error: BaseException) -> bool:
    """A DynamoDB error a later attempt can get past (throttling, a busy service)."""
    return (
        isinstance(error, ClientError) and error.response.get("Error", {}).get("Code", "") in RETRYABLE_ERRORS
    )


class Unavailable(Exception):
    """DynamoDB kept refusing a transaction (throttling, conflicts): nothing of it was written."""


class ConditionsFailed(Exception):
    """A condition of the transaction failed: nothing was written. `reasons` are DynamoDB's, one
    per action, in order (with the stored item where `ReturnValuesOnConditionCheckFailure` asked)."""

    def __init__(self, reasons: list[dict[str, Any]]) -> None:
        super().__init__("a condition of the transaction failed")
        self.reasons = reasons

    def failed(self) -> list[int]:
        """The indexes of the actions whose condition failed."""
        return [
            index
            for index, reason in enumerate(self.reasons)
            if reason.get("Code") == "ConditionalCheckFailed"
        ]


class TransactionWriter:
    def __init__(
        self,
        client: DynamoDBClient,
        *,
        max_attempts: int = MAX_ATTEMPTS,
        backoff_base_s: float = BACKOFF_BASE_S,
    ) -> None:
        self.client = client
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s

    def write(self, actions: Sequence[Any], token: Callable[[int], str] | None = None) -> None:
        attempt = 0
        while True:
            extra: dict[str, Any] = {"ClientRequestToken": token(attempt)} if token is not None else {}
            try:
                self.client.transact_write_items(TransactItems=list(actions), **extra)
                return
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                reasons: list[dict[str, Any]] = error.response.get("CancellationReasons", [])  # type: ignore[assignment]
                if code == "TransactionCanceledException" and any(
                    reason.get("Code") == "ConditionalCheckFailed" for reason in reasons
                ):
                    raise ConditionsFailed(reasons) from error
                if code == "TransactionCanceledException" and any(
                    str(reason.get("Code", "None")) not in _TRANSIENT_REASONS for reason in reasons
                ):
                    raise  # DynamoDB refused what the transaction would write: no retry changes that
                if code not in RETRYABLE_ERRORS and code != "TransactionCanceledException":
                    raise  # a bad request: no retry makes it good
                attempt += 1
                if attempt >= self.max_attempts:
                    raise Unavailable(f"DynamoDB refused the transaction {attempt} times ({code})") from error
                backoff(attempt, self.backoff_base_s)
