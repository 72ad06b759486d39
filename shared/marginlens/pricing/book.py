"""The price book: which price applies to a call, and where that price came from.

Resolution order for an event's model: alias (`PUT /v1/model-aliases/{alias}`) -> override or
custom model (`PUT /v1/prices/{model}`, the latest whose `effective_from` is at or before the
event) -> the upstream genai-prices snapshot (its own price history applies at the event's time).
A name nothing matches is `unpriced`: never a cost of zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

from marginlens.pricing.model_names import candidates
from marginlens.pricing.types import PRICE_KEYS, Price, PriceStatus, ResolvedModel
from marginlens.pricing.units import TOKEN_BUCKETS, UnitValue, priced_keys, unpriced_units

if TYPE_CHECKING:  # genai-prices is imported on first use: a function that prices nothing never loads it
    from genai_prices.data_snapshot import DataSnapshot

MILLION = Decimal(1_000_000)
# An override prices the four token buckets; the parts of them (audio, reasoning) at their bucket's price.
OVERRIDE_PRICED_KEYS = frozenset(TOKEN_BUCKETS)


@cache
def genai_prices_version() -> str:
    from importlib.metadata import version

    return version("genai-prices")


def baseline_version() -> str:
    return f"baseline-{genai_prices_version()}"


def __getattr__(name: str) -> str:
    # The constants, computed on first use: reading package metadata costs milliseconds at import.
    if name == "GENAI_PRICES_VERSION":
        return genai_prices_version()
    if name == "BASELINE_VERSION":
        return baseline_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class SnapshotInfo:
    """Lineage of the upstream price table in use."""

    version: str
    source: str
    fetched_at: datetime | None  # None: the data bundled with the installed genai-prices
    model_count: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "source": self.source,
            "fetched_at": self.fetched_at.isoformat().replace("+00:00", "Z") if self.fetched_at else None,
            "model_count": self.model_count,
        }


@dataclass(frozen=True)
class PriceOverride:
    """A user's price for a model (or a custom model), per million tokens, from a point in time."""

    key: str  # the canonical `provider/model` of a known model, else the lowercased custom name
    model: str  # the name as the user gave it
    effective_from: datetime
    input_mtok: Decimal
    output_mtok: Decimal
    cache_read_mtok: Decimal | None = None
    cache_write_mtok: Decimal | None = None
    provider: str | None = None

    @property
    def version(self) -> str:
        return "override@" + self.effective_from.isoformat().replace("+00:00", "Z")

    def unit_prices(self) -> dict[str, Decimal]:
        prices = {"input": self.input_mtok, "output": self.output_mtok}
        if self.cache_read_mtok is not None:
            prices["cache_read"] = self.cache_read_mtok
        if self.cache_write_mtok is not None:
            prices["cache_write"] = self.cache_write_mtok
        return prices

    def cost(
        self, input_tokens: int, output_tokens: int, cache_read_tokens: int, cache_write_tokens: int
    ) -> Decimal:
        return linear_cost(
            self.unit_prices(), input_tokens, output_tokens, cache_read_tokens, cache_write_tokens
        )


def linear_cost(
    prices: Mapping[str, Decimal],
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int,
    cache_write_tokens: int,
) -> Decimal:
    """Tokens x per-million-token prices by bucket; `input_tokens` is the whole input, the cache
    counts parts of it. Cache buckets without their own price are billed as plain input."""
    cache_read = prices.get("cache_read", prices["input"])
    cache_write = prices.get("cache_write", prices["input"])
    uncached = input_tokens - cache_read_tokens - cache_write_tokens
    if min(uncached, output_tokens, cache_read_tokens, cache_write_tokens) < 0:
        raise ValueError("token buckets cannot be negative: the cache counts are parts of the input")
    total = (
        uncached * prices["input"]
        + cache_read_tokens * cache_read
        + cache_write_tokens * cache_write
        + output_tokens * prices["output"]
    )
    return total / MILLION


def has_tiers(model_price: Any) -> bool:
    """Whether a genai-prices `ModelPrice` has a bucket priced in tiers (by prompt length)."""
    from genai_prices.types import TieredPrices

    return any(isinstance(getattr(model_price, key, None), TieredPrices) for key in PRICE_KEYS.values())


def _bundled_snapshot() -> DataSnapshot:
    from genai_prices import data_snapshot

    return data_snapshot._bundled_snapshot()  # the data shipped inside the installed package


