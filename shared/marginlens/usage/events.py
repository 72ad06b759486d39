"""Usage events: the wire model (with API.md's aliases) and the checks that need settings or a clock."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from marginlens.core.bounds import MAX_AMOUNT, Amount, CharCount, TokenCount, metadata_number_error
from marginlens.core.identifiers import CustomerId, ModelName, ProviderName
from marginlens.core.settings import Settings
from marginlens.pricing.units import (
    TOKEN_BUCKETS,
    ProviderUsage,
    UnitValue,
    UsageError,
    as_count,
    price_context,
    read_provider_usage,
    unit_error,
)

MAX_BATCH = 100
MAX_METADATA_BYTES = 2048
UNATTRIBUTED = "unattributed"
DEFAULT_FEATURE = "default"

Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]
MetadataValue = str | bool | int | Decimal | None
# A cost a provider reported (OpenRouter's `usage.cost` has more places than an invoice).
ReportedCost = Annotated[
    Decimal, Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False, decimal_places=18, max_digits=31)
]
TOKEN_FIELDS = (
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "prompt_chars",
    "completion_chars",
)


class UsageEventIn(BaseModel):
    """One model call, as an app server reports it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)

    request_id: Identifier
    customer_id: CustomerId | None = None
    model: ModelName = Field(validation_alias=AliasChoices("model", "model_name"))
    provider: ProviderName | None = None
    prompt_tokens: TokenCount | None = Field(
        None, validation_alias=AliasChoices("prompt_tokens", "input_tokens")
    )
    completion_tokens: TokenCount | None = Field(
        None, validation_alias=AliasChoices("completion_tokens", "output_tokens")
    )
    cached_tokens: TokenCount | None = Field(
        None, validation_alias=AliasChoices("cached_tokens", "cache_read_tokens")
    )
    cache_write_tokens: TokenCount | None = None
    prompt_chars: CharCount | None = None
    completion_chars: CharCount | None = None
    timestamp: AwareDatetime | None = None
    feature: Identifier = Field(DEFAULT_FEATURE, validation_alias=AliasChoices("feature", "event_type"))
    revenue_amount: Amount | None = None
    revenue_currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")] | None = None
    metadata: dict[Annotated[str, Field(max_length=128)], MetadataValue] | None = None
    # The provider's own usage object instead of the token fields (read by genai-prices' extractors).
    usage: dict[str, Any] | None = Field(
        None,
        description="The provider's usage object as its API returned it, instead of the token fields "
        "(with `provider`, and `api_flavor` where the provider has several)",
    )
    api_flavor: Identifier | None = Field(
        None, description="Which API returned `usage`: chat, responses, embeddings, messages, converse..."
    )
    units: dict[Annotated[str, Field(max_length=64)], Any] | None = Field(
        None, description="Billable units beyond the token fields, by genai-prices usage key (web_searches)"
    )
    service_tier: Identifier | None = Field(None, description="The service tier: flex, priority...")
    batch: bool = Field(False, description="The call ran through the provider's Batch API")
    provider_cost: ReportedCost | None = Field(
        None, description="What the provider said the call cost, in USD (a gateway's cost header)"
    )

    @field_validator("revenue_amount", "provider_cost", mode="before")
    @classmethod
    def _no_float_money(cls, value: Any) -> Any:
        # JSON bodies are parsed with Decimal for floats; a Python float here means precision is already lost.
        if isinstance(value, float):
            raise ValueError("money must be a decimal string, not a float")
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata_small(cls, value: dict[str, MetadataValue] | None) -> dict[str, MetadataValue] | None:
        if value is not None and len(json.dumps(value, default=str).encode()) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata must be at most {MAX_METADATA_BYTES} bytes as JSON")
        for number in (
            v for v in (value or {}).values() if isinstance(v, int | Decimal) and not isinstance(v, bool)
        ):
            error = metadata_number_error(number)
            if error is not None:
                raise ValueError(error)
        return value

    @field_validator("usage")
    @classmethod
    def _usage_small(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value, default=str).encode()) > MAX_METADATA_BYTES:
            raise ValueError(f"usage must be at most {MAX_METADATA_BYTES} bytes as JSON")
        return value

    @model_validator(mode="after")
    def _cache_parts_within_input(self) -> UsageEventIn:
        parts = (self.cached_tokens or 0) + (self.cache_write_tokens or 0)
        if self.prompt_tokens is not None and parts > self.prompt_tokens:
            raise ValueError(
                "cached_tokens + cache_write_tokens are parts of prompt_tokens and cannot exceed it"
            )
        if self.revenue_amount is not None and self.revenue_currency is None:
            raise ValueError("revenue_currency is required with revenue_amount")
        return self

    def content_hash(self, customer_id: str, extra: dict[str, Any] | None = None) -> str:
        """The event as MarginLens reads it, so a genuine retry matches however the client spells it.

        Normalised: aliases, `cached_tokens: 0` or `metadata: {}` or omitted, model and provider
        case, `"1.0"` or `"1.00"`, currency case, the timestamp's offset and precision, and a
        customer booked to `unattributed` named or not. A count of tokens and an estimate from
        characters stay apart (and the estimate's factor is left out: a setting is not content).
        A timestamp the server filled in is left out, so a retry of such an event still matches.
        `extra`: the other billable units, price tier and reported cost, as read.
        """
        extra = extra or {}
        content: dict[str, Any] = {
            "request_id": self.request_id,
            "customer_id": customer_id,
            "model": self.model.lower(),
            "provider": self.provider.lower() if self.provider else None,
            "prompt": _tokens_or_chars(self.prompt_tokens, self.prompt_chars),
            "completion": _tokens_or_chars(self.completion_tokens, self.completion_chars),
            "cached_tokens": self.cached_tokens or 0,
            "cache_write_tokens": self.cache_write_tokens or 0,
            "timestamp": self.timestamp.astimezone(UTC).isoformat() if self.timestamp else None,
            "feature": self.feature,
            "revenue_amount": _canonical_number(self.revenue_amount),
            "revenue_currency": self.revenue_currency.upper() if self.revenue_currency else None,
            "metadata": {key: _canonical_number(value) for key, value in (self.metadata or {}).items()}
            or None,
        }
        # Added only when present: an event without them hashes as it did before they existed.
        for name, value in extra.items():
            if value:
                content[name] = value
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def legacy_content_hash(self) -> str:
        """The hash events stored by earlier builds carry (what the client sent, aliases resolved): a retry
        of such an event, sent exactly as before, is still a duplicate."""
        content = self.model_dump(mode="json", exclude_none=True)
        if self.timestamp is not None:
            content["timestamp"] = self.timestamp.astimezone(UTC).isoformat()
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()


