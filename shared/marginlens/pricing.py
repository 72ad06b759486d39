"""Prices from genai-prices: model-name resolution and exact Decimal costs.

The resolver tries, in order: the name with the caller's provider hint, a provider prefix
(`openai/gpt-4o-mini`, `bedrock/...`), a Bedrock id (`us.anthropic.claude-...-v1:0`), then the bare
name. A name nothing matches is `unpriced`: never a cost of zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from importlib.metadata import version
from typing import Literal

from genai_prices import Usage, data_snapshot
from genai_prices.types import ModelInfo, Provider, TieredPrices

from marginlens.model_names import candidates

PriceStatus = Literal["priced", "estimated", "unpriced"]

PRICE_SOURCE = f"genai-prices {version('genai-prices')}"

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
    source: str
    unit_prices: dict[str, Decimal]  # per million tokens, by bucket

    @property
    def model_ref(self) -> str | None:
        return self.resolved.ref if self.resolved else None


@lru_cache(maxsize=4096)
def resolve(model: str, provider_hint: str | None = None) -> ResolvedModel | None:
    snapshot = data_snapshot.get_snapshot()
    for ref, provider_id in candidates(model, provider_hint):
        try:
            provider, info = snapshot.find_provider_model(ref, None, provider_id, None)
        except LookupError:
            continue
        return ResolvedModel(provider, info)
    return None


def unit_prices(resolved: ResolvedModel, at: datetime) -> dict[str, Decimal]:
    """Per-million-token prices in force at `at` (base tier where prices are tiered)."""
    model_price = resolved.model.get_prices(at)
    prices: dict[str, Decimal] = {}
    for bucket, key in PRICE_KEYS.items():
        value = getattr(model_price, key, None)
        if isinstance(value, TieredPrices):
            value = value.base
        if value is not None:
            prices[bucket] = value
    return prices


def price_call(
    model: str,
    provider_hint: str | None,
    *,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int,
    cache_write_tokens: int,
    at: datetime,
    estimated: bool = False,
) -> Price:
    """The cost of one call. `input_tokens` is the whole input; the cache counts are parts of it."""
    resolved = resolve(model, provider_hint)
    if resolved is None:
        return Price("unpriced", None, None, PRICE_SOURCE, {})
    usage = Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read_tokens,
        cache_write_tokens=cache_write_tokens,
    )
    try:
        calculation = resolved.model.calc_price(usage, resolved.provider, genai_request_timestamp=at)
    except (ValueError, LookupError):
        # A model listed without token prices (e.g. priced per image only) cannot price tokens.
        return Price("unpriced", None, resolved, PRICE_SOURCE, {})
    return Price(
        "estimated" if estimated else "priced",
        calculation.total_price,
        resolved,
        PRICE_SOURCE,
        unit_prices(resolved, at),
    )


def all_models() -> list[ResolvedModel]:
    """Every model in the snapshot, in provider then model order."""
    snapshot = data_snapshot.get_snapshot()
    return [ResolvedModel(provider, model) for provider in snapshot.providers for model in provider.models]