def baseline_info() -> SnapshotInfo:
    snapshot = _bundled_snapshot()
    return SnapshotInfo(
        baseline_version(),
        f"genai-prices {genai_prices_version()} (bundled)",
        None,
        sum(len(provider.models) for provider in snapshot.providers),
    )


@dataclass
class PriceBook:
    snapshot: DataSnapshot
    info: SnapshotInfo
    overrides: Mapping[str, Sequence[PriceOverride]] = field(default_factory=dict)  # sorted by time
    aliases: Mapping[str, str] = field(default_factory=dict)  # lowercased alias -> model name
    _resolved: dict[tuple[str, str | None], ResolvedModel | None] = field(default_factory=dict, repr=False)

    @classmethod
    def baseline(cls) -> PriceBook:
        return cls(_bundled_snapshot(), baseline_info())

    @property
    def source(self) -> str:
        return f"genai-prices@{self.info.version}"

    def target(self, model: str) -> str:
        """The model an alias stands for (the name itself when it is no alias)."""
        return self.aliases.get(model.strip().lower(), model.strip())

    def resolve(self, model: str, provider_hint: str | None = None) -> ResolvedModel | None:
        """The upstream model a name stands for, after aliases; None if the snapshot has none."""
        name = self.target(model)
        cache_key = (name.lower(), provider_hint)
        if cache_key not in self._resolved:
            self._resolved[cache_key] = self._lookup(name, provider_hint)
        return self._resolved[cache_key]

    def _lookup(self, name: str, provider_hint: str | None) -> ResolvedModel | None:
        for ref, provider_id in candidates(name, provider_hint):
            try:
                provider, info = self.snapshot.find_provider_model(ref, None, provider_id, None)
            except LookupError:
                continue
            return ResolvedModel(provider, info)
        return None

    def override_key(self, model: str, provider_hint: str | None = None) -> str:
        resolved = self.resolve(model, provider_hint)
        return resolved.ref if resolved else self.target(model).lower()

    def override_at(self, key: str, at: datetime) -> PriceOverride | None:
        in_force = [override for override in self.overrides.get(key, ()) if override.effective_from <= at]
        return in_force[-1] if in_force else None

    def upstream_unit_prices(
        self, resolved: ResolvedModel, at: datetime, context: Mapping[str, str] | None = None
    ) -> dict[str, Decimal]:
        """Per-million-token prices in force at `at` for a call of that price tier (the base tier
        where prices are tiered by context length)."""
        from genai_prices.types import TieredPrices

        model_price = resolved.model.get_prices(at, context or None)
        prices: dict[str, Decimal] = {}
        for bucket, key in PRICE_KEYS.items():
            value = getattr(model_price, key, None)
            if isinstance(value, TieredPrices):
                value = value.base
            if value is not None:
                prices[bucket] = value
        return prices

    def price(
        self,
        model: str,
        provider_hint: str | None,
        *,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int,
        cache_write_tokens: int,
        at: datetime,
        estimated: bool = False,
        units: Mapping[str, UnitValue] | None = None,
        context: Mapping[str, str] | None = None,
    ) -> Price:
        """The cost of one call. `input_tokens` is the whole input; the cache counts are parts of it.
        `units`: the call's other billable units (`pricing.units`); `context`: its price tier."""
        status: PriceStatus = "estimated" if estimated else "priced"
        units = units or {}
        resolved = self.resolve(model, provider_hint)
        key = resolved.ref if resolved else self.target(model).lower()
        override = self.override_at(key, at)
        if override is not None:
            cost = override.cost(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
            return Price(
                status,
                cost,
                resolved,
                override.version,
                override.unit_prices(),
                model_ref=key,
                unpriced_units=unpriced_units(OVERRIDE_PRICED_KEYS, units),
            )
        if resolved is None:
            return Price("unpriced", None, None, self.source, {})
        from genai_prices import Usage

        usage = Usage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read_tokens,
            cache_write_tokens=cache_write_tokens,
            **units,
        )
        try:
            calculation = resolved.model.calc_price(
                usage, resolved.provider, genai_request_timestamp=at, price_context=context or None
            )
        except (ValueError, LookupError):
            # Listed without token prices (e.g. priced per image only): tokens cannot be priced.
            return Price("unpriced", None, resolved, self.source, {})
        return Price(
            status,
            calculation.total_price,
            resolved,
            self.source,
            self.upstream_unit_prices(resolved, at, context),
            # Only a call with units beyond the four buckets can have one no price covers.
            unpriced_units=unpriced_units(priced_keys(calculation.model_price), units) if units else (),
        )

    def model_count(self) -> int:
        return self.info.model_count
