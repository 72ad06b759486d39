"""Billable units beyond the four token buckets, price tiers, and providers' own usage objects.

genai-prices names every unit a provider bills (`input_audio_tokens`, `output_reasoning_tokens`,
`input_image_tokens`, `web_searches`, `cache_write_1h_tokens`, ...) and reads each provider's
usage object with its own extractors; MarginLens uses both, so the mapping follows the price data.
Parts of a bucket (audio or image tokens of the input, reasoning tokens of the output) are counted
inside it as well, as genai-prices counts them; a unit with a price of its own is billed at that
price, one without at its parent's (audio input as plain input), and a unit with no parent and no
price (a web search on a model with no search price) is `unpriced`: the call's cost leaves it out
and says so.

Price tiers are genai-prices' price variants, selected by the request's context: the Batch API
(`processing=batch`) and service tiers (`service_tier=flex|priority|...`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

from marginlens.pricing.model_names import provider_id

if TYPE_CHECKING:
    from genai_prices.types import ModelPrice

# The four buckets every event has (fields of their own on the wire and in the aggregates).
TOKEN_BUCKETS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
UnitValue = int | Decimal

# Each provider's API flavors by the names their users know, mapped to genai-prices' extractor
# flavors; the first is the provider's default. Other providers: genai-prices' own flavor names.
API_FLAVORS: dict[str, dict[str, str]] = {
    "openai": {"chat": "chat", "responses": "responses", "embeddings": "embeddings", "images": "images",
               "realtime": "realtime"},
    "anthropic": {"messages": "default", "chat": "chat"},
    "google": {"generate_content": "default", "generateContent": "default", "chat": "chat",
               "anthropic": "anthropic"},
    "aws": {"converse": "default", "invoke_model": "anthropic", "InvokeModel": "anthropic",
            "Converse": "default"},
    "azure": {"chat": "chat", "responses": "responses", "realtime": "realtime", "embeddings": "embeddings",
              "anthropic": "anthropic"},
    "openrouter": {"chat": "chat", "responses": "default"},
    "mistral": {"chat": "default", "ocr": "ocr", "ocr_annotated": "ocr_annotated"},
}  # fmt: skip


class UsageError(ValueError):
    """A provider usage object MarginLens cannot read; `field` is where, inside `usage`."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail


@cache
def unit_keys() -> frozenset[str]:
    """Every usage key genai-prices prices (loaded on first use)."""
    from genai_prices.types import _reported_usage_keys

    return frozenset(_reported_usage_keys())


def extra_unit_keys() -> frozenset[str]:
    return unit_keys() - set(TOKEN_BUCKETS)


def unit_error(key: str, value: Any) -> str | None:
    """Why `value` cannot be a count of `key` (None: it can)."""
    if key not in unit_keys():
        return f"unknown unit {key!r}: units are genai-prices usage keys (web_searches...)"
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return f"{key} must be a number"
    if isinstance(value, Decimal) and not value.is_finite():
        return f"{key} must be finite"
    if value < 0:
        return f"{key} cannot be negative"
    if value >= 10**15:
        return f"{key} is too large"
    return None


@dataclass(frozen=True)
class ProviderUsage:
    """A provider usage object, read: the four buckets, the other units, and what the provider said
    the call cost (OpenRouter's `usage.cost`), if it did."""

    provider: str  # genai-prices provider id
    api_flavor: str  # genai-prices extractor flavor
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    units: dict[str, UnitValue]
    reported_cost: Decimal | None
    service_tier: str | None


def _extractor_flavor(provider: Any, api_flavor: str | None) -> str:
    flavors = [extractor.api_flavor for extractor in provider.extractors or ()]
    if not flavors:
        raise UsageError(
            "", f"MarginLens cannot read {provider.id}'s usage objects: send token counts instead"
        )
    named = API_FLAVORS.get(provider.id, {})
    if api_flavor is None:
        default = next(iter(named.values()), "default")
        return default if default in flavors else ("default" if "default" in flavors else flavors[0])
    flavor = named.get(api_flavor, api_flavor)
    if flavor not in flavors:
        known = sorted({*named, *flavors})
        raise UsageError("api_flavor", f"unknown api_flavor {api_flavor!r} for {provider.id}: one of {known}")
    return flavor


