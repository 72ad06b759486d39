"""The one rule for MarginLens customer ids, wherever one enters: usage events, pushed revenue,
`PUT /v1/customers/{id}`, and the Stripe customer metadata that maps revenue to a customer.

A customer id is 1-256 characters of any Unicode except `#` (it separates the parts of DynamoDB
keys) and control characters, and does not start with `unmapped:`: that prefix holds the revenue
of Stripe customers not mapped yet, which must never be mistaken for a customer's own.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

CUSTOMER_ID_PATTERN = r"^[^#\x00-\x1f]+$"
MAX_CUSTOMER_ID_LENGTH = 256
UNMAPPED_PREFIX = "unmapped:"
RULE = (
    f"1-{MAX_CUSTOMER_ID_LENGTH} characters, no `#`, no control characters, "
    f"not starting with `{UNMAPPED_PREFIX}`"
)


def customer_id_error(value: str) -> str | None:
    """Why `value` is not a customer id (None: it is one)."""
    if not 1 <= len(value) <= MAX_CUSTOMER_ID_LENGTH or not re.fullmatch(CUSTOMER_ID_PATTERN, value):
        return f"not a customer id ({RULE})"
    if value.startswith(UNMAPPED_PREFIX):
        return f"customer ids starting with {UNMAPPED_PREFIX!r} are reserved for unmapped Stripe revenue"
    return None


def _checked(value: str) -> str:
    error = customer_id_error(value)
    if error is not None:
        raise ValueError(error)
    return value


CustomerId = Annotated[
    str,
    Field(min_length=1, max_length=MAX_CUSTOMER_ID_LENGTH, pattern=CUSTOMER_ID_PATTERN),
    AfterValidator(_checked),
]
