"""Revenue from any billing system, customer names and Stripe mapping, unmapped Stripe revenue.

POST /v1/revenue (admin), PUT /v1/customers/{customer_id} (admin), GET /v1/revenue/unmapped (read).
"""

from __future__ import annotations

from datetime import UTC, datetime
from datetime import date as Date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from marginlens.api.app import json_response
from marginlens.api.problems import PROBLEM_CONTENT_TYPE, PROBLEM_SCHEMA, Problem, validation_problem
from marginlens.api.schemas.common import Day
from marginlens.core.bounds import MAX_AMOUNT, year_error
from marginlens.core.currency import normalize_code, to_major, to_minor
from marginlens.core.identifiers import NO_CONTROL, CustomerId, customer_id_error
from marginlens.core.observability import logger
from marginlens.revenue.push import USAGE_PREFIX, RevenueEntry, push, recognised_months
from marginlens.revenue.recognition import month_bounds
from marginlens.usecases.services import services

router = Router()

# A pushed entry's month items are written in one transaction with the entry (at most 100 items,
# old months deleted and new ones written on a correction): three years touch at most 37 months.
MAX_PERIOD_DAYS = 3 * 366


UNPROCESSABLE: OpenAPIResponse = {
    "description": "Invalid; problem+json with JSON pointers",
    "content": {PROBLEM_CONTENT_TYPE: {"schema": PROBLEM_SCHEMA}},
}


class RevenueIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    external_id: Annotated[str, NO_CONTROL] = Field(
        min_length=1,
        max_length=255,
        pattern=r"^[^\x00-\x1f]+$",
        description="Your billing system's id for this entry: the idempotency key (`usage:...` is reserved)",
    )
    customer_id: CustomerId
    amount: str = Field(
        max_length=40,
        pattern=r"^-?\d+(\.\d+)?$",
        description=(
            "Exact decimal string in major units (`233.25`), at most the currency's decimals; "
            "negative for a refund or credit"
        ),
    )
    currency: str = Field(pattern=r"^[A-Za-z]{3}$", description="ISO 4217 code, e.g. USD")
    period_start: Day | None = Field(None, description="First day the amount pays for (inclusive, UTC)")
    period_end: Day | None = Field(None, description="Last day the amount pays for (inclusive, UTC)")
    month: str | None = Field(
        None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="Instead of a period: a whole month, YYYY-MM"
    )
    date: Day | None = Field(
        None, description="Instead of a period: the one day it is recognised on (default: the day received)"
    )

    @field_validator("amount", mode="before")
    @classmethod
    def _amount_is_a_string(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError('amount must be a decimal string such as "233.25", not a JSON number')
        return value


class RecognisedMonth(BaseModel):
    month: str
    amount: str = Field(description="Recognised in that month, in the entry's currency")


class RevenuePeriod(BaseModel):
    from_: str = Field(alias="from")
    to: str


class RevenueOut(BaseModel):
    external_id: str
    customer_id: str
    status: Literal["created", "updated", "unchanged"] = Field(
        description=(
            "`created`: a new entry; `unchanged`: the same entry again; `updated`: the entry with this "
            "external_id now has this content (it replaced the previous one)"
        )
    )
    amount: str
    currency: str
    period: RevenuePeriod = Field(description="The days the amount is spread over, pro rata by day")
    recognised: list[RecognisedMonth]


def _problem_at(pointer: str, detail: str) -> Problem:
    return validation_problem([{"pointer": pointer, "detail": detail}])


def _entry(request: RevenueIn) -> RevenueEntry:
    """Cross-field rules, with a pointer at the field to fix."""
    if request.external_id.startswith(USAGE_PREFIX):
        raise _problem_at("/external_id", f"external_ids starting with {USAGE_PREFIX!r} are reserved")
    currency = normalize_code(request.currency)
    if abs(Decimal(request.amount)) > MAX_AMOUNT:
        raise _problem_at("/amount", f"an amount is at most {MAX_AMOUNT} in size")
    try:
        amount_minor = to_minor(Decimal(request.amount), currency)
    except (ValueError, InvalidOperation) as error:
        raise _problem_at("/amount", f"{error}: give at most the currency's decimals") from error
    has_period = request.period_start is not None or request.period_end is not None
    if request.month is not None and has_period:
        raise _problem_at("/month", "give month or period_start/period_end, not both")
    if request.date is not None and (has_period or request.month is not None):
        raise _problem_at("/date", "give date, month or period_start/period_end: one of them")
    first: Date | None = None
    last: Date | None = None
    if request.month is not None:
        if (bad_year := year_error(int(request.month[:4]))) is not None:
            raise _problem_at("/month", bad_year)
        first, last = month_bounds(request.month)
    elif request.date is not None:
        first = last = Date.fromisoformat(request.date)
    elif has_period:
        if request.period_start is None:
            raise _problem_at("/period_start", "period_start is required with period_end")
        if request.period_end is None:
            raise _problem_at("/period_end", "period_end is required with period_start")
        first, last = Date.fromisoformat(request.period_start), Date.fromisoformat(request.period_end)
        if last < first:
            raise _problem_at("/period_end", "period_end must not be before period_start")
        if (last - first).days + 1 > MAX_PERIOD_DAYS:
            raise _problem_at("/period_end", f"a period spans at most {MAX_PERIOD_DAYS} days")
    return RevenueEntry(request.external_id, request.customer_id, amount_minor, currency, first, last)


@router.post(
    "/v1/revenue",
    summary="Push revenue from any billing system (idempotent on external_id)",
    description=(
        "Records revenue for a customer, recognised pro rata by day over `period_start`..`period_end` "
        "(or a whole `month`, or one `date`; with none of them, the UTC day the entry is first "
        "received). Entries are kept as state, keyed by `external_id`: sending the same entry again "
        "changes nothing (`unchanged`, 200); sending another amount, currency, customer or period "
        "for the same `external_id` replaces the entry (`updated`, 200), which is how a pushed "
        "amount is corrected. A refund or credit is its own entry with a negative amount. "
        "Amounts are decimal strings in the currency's major unit, never finer than its minor "
        "unit (422 at `/amount`)."
    ),
    tags=["revenue"],
    responses={
        201: {"description": "A new entry", "content": {"application/json": {"model": RevenueOut}}},
        200: {
            "description": "The same entry again, or a corrected entry",
            "content": {"application/json": {"model": RevenueOut}},
        },
        422: UNPROCESSABLE,
    },
)
def post_revenue(request: Annotated[RevenueIn, Body()]):
    entry = _entry(request)
    result = push(services().revenue, entry, datetime.now(UTC))
    if result.status == "stale":  # cannot happen for pushed entries (no source clock); never hide it
        raise Problem(409, "A newer version of this entry is stored; nothing changed.", slug="conflict")
    document = result.document
    first, last = (
        (entry.period_start, entry.period_end)
        if entry.period_start and entry.period_end
        else (document.occurred_at.date(), document.occurred_at.date())
    )
    body = RevenueOut.model_validate(
        {
            "external_id": entry.external_id,
            "customer_id": entry.customer_id,
            "status": result.status,
            "amount": format(to_major(entry.amount_minor, entry.currency), "f"),
            "currency": entry.currency,
            "period": {"from": first.isoformat(), "to": last.isoformat()},
            "recognised": recognised_months(document),
        }
    )
    logger.info(
        "revenue pushed",
        external_id=entry.external_id,
        customer_id=entry.customer_id,
        status=result.status,
        currency=entry.currency,
    )
    return json_response(201 if result.status == "created" else 200, body.model_dump(by_alias=True))


# --- customers --------------------------------------------------------------------------------


class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, NO_CONTROL] | None = Field(
        None, min_length=1, max_length=200, description="Display name; omitted: kept"
    )
    stripe_customer_id: str | None = Field(
        None,
        max_length=255,
        pattern=r"^cus_[A-Za-z0-9]+$",
        description="The Stripe customer (`cus_...`) whose revenue is this customer's; omitted: kept",
    )