def _tokens_or_chars(tokens: int | None, chars: int | None) -> list[Any] | None:
    if tokens is not None:
        return ["tokens", tokens]
    return ["chars", chars] if chars is not None else None


def _canonical_number(value: Any) -> Any:
    """`1.0`, `1.00` and `1` alike (exactly: Decimal, never float)."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value


@dataclass(frozen=True)
class FieldError:
    pointer: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "detail": self.detail}


@dataclass(frozen=True)
class AcceptedEvent:
    """A valid event with the values the ledger needs, defaults filled in."""

    wire: UsageEventIn
    customer_id: str
    occurred_at: datetime
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    estimated: bool
    content_hash: str
    units: dict[str, UnitValue] = field(default_factory=dict)  # billable units beyond the four buckets
    price_context: dict[str, str] = field(default_factory=dict)  # the price tier (batch, service tier)
    provider_cost: Decimal | None = None  # what the provider said the call cost
    api_flavor: str | None = None  # set when the event came as the provider's usage object

    def __post_init__(self) -> None:
        # The one place every accepted event passes: no bucket may be negative, whatever the mode.
        if min(self.prompt_tokens, self.completion_tokens, self.cached_tokens, self.cache_write_tokens) < 0:
            raise ValueError(f"event {self.wire.request_id}: token counts cannot be negative")
        if self.uncached_input_tokens < 0:
            raise ValueError(f"event {self.wire.request_id}: cached and cache-write tokens exceed the input")

    @property
    def request_id(self) -> str:
        return self.wire.request_id

    @property
    def uncached_input_tokens(self) -> int:
        return self.prompt_tokens - self.cached_tokens - self.cache_write_tokens


def pointer_for(location: tuple[int | str, ...], prefix: str = "") -> str:
    parts = [str(part).replace("~", "~0").replace("/", "~1") for part in location]
    return prefix + "".join(f"/{part}" for part in parts)


def _pydantic_errors(error: ValidationError, prefix: str) -> list[FieldError]:
    found = []
    for item in error.errors(include_url=False):
        location = tuple(part for part in item["loc"] if not (isinstance(part, str) and "[" in part))
        found.append(FieldError(pointer_for(location, prefix), item["msg"]))
    return found


def _estimate_tokens(chars: int, settings: Settings) -> int:
    return math.ceil(Decimal(chars) / 4 * settings.token_estimate_factor)


def accept(
    raw: Any, settings: Settings, now: datetime, prefix: str = ""
) -> tuple[AcceptedEvent | None, list[FieldError]]:
    """Validate one raw event (already JSON-decoded): an accepted event, or the reasons it is refused."""
    if not isinstance(raw, dict):
        return None, [FieldError(prefix, "each event must be a JSON object")]
    try:
        wire = UsageEventIn.model_validate(raw)
    except ValidationError as error:
        return None, _pydantic_errors(error, prefix)

    errors: list[FieldError] = []
    customer_id = wire.customer_id
    if customer_id is None:
        if settings.strict_customer_id:
            errors.append(FieldError(f"{prefix}/customer_id", "customer_id is required"))
        customer_id = UNATTRIBUTED

    occurred_at = wire.timestamp.astimezone(UTC) if wire.timestamp else now
    if occurred_at > now + timedelta(seconds=settings.max_future_skew_seconds):
        errors.append(
            FieldError(
                f"{prefix}/timestamp",
                f"timestamp is more than {settings.max_future_skew_seconds} seconds in the future",
            )
        )
    if occurred_at < now - timedelta(days=settings.max_event_age_days):
        errors.append(
            FieldError(
                f"{prefix}/timestamp",
                f"timestamp is older than MAX_EVENT_AGE_DAYS ({settings.max_event_age_days} days)",
            )
        )

    provider_usage, units, unit_errors = _billable_units(wire, prefix)
    errors += unit_errors
    if errors:
        return None, errors
    if provider_usage is not None:
        return _accepted(wire, customer_id, occurred_at, provider_usage, units), []

    estimated = False
    prompt_tokens, completion_tokens = wire.prompt_tokens, wire.completion_tokens
    for name, chars_name, count in (
        ("prompt_tokens", "prompt_chars", prompt_tokens),
        ("completion_tokens", "completion_chars", completion_tokens),
    ):
        chars = getattr(wire, chars_name)
        if count is not None:
            continue
        if settings.strict_token_counts:
            errors.append(FieldError(f"{prefix}/{name}", f"{name} is required (STRICT_TOKEN_COUNTS=true)"))
        elif chars is None:
            errors.append(FieldError(f"{prefix}/{name}", f"{name} or {chars_name} is required"))
        else:
            estimated = True
            if name == "prompt_tokens":
                prompt_tokens = _estimate_tokens(chars, settings)
            else:
                completion_tokens = _estimate_tokens(chars, settings)
    if errors:
        return None, errors

    assert prompt_tokens is not None and completion_tokens is not None
    cache_parts = (wire.cached_tokens or 0) + (wire.cache_write_tokens or 0)
    if estimated and prompt_tokens < cache_parts:
        # The cache counts come from the provider; the estimate from characters is the guess. The
        # whole input holds at least its cached parts, so the uncached part is never negative.
        prompt_tokens = cache_parts
    context = price_context(wire.service_tier, wire.batch)
    extra = _hashed_extra(units, context, wire.provider_cost, None)
    return (
        AcceptedEvent(
            wire=wire,
            customer_id=customer_id,
            occurred_at=occurred_at,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cached_tokens=wire.cached_tokens or 0,
            cache_write_tokens=wire.cache_write_tokens or 0,
            estimated=estimated,
            content_hash=wire.content_hash(customer_id, extra),
            units=units,
            price_context=context,
            provider_cost=wire.provider_cost,
        ),
        [],
    )


def _billable_units(
    wire: UsageEventIn, prefix: str
) -> tuple[ProviderUsage | None, dict[str, UnitValue], list[FieldError]]:
    """The provider usage object read, and the extra units, or why they cannot be."""
    errors: list[FieldError] = []
    units: dict[str, UnitValue] = {}
    for key, value in (wire.units or {}).items():
        error = (
            f"{key} has a field of its own (prompt_tokens, completion_tokens, cached_tokens...)"
            if key in TOKEN_BUCKETS
            else unit_error(key, value)
        )
        if error is not None:
            errors.append(FieldError(pointer_for(("units", key), prefix), error))
        elif value:
            units[key] = as_count(value)
    if wire.usage is None:
        if wire.api_flavor is not None:
            errors.append(FieldError(f"{prefix}/api_flavor", "api_flavor goes with a provider usage object"))
        return None, units, errors
    sent = [name for name in TOKEN_FIELDS if getattr(wire, name) is not None]
    if sent:
        errors.append(
            FieldError(f"{prefix}/{sent[0]}", "send the provider's usage object or token counts, not both")
        )
    if wire.provider is None:
        errors.append(FieldError(f"{prefix}/provider", "provider is required with a usage object"))
    if errors:
        return None, units, errors
    assert wire.provider is not None
    try:
        read = read_provider_usage(wire.usage, wire.provider, wire.api_flavor)
    except UsageError as error:
        where = error.field if error.field in ("provider", "api_flavor") else None
        pointer = f"{prefix}/{where}" if where else pointer_for(("usage", *_parts(error.field)), prefix)
        return None, units, [FieldError(pointer, error.detail)]
    for key in sorted(set(units) & set(read.units)):
        errors.append(FieldError(pointer_for(("units", key), prefix), f"{key} is in usage already"))
    return read, {**read.units, **units}, errors


def _parts(path: str) -> tuple[str, ...]:
    return tuple(part for part in path.split("/") if part)


def _hashed_extra(
    units: dict[str, UnitValue], context: dict[str, str], provider_cost: Decimal | None, raw: Any
) -> dict[str, Any]:
    return {
        "units": {key: _canonical_number(value) for key, value in sorted(units.items())},
        "price_context": context,
        "provider_cost": _canonical_number(provider_cost),
        "usage": raw,
    }


def _accepted(
    wire: UsageEventIn,
    customer_id: str,
    occurred_at: datetime,
    read: ProviderUsage,
    units: dict[str, UnitValue],
) -> AcceptedEvent:
    """An event sent as the provider's usage object: its buckets as genai-prices reads them."""
    context = price_context(wire.service_tier or read.service_tier, wire.batch)
    provider_cost = wire.provider_cost if wire.provider_cost is not None else read.reported_cost
    raw = json.loads(json.dumps(wire.usage, default=str, sort_keys=True))
    return AcceptedEvent(
        wire=wire,
        customer_id=customer_id,
        occurred_at=occurred_at,
        prompt_tokens=read.input_tokens,
        completion_tokens=read.output_tokens,
        cached_tokens=read.cache_read_tokens,
        cache_write_tokens=read.cache_write_tokens,
        estimated=False,
        content_hash=wire.content_hash(
            customer_id,
            _hashed_extra(units, context, provider_cost, {"flavor": read.api_flavor, "usage": raw}),
        ),
        units=units,
        price_context=context,
        provider_cost=provider_cost,
        api_flavor=read.api_flavor,
    )
