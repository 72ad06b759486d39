"""The price book over HTTP: models and their prices, overrides, aliases, snapshot lineage."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from datetime import date as Date
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from marginlens.api.problems import Problem, validation_problem
from marginlens.api.routers.budgets import MONTH_PATTERN
from marginlens.api.schemas.models import (
    AliasIn,
    AliasOut,
    ModelList,
    ModelOut,
    ModelQualityOut,
    OverrideIn,
    OverrideOut,
    PricesOut,
    QualityIn,
    QualityIndexName,
    UnpricedModelsOut,
)
from marginlens.core.bounds import year_error
from marginlens.core.identifiers import model_name_error
from marginlens.core.money import money_str
from marginlens.pricing.book import PriceBook, PriceOverride, has_tiers
from marginlens.pricing.quality import QualityBook
from marginlens.pricing.sync_log import SyncLog
from marginlens.pricing.types import ResolvedModel
from marginlens.usecases.services import services

router = Router()


def _prices(prices: dict[str, Decimal]) -> dict[str, str]:
    return {bucket: money_str(price) for bucket, price in prices.items()}


def _quality(quality: QualityBook, ref: str) -> list[dict[str, Any]]:
    return [score.as_dict() for score in quality.scores(ref).values()]


def describe(book: PriceBook, resolved: ResolvedModel, at: datetime, quality: QualityBook) -> dict[str, Any]:
    model_price = resolved.model.get_prices(at)
    override = book.override_at(resolved.ref, at)
    prices = override.unit_prices() if override else book.upstream_unit_prices(resolved, at)
    tiered = has_tiers(model_price)
    return {
        "id": resolved.ref,
        "provider": resolved.provider.id,
        "model": resolved.model.id,
        "name": resolved.model.name,
        "prices_per_mtok": _prices(prices),
        "tiered": tiered,
        "price_source": override.version if override else book.source,
        "snapshot": book.info.as_dict(),
        "deprecated": bool(resolved.model.deprecated),
        "quality": _quality(quality, resolved.ref),
    }


def describe_custom(book: PriceBook, override: PriceOverride, quality: QualityBook) -> dict[str, Any]:
    return {
        "id": override.key,
        "provider": override.provider or "custom",
        "model": override.model,
        "name": override.model,
        "prices_per_mtok": _prices(override.unit_prices()),
        "tiered": False,
        "price_source": override.version,
        "snapshot": book.info.as_dict(),
        "deprecated": False,
        "quality": _quality(quality, override.key),
    }


def _cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode()


def _after(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise validation_problem([{"pointer": "/cursor", "detail": "not a cursor from this API"}]) from error


@router.get("/v1/models", summary="Search the price database", tags=["models"])
def list_models(
    q: Annotated[str | None, Query(description="Case-insensitive text in provider, id or name")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor from the previous page")] = None,
) -> ModelList:
    book = services().prices.book()
    quality = services().quality.book(book)
    now = datetime.now(UTC)
    needle = (q or "").strip().lower()
    rows: dict[str, Any] = {}
    for provider in book.snapshot.providers:
        for model in provider.models:
            resolved = ResolvedModel(provider, model)
            if not needle or needle in resolved.ref.lower() or needle in (model.name or "").lower():
                rows[resolved.ref] = resolved
    for key, history in book.overrides.items():  # custom models: overrides of no upstream model
        if key not in rows and book.resolve(history[-1].model) is None and (not needle or needle in key):
            # The price in force now; a model whose first price is still to come shows that one.
            rows[key] = book.override_at(key, now) or history[0]
    after = _after(cursor) if cursor else None
    ids = sorted(ref for ref in rows if after is None or ref > after)
    page = ids[:limit]
    return ModelList(
        total=len(rows),
        data=[
            ModelOut.model_validate(
                describe(book, rows[ref], now, quality)
                if isinstance(rows[ref], ResolvedModel)
                else describe_custom(book, rows[ref], quality)
            )
            for ref in page
        ],
        next_cursor=_cursor(page[-1]) if len(ids) > limit else None,
    )


@router.get("/v1/models/<model_ref>", summary="One model as MarginLens resolves it", tags=["models"])
def get_model(
    model_ref: Annotated[str, Path(description="Any name an event may carry; URL-encode `/` as %2F")],
) -> ModelOut:
    model_ref = unquote(model_ref)  # API Gateway passes `%2F` through undecoded
    book = services().prices.book()
    quality = services().quality.book(book)
    now = datetime.now(UTC)
    resolved = book.resolve(model_ref)
    if resolved is not None:
        return ModelOut.model_validate(describe(book, resolved, now, quality))
    custom = _custom(book, model_ref, now)
    if custom is not None:
        return ModelOut.model_validate(describe_custom(book, custom, quality))
    raise Problem(404, f"No model matches {model_ref!r}; events for it are stored as unpriced.")


def _custom(book: PriceBook, model_ref: str, now: datetime) -> PriceOverride | None:
    key = book.override_key(model_ref)
    return book.override_at(key, now) or next(iter(book.overrides.get(key, ())), None)


def _known_model_key(model_ref: str) -> str:
    """The key quality scores are kept under; 404 for a model MarginLens cannot price."""
    book = services().prices.book()
    resolved = book.resolve(model_ref)
    if resolved is not None:
        return resolved.ref
    if _custom(book, model_ref, datetime.now(UTC)) is not None:
        return book.override_key(model_ref)
    raise Problem(
        404,
        f"No model matches {model_ref!r}. Add it first (PUT /v1/prices/{{model}}) to score a custom model.",
    )


def _scores_of(key: str) -> ModelQualityOut:
    quality = services().quality.book(services().prices.book())
    return ModelQualityOut.model_validate({"model": key, "quality": _quality(quality, key)})


@router.put(
    "/v1/models/<model_ref>/quality",
    summary="Set or override a model's quality score on one index",
    tags=["models"],
)
def put_quality(
    model_ref: Annotated[str, Path(description="URL-encode `/` as %2F")],
    request: Annotated[QualityIn, Body()],
) -> ModelQualityOut:
    model_ref = unquote(model_ref)
    key = _known_model_key(model_ref)
    services().quality.put(
        key,
        model_ref,
        request.index,
        request.score,
        request.source,
        request.source_url,
        Date.fromisoformat(request.date) if request.date else datetime.now(UTC).date(),
    )
    return _scores_of(key)


@router.delete(
    "/v1/models/<model_ref>/quality/<index>",
    summary="Remove a user's score: the published one (if any) applies again",
    tags=["models"],
)
def delete_quality(
    model_ref: Annotated[str, Path(description="URL-encode `/` as %2F")],
    index: Annotated[QualityIndexName, Path()],
) -> ModelQualityOut:
    key = _known_model_key(unquote(model_ref))
    if not services().quality.delete(key, index):
        raise Problem(404, f"{key} has no score of yours on {index}.")
    return _scores_of(key)


@router.get(
    "/v1/unpriced-models",
    summary="Models of a month's unpriced events, per feature (what to override or alias, then reprice)",
    tags=["prices"],
)
def get_unpriced_models(
    month: Annotated[
        str | None, Query(pattern=MONTH_PATTERN, description="YYYY-MM (UTC); default: the current month")
    ] = None,
) -> UnpricedModelsOut:
    chosen = month or datetime.now(UTC).strftime("%Y-%m")
    if (bad_year := year_error(int(chosen[:4]))) is not None:
        raise validation_problem([{"pointer": "/month", "detail": bad_year}])
    rows: list[dict[str, Any]] = [
        {
            "model": str(row["model"]),
            "feature": str(row["feature"]),
            "events": int(row.get("events", 0)),
            "unpriced_events": int(row.get("unpriced_events", 0)),
        }
        for row in services().ledger.feature_model_month(chosen)
        if int(row.get("unpriced_events", 0)) > 0
    ]
    rows.sort(key=lambda row: (-row["unpriced_events"], row["model"], row["feature"]))
    return UnpricedModelsOut.model_validate(
        {"month": chosen, "data": rows, "unpriced_events": sum(row["unpriced_events"] for row in rows)}
    )


@router.get(
    "/v1/prices", summary="The price table in force, its history, overrides and aliases", tags=["prices"]
)
def get_prices() -> PricesOut:
    state = services()
    store = state.prices
    book = store.book()
    sync = SyncLog(state.client, state.settings.table_name).summary(datetime.now(UTC))
    return PricesOut.model_validate(
        {
            "current": book.info.as_dict(),
            "sync": sync.as_dict(),
            "history": [info.as_dict() for info in store.history()],
            "overrides": [_override_out(o) for history in book.overrides.values() for o in history],
            "ignored_overrides": [
                {
                    "model": override.model,
                    "key": override.key,
                    "effective_from": override.effective_from.isoformat().replace("+00:00", "Z"),
                    "reason": reason,
                }
                for override, reason in store.ignored_overrides()
            ],
            "aliases": [{"alias": alias, "model": target} for alias, target in sorted(book.aliases.items())],
        }
    )


def _override_out(override: PriceOverride) -> dict[str, Any]:
    return {
        "model": override.model,
        "key": override.key,
        "provider": override.provider,
        "effective_from": override.effective_from.isoformat().replace("+00:00", "Z"),
        "prices_per_mtok": _prices(override.unit_prices()),
    }


@router.put("/v1/prices/<model>", summary="Override a model's price, or add a custom model", tags=["prices"])
def put_price(
    model: Annotated[str, Path(description="Model name; URL-encode `/` as %2F")],
    request: Annotated[OverrideIn, Body()],
) -> OverrideOut:
    model = unquote(model)
    if (error := model_name_error(model)) is not None:
        raise validation_problem([{"pointer": "/model", "detail": error}])
    store = services().prices
    book = store.book()
    override = PriceOverride(
        key=book.override_key(model, request.provider),
        model=model,
        effective_from=(request.effective_from or datetime.now(UTC)).astimezone(UTC),
        input_mtok=request.input_per_mtok,
        output_mtok=request.output_per_mtok,
        cache_read_mtok=request.cache_read_per_mtok,
        cache_write_mtok=request.cache_write_per_mtok,
        provider=request.provider,
    )
    store.put_override(override)
    return OverrideOut.model_validate(_override_out(override))


@router.put("/v1/model-aliases/<alias>", summary="Map a deployment name to a model", tags=["prices"])
def put_alias(
    alias: Annotated[str, Path(max_length=256)],
    request: Annotated[AliasIn, Body()],
) -> AliasOut:
    alias = unquote(alias)
    if (error := model_name_error(alias)) is not None:
        raise validation_problem([{"pointer": "/alias", "detail": error}])
    store = services().prices
    if alias.strip().lower() == request.model.strip().lower():
        raise validation_problem([{"pointer": "/model", "detail": "an alias cannot point at itself"}])
    store.put_alias(alias, request.model)
    resolved = store.book().resolve(alias)
    return AliasOut(alias=alias, model=request.model, resolves_to=resolved.ref if resolved else None)
