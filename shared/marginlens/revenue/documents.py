"""The one shape every revenue source is turned into before it touches the ledger.

A document is the *state* of one invoice, refund, credit note or pushed revenue entry, upserted by
its own id: a later version replaces the earlier one (Stripe's `amount_refunded` is cumulative),
so duplicates and any arrival order end in the same place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

DocumentSource = Literal["stripe", "api"]
DocumentKind = Literal["invoice", "refund", "credit_note", "revenue"]
DocumentStatus = Literal["active", "void"]


@dataclass(frozen=True)
class RevenueLine:
    """One amount and the days it pays for.

    `amount_minor` is in the currency's minor units as Stripe counts them (cents for USD, yen for
    JPY); negative for refunds and credits. `period_start`..`period_end` are inclusive UTC days;
    None when the line has no service period (it is then recognised on the document's date).
    """

    amount_minor: int
    period_start: date | None = None
    period_end: date | None = None
    id: str | None = None  # the source's line id (Stripe `il_...`), where it has one
    credits_line: str | None = None  # a credit note line: the id of the invoice line it credits


@dataclass(frozen=True)
class RevenueDocument:
    source: DocumentSource
    kind: DocumentKind
    id: str  # in_..., re_..., cn_..., or the pushed entry's external_id
    customer_ref: str  # the Stripe customer (cus_...) or, for the revenue API, the MarginLens customer
    currency: str  # ISO 4217, upper case
    lines: tuple[RevenueLine, ...]
    occurred_at: datetime  # paid / created time: where lines without a period are recognised
    status: DocumentStatus = "active"  # void documents recognise nothing
    related_id: str | None = None  # refunds and credit notes: the invoice whose periods they follow
    version_time: datetime | None = None  # the source's own time for this state (Stripe event `created`)

    @property
    def key(self) -> str:
        return f"{self.source}:{self.kind}:{self.id}"

    @property
    def progress(self) -> tuple[int, int]:
        """How far along its lifecycle this state is, to order two states of the same second.

        Stripe times events to the second and delivers them in any order, so two states of one
        document can carry the same time. Lifecycles only move forward: void (a voided invoice or
        credit note, a failed or cancelled refund) is final, and a charge's cumulative refund only
        grows. The state further along wins, whatever order the deliveries came in.
        """
        refunded = -sum(line.amount_minor for line in self.lines) if self.kind == "refund" else 0
        return (1 if self.status == "void" else 0, refunded)