class CustomerOut(BaseModel):
    customer_id: str
    name: str | None
    stripe_customer_id: str | None
    updated_at: str
    revenue_moved: int = Field(
        description="Stripe documents (invoices, refunds, credit notes) that were unmapped and now count here"
    )


@router.put(
    "/v1/customers/<customer_id>",
    summary="Name a customer and map its Stripe customer",
    description=(
        "Sets the customer's display name and, optionally, the Stripe customer whose revenue is "
        "this customer's. A mapping set here wins over the Stripe customer metadata key. Stripe "
        "revenue kept while that Stripe customer was unmapped moves to this customer at once. "
        "Omitted fields keep their value."
    ),
    tags=["revenue"],
    responses={
        200: {
            "description": "The customer as saved",
            "content": {"application/json": {"model": CustomerOut}},
        },
        422: UNPROCESSABLE,
    },
)
def put_customer(
    customer_id: Annotated[str, Path(max_length=256)],
    request: Annotated[CustomerIn, Body()],
) -> CustomerOut:
    customer_id = unquote(customer_id)
    error = customer_id_error(customer_id)
    if error is not None:
        raise _problem_at("/customer_id", error)
    state = services()
    profile = state.customers.put_customer(customer_id, request.name, request.stripe_customer_id)
    moved = state.revenue.remap(request.stripe_customer_id) if request.stripe_customer_id else 0
    logger.info("customer set", customer_id=customer_id, mapped=bool(request.stripe_customer_id), moved=moved)
    return CustomerOut.model_validate({**profile, "revenue_moved": moved})


# --- unmapped Stripe revenue ------------------------------------------------------------------


class UnmappedDocument(BaseModel):
    stripe_customer_id: str
    stripe_customer_name: str | None
    stripe_customer_email: str | None
    kind: str = Field(description="invoice, refund or credit_note")
    id: str = Field(description="The Stripe object's id")
    currency: str
    amount: str = Field(description="The document's total, in its currency (negative: refund or credit)")
    occurred_at: str | None


class UnmappedList(BaseModel):
    data: list[UnmappedDocument]
    totals: dict[str, str] = Field(description="Sum of `amount` per currency")


@router.get(
    "/v1/revenue/unmapped",
    summary="Stripe revenue whose Stripe customer is not mapped to a customer yet",
    description=(
        "Every kept Stripe document of an unmapped Stripe customer. Map it with "
        "PUT /v1/customers/{customer_id} (`stripe_customer_id`) or the Stripe customer metadata "
        "key; its revenue then moves to that customer. Meanwhile the P&L shows it only as "
        "`totals.unmapped_revenue`."
    ),
    tags=["revenue"],
)
def get_unmapped() -> UnmappedList:
    state = services()
    listings = sorted(
        state.revenue.unmapped(),
        key=lambda item: (str(item.get("occurred_at") or ""), str(item.get("document"))),
    )
    stripe: dict[str, Any] = {}
    totals: dict[str, int] = {}
    data = []
    for item in listings:
        stripe_id = str(item["stripe_customer_id"])
        if stripe_id not in stripe:
            stripe[stripe_id] = state.customers.stripe_customer(stripe_id)
        known = stripe[stripe_id]
        currency, minor = str(item["currency"]), int(item["amount_minor"])
        totals[currency] = totals.get(currency, 0) + minor
        data.append(
            UnmappedDocument(
                stripe_customer_id=stripe_id,
                stripe_customer_name=known.name if known else None,
                stripe_customer_email=known.email if known else None,
                kind=str(item["kind"]),
                id=str(item["id"]),
                currency=currency,
                amount=format(to_major(minor, currency), "f"),
                occurred_at=item.get("occurred_at"),
            )
        )
    return UnmappedList(
        data=data,
        totals={
            currency: format(to_major(minor, currency), "f") for currency, minor in sorted(totals.items())
        },
    )
