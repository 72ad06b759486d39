"""Where the price book lives in DynamoDB: snapshots with their lineage, overrides, aliases.

Items:
  PRICES                 CURRENT                    the snapshot in force (version, source, time)
  PRICES                 SNAP#{version}             each stored snapshot's lineage, for history
  PRICESNAP#{version}    CHUNK#{n}                  the snapshot's JSON, gzipped, in <= 300 KB parts
  PRICEOVR               {key}#{effective_from}     a price override or custom model
  MODELALIAS             {alias}                    a deployment name -> the model it runs

Functions read the book through `PriceStore.book()`, cached per process for `cache_seconds`
(<= 15 minutes), so a refresh or an override reaches every function within that time.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from marginlens.core.bounds import price_error
from marginlens.core.observability import logger
from marginlens.pricing.book import PriceBook, PriceOverride, SnapshotInfo, baseline_info
from marginlens.storage import schema
from marginlens.storage.dynamodb import PK, SK, DynamoDBClient
from marginlens.storage.table import Table

if TYPE_CHECKING:
    from genai_prices.data_snapshot import DataSnapshot

CHUNK_BYTES = 300_000
CURRENT = "CURRENT"  # PRICES / CURRENT: the snapshot in force
MONEY_FIELDS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")


class SnapshotInvalid(ValueError):
    """A price file that must not replace the current table."""


def parse_snapshot(raw: bytes) -> tuple[DataSnapshot, int]:
    """Parse a genai-prices data file with genai-prices' own types; the snapshot and its model count."""
    from genai_prices.data_snapshot import DataSnapshot
    from genai_prices.types import _providers_from_raw  # genai-prices' own parser of its data file

    if not raw.strip():
        raise SnapshotInvalid("the price file is empty")
    try:
        payload = json.loads(raw, parse_float=Decimal)
    except ValueError as error:
        raise SnapshotInvalid(f"the price file is not JSON: {error}") from error
    if not isinstance(payload, list) or not payload:
        raise SnapshotInvalid("the price file must be a non-empty array of providers")
    try:
        providers = _providers_from_raw(payload)
    except Exception as error:  # genai-prices raises pydantic and value errors alike
        raise SnapshotInvalid(f"genai-prices could not parse the price file: {error}") from error
    count = sum(len(provider.models) for provider in providers)
    if count == 0:
        raise SnapshotInvalid("the price file lists no models")
    return DataSnapshot(providers, from_auto_update=True), count


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _info(item: dict[str, Any]) -> SnapshotInfo:
    return SnapshotInfo(
        version=item["version"],
        source=item["source"],
        fetched_at=datetime.fromisoformat(item["fetched_at"]),
        model_count=int(item["model_count"]),
    )


