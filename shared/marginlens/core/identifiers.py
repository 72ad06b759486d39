"""The rules for identifiers and names, wherever one enters MarginLens: written once, used by the
usage API, revenue, customers, prices, aliases, budgets and the Stripe metadata that maps revenue.

No identifier or name holds a control character (Unicode Cc: NUL, newline, DEL, C1), a lone
surrogate (not encodable as UTF-8: DynamoDB refuses it) or a line or paragraph separator; beyond
that each kind has its own shape:

| kind        | rule                                                                                |
|-------------|-------------------------------------------------------------------------------------|
| customer id | 1-256 characters of any other Unicode, no `#`, not starting with `unmapped:`        |
| model name  | 1-256 of `A-Z a-z 0-9 . _ : / @ + -`, starting with a letter, digit or `@`, no `..` |
|             | (`openai/gpt-4o-mini`, `anthropic.claude-3-5-sonnet-20240620-v1:0`, `@cf/meta/x`)    |
| free text   | names, sources, external ids: 1 to their length limit of any other Unicode          |

`#` separates the parts of DynamoDB keys; `unmapped:` holds the revenue of Stripe customers not
mapped yet, which must never be mistaken for a customer's own.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, Field

CUSTOMER_ID_PATTERN = r"^[^#\x00-\x1f\x7f]+$"  # the JSON schema's part of the rule
MAX_CUSTOMER_ID_LENGTH = 256
UNMAPPED_PREFIX = "unmapped:"
RULE = (
    f"1-{MAX_CUSTOMER_ID_LENGTH} characters, no `#`, no control characters, "
    f"not starting with `{UNMAPPED_PREFIX}`"
)
MODEL_NAME_PATTERN = r"^[A-Za-z0-9@][A-Za-z0-9._:/@+-]{0,255}$"
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def text_error(value: str) -> str | None:
    """Why `value` cannot be part of an identifier or name (None: it can)."""
    for char in value:
        if unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
            return f"control characters and separators are not allowed (found U+{ord(char):04X})"
    return None


def customer_id_error(value: str) -> str | None:
    """Why `value` is not a customer id (None: it is one)."""
    if not 1 <= len(value) <= MAX_CUSTOMER_ID_LENGTH or "#" in value or text_error(value):
        return f"not a customer id ({RULE})"
    if value.startswith(UNMAPPED_PREFIX):
        return f"customer ids starting with {UNMAPPED_PREFIX!r} are reserved for unmapped Stripe revenue"
    return None


def model_name_error(value: str) -> str | None:
    if not re.fullmatch(MODEL_NAME_PATTERN, value) or ".." in value:
        return (
            "a model name is 1-256 of letters, digits and . _ : / @ + -, starting with a letter, "
            "digit or @, without `..`"
        )
    return None


def _checked(rule: Callable[[str], str | None]) -> AfterValidator:
    def check(value: str) -> str:
        error = rule(value)
        if error is not None:
            raise ValueError(error)
        return value

    return AfterValidator(check)


CustomerId = Annotated[
    str,
    Field(min_length=1, max_length=MAX_CUSTOMER_ID_LENGTH, pattern=CUSTOMER_ID_PATTERN),
    _checked(customer_id_error),
]
ModelName = Annotated[
    str, Field(min_length=1, max_length=256, pattern=MODEL_NAME_PATTERN), _checked(model_name_error)
]


ProviderName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]

# For free text (names, sources, external ids): `Annotated[str, Field(max_length=...), NO_CONTROL]`.
NO_CONTROL = _checked(text_error)
