"""The price database: models, their current prices and where the prices came from."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from genai_prices.types import TieredPrices

from marginlens.api.problems import Problem, validation_problem
from marginlens.api.schemas import ModelList, ModelOut
from marginlens.money import money_str
from marginlens.pricing import PRICE_KEYS, PRICE_SOURCE, ResolvedModel, all_models, resolve, unit_prices

router = Router()


def describe(resolved: ResolvedModel, at: datetime) -> dict[str, Any]:
    model_price = resolved.model.get_prices(at)
    return {
        "id": resolved.ref,
        "provider": resolved.provider.id,
        "model": resolved.model.id,
        "name": resolved.model.name,
        "prices_per_mtok": {bucket: money_str(price) for bucket, price in unit_prices(resolved, at).items()},
        "tiered": any(
            isinstance(getattr(model_price, key, None), TieredPrices) for key in PRICE_KEYS.values()
        ),
        "price_source": PRICE_SOURCE,
        "deprecated": bool(resolved.model.deprecated),
        "quality": [],
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
    needle = (q or "").strip().lower()
    matching = sorted(
        (
            model
            for model in all_models()
            if not needle or needle in model.ref.lower() or needle in (model.model.name or "").lower()
        ),
        key=lambda model: model.ref,
    )
    after = _after(cursor) if cursor else None
    page_from = [model for model in matching if after is None or model.ref > after]
    page = page_from[:limit]
    now = datetime.now(UTC)
    return ModelList(
        total=len(matching),
        data=[ModelOut.model_validate(describe(model, now)) for model in page],
        next_cursor=_cursor(page[-1].ref) if len(page_from) > limit else None,
    )


@router.get("/v1/models/<model_ref>", summary="One model as MarginLens resolves it", tags=["models"])
def get_model(
    model_ref: Annotated[str, Path(description="Any name an event may carry; URL-encode `/` as %2F")],
) -> ModelOut:
    model_ref = unquote(model_ref)  # API Gateway passes `%2F` through undecoded
    resolved = resolve(model_ref)
    if resolved is None:
        raise Problem(404, f"No model matches {model_ref!r}; events for it are stored as unpriced.")
    return ModelOut.model_validate(describe(resolved, datetime.now(UTC)))