class PriceStore:
    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        *,
        cache_seconds: float = 300,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.table = table
        self.db = Table(client, table)
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._book: PriceBook | None = None
        self._book_expires = 0.0
        self._snapshots: dict[str, DataSnapshot] = {}  # parsed snapshots by version (kept: immutable)

    # --- snapshots ----------------------------------------------------------------------------

    def save_snapshot(self, raw: bytes, source: str, fetched_at: datetime) -> SnapshotInfo:
        """Store a validated price file as a new version and make it current."""
        snapshot, count = parse_snapshot(raw)
        digest = hashlib.sha256(raw).hexdigest()[:12]
        info = SnapshotInfo(f"{_iso(fetched_at)}-{digest}", source, fetched_at, count)
        packed = gzip.compress(raw, mtime=0)
        chunks = [packed[start : start + CHUNK_BYTES] for start in range(0, len(packed), CHUNK_BYTES)]
        for number, chunk in enumerate(chunks):
            self.db.put(
                {PK: f"{schema.PRICE_SNAPSHOT}{info.version}", SK: f"CHUNK#{number:04d}", "data": chunk}
            )
        lineage = {**info.as_dict(), "chunks": len(chunks), "sha256": hashlib.sha256(raw).hexdigest()}
        # The pointer moves last: a reader never sees a version whose parts are not all stored.
        self.db.put({PK: schema.PRICES, SK: f"SNAP#{info.version}", **lineage})
        self.db.put({PK: schema.PRICES, SK: CURRENT, **lineage})
        self._snapshots[info.version] = snapshot
        self.invalidate()
        return info

    def current_item(self) -> dict[str, Any] | None:
        """PRICES / CURRENT as stored: the snapshot in force and its lineage (`sha256`, `chunks`);
        None while the bundled baseline is in force. An eventually consistent read."""
        return self.db.get(schema.PRICES, CURRENT, consistent=False)

    def current_info(self) -> SnapshotInfo:
        found = self.current_item()
        return _info(found) if found is not None else baseline_info()

    def history(self) -> list[SnapshotInfo]:
        items = self.db.query(
            schema.PRICES,
            and_sk=" AND begins_with(#sk, :snap)",
            names={"#sk": SK},
            values={":snap": "SNAP#"},
        )
        return [_info(item) for item in items]

    def _load(self, info: SnapshotInfo) -> DataSnapshot:
        if info.fetched_at is None:
            return PriceBook.baseline().snapshot
        if info.version not in self._snapshots:
            parts = self.db.query(f"{schema.PRICE_SNAPSHOT}{info.version}")
            raw = gzip.decompress(b"".join(bytes(part["data"]) for part in parts))
            self._snapshots[info.version] = parse_snapshot(raw)[0]
        return self._snapshots[info.version]

    # --- overrides and aliases ----------------------------------------------------------------

    def put_override(self, override: PriceOverride) -> None:
        self.db.put(
            {
                PK: schema.PRICE_OVERRIDES,
                SK: f"{override.key}#{_iso(override.effective_from)}",
                "key": override.key,
                "model": override.model,
                "effective_from": _iso(override.effective_from),
                "provider": override.provider,
                **{name: getattr(override, name) for name in MONEY_FIELDS},
            }
        )
        self.invalidate()

    def overrides(self) -> dict[str, list[PriceOverride]]:
        """The overrides in the table, except those out of bounds (see `ignored_overrides`)."""
        return self._overrides()[0]

    def ignored_overrides(self) -> list[tuple[PriceOverride, str]]:
        """Overrides stored out of bounds (before the bounds existed): priced as if absent, listed."""
        return self._overrides()[1]

    def _overrides(self) -> tuple[dict[str, list[PriceOverride]], list[tuple[PriceOverride, str]]]:
        found: dict[str, list[PriceOverride]] = defaultdict(list)
        ignored: list[tuple[PriceOverride, str]] = []
        for item in self.db.query(schema.PRICE_OVERRIDES):
            override = PriceOverride(
                key=item["key"],
                model=item["model"],
                effective_from=datetime.fromisoformat(item["effective_from"]),
                provider=item.get("provider"),
                input_mtok=item["input_mtok"],
                output_mtok=item["output_mtok"],
                cache_read_mtok=item.get("cache_read_mtok"),
                cache_write_mtok=item.get("cache_write_mtok"),
            )
            reason = price_error(override.unit_prices().values())
            if reason is not None:
                logger.warning("price override ignored: out of bounds", model=override.model, reason=reason)
                ignored.append((override, reason))
                continue
            found[item["key"]].append(override)
        return {key: sorted(items, key=lambda o: o.effective_from) for key, items in found.items()}, ignored

    def put_alias(self, alias: str, target: str) -> None:
        self.db.put(
            {PK: schema.MODEL_ALIASES, SK: alias.strip().lower(), "alias": alias.strip(), "target": target}
        )
        self.invalidate()

    def aliases(self) -> dict[str, str]:
        return {item[SK]: item["target"] for item in self.db.query(schema.MODEL_ALIASES)}

    # --- the book -----------------------------------------------------------------------------

    def invalidate(self) -> None:
        with self._lock:
            self._book_expires = 0.0

    def book(self) -> PriceBook:
        """The current price book: at most `cache_seconds` old."""
        now = self._clock()
        with self._lock:
            if self._book is not None and now < self._book_expires:
                return self._book
        info = self.current_info()
        book = PriceBook(self._load(info), info, self.overrides(), self.aliases())
        with self._lock:
            self._book, self._book_expires = book, now + self.cache_seconds
        return book