def _wrap(root: Any, usage: Mapping[str, Any]) -> dict[str, Any]:
    """The response shape the extractor reads (`usage`, `usageMetadata`, `response.usage`)."""
    path = [root] if isinstance(root, str) else list(root)
    wrapped: dict[str, Any] = dict(usage)
    for key in reversed(path):
        wrapped = {key: wrapped}
    return wrapped


def as_count(value: Any) -> Any:
    """Whole counts as ints (the extractors sum exact decimals); fractions (seconds) stay Decimal."""
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, float):  # a JSON body is parsed with exact decimals; this is a caller's float
        value = Decimal(str(value))
    return value


def read_provider_usage(
    usage: Mapping[str, Any], provider: str, api_flavor: str | None = None
) -> ProviderUsage:
    """Read `usage` (the provider's object, as its API returned it) with genai-prices' extractor."""
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    try:
        found = snapshot.find_provider(None, provider_id(provider), None)
    except LookupError:
        raise UsageError("provider", f"unknown provider {provider!r} for a usage object") from None
    flavor = _extractor_flavor(found, api_flavor)
    extractor = next(e for e in found.extractors or () if e.api_flavor == flavor)
    missing = [
        mapping.path
        for mapping in extractor.mappings
        if mapping.required and isinstance(mapping.path, str) and mapping.path not in usage
    ]
    if missing:
        raise UsageError(str(missing[0]), f"{missing[0]} is required in a {found.id} {flavor} usage object")
    for key, value in _numbers(usage):
        if value < 0:
            raise UsageError(key, f"{key} cannot be negative")
    try:
        _, extracted = found.extract_usage(_wrap(extractor.root, usage), api_flavor=flavor)
    except (ValueError, TypeError, LookupError) as error:
        raise UsageError("", f"not a {found.id} {flavor} usage object: {error}") from None
    values = {key: as_count(value) for key, value in extracted._reported_values().items() if value}
    buckets = {key: values.pop(key, 0) for key in TOKEN_BUCKETS}
    for key, value in buckets.items():
        if not isinstance(value, int):
            raise UsageError("", f"{key} must be a whole number of tokens")
    cost = usage.get("cost")
    if cost is not None and (isinstance(cost, bool) or not isinstance(cost, int | Decimal) or cost < 0):
        raise UsageError("cost", "cost must be a non-negative number")
    tier = usage.get("service_tier")
    return ProviderUsage(
        found.id,
        flavor,
        int(buckets["input_tokens"]),
        int(buckets["output_tokens"]),
        int(buckets["cache_read_tokens"]),
        int(buckets["cache_write_tokens"]),
        values,
        Decimal(cost) if cost is not None else None,
        tier if isinstance(tier, str) else None,
    )


def _numbers(value: Any, path: str = "") -> list[tuple[str, Decimal | int]]:
    """Every number in a usage object, with its pointer below `usage` (negatives are refused)."""
    found: list[tuple[str, Decimal | int]] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            found += _numbers(item, f"{path}/{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _numbers(item, f"{path}/{index}")
    elif isinstance(value, int | Decimal | float) and not isinstance(value, bool):
        found.append((path, Decimal(str(value)) if isinstance(value, float) else value))
    return found


def price_context(service_tier: str | None, batch: bool) -> dict[str, str]:
    """The genai-prices price context of a call: its service tier and whether it ran in a batch.
    Anthropic reports a batch call as `service_tier: batch`."""
    context: dict[str, str] = {}
    if batch or service_tier == "batch":
        context["processing"] = "batch"
    if service_tier and service_tier not in ("batch", "standard"):
        context["service_tier"] = service_tier
    return context


@cache
def _registry() -> Any:
    from genai_prices.units import _get_registry

    return _get_registry()


def priced_keys(model_price: ModelPrice) -> frozenset[str]:
    """The usage keys a genai-prices `ModelPrice` has a price for."""
    registry = _registry()
    return frozenset(
        unit.usage_key
        for unit in registry.units.values()
        if getattr(model_price, unit.price_key, None) is not None
    )


def unpriced_units(priced: frozenset[str], units: Mapping[str, UnitValue]) -> tuple[str, ...]:
    """Units the usage has that nothing prices: no price of their own and no priced parent (a web
    search on a model with no search price); genai-prices leaves them out of the cost."""
    registry = _registry()
    return tuple(
        sorted(
            key
            for key, value in units.items()
            if value and key not in priced and not (registry.ancestor_usage_keys(key) & priced)
        )
    )
