"""Price types shared by the price book, the ledger and the API."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # genai-prices is imported where prices are computed (marginlens.pricing.book)
    from genai_prices.types import ModelInfo, Provider

PriceStatus = Literal["priced", "estimated", "unpriced"]

# Price buckets, and the genai-prices field holding each one's price per million tokens.
PRICE_KEYS = {
    "input": "input_mtok",
    "output": "output_mtok",
    "cache_read": "cache_read_mtok",
    "cache_write": "cache_write_mtok",
}


@dataclass(frozen=True)
class ResolvedModel:
    provider: Provider
    model: ModelInfo

    @property
    def ref(self) -> str:
        """Canonical `provider/model` id used in aggregates and reports."""
        return f"{self.provider.id}/{self.model.id}"


@dataclass(frozen=True)
class Price:
    status: PriceStatus
    cost: Decimal | None
    resolved: ResolvedModel | None
    source: str  # `genai-prices@<snapshot version>` or `override@<effective_from>`
    unit_prices: dict[str, Decimal]  # per million tokens, by bucket
    model_ref: str | None = None  # set for custom models, which have no upstream `resolved`
    unpriced_units: tuple[str, ...] = ()  # units of the call no price covers (left out of `cost`)

    def __post_init__(self) -> None:
        if self.cost is not None and self.cost < 0:
            raise ValueError(f"a call cannot cost less than nothing: {self.cost}")

    @property
    def ref(self) -> str | None:
        return self.model_ref or (self.resolved.ref if self.resolved else None)
