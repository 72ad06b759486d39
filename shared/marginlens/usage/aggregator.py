"""The aggregates, kept from the table's stream: what each change to an event adds to them, applied
exactly once per stream record.

Ingest writes only the event (one conditional Put). Each change to an event item reaches the
stream: an INSERT adds the new image's contribution to its five aggregate items, a MODIFY (a
reprice: new cost, price status or model) adds the new image's and takes the old one's away, a
REMOVE takes the old one's away. So the aggregates are always the sum of what each event's current
state contributes, and repricing only rewrites events.

Exactly once: a batch (records of one shard, in order) is pre-summed per aggregate item and
applied in transactions of at most 100 items, each with the shard's checkpoint
(`AGGSHARD#{stream label}` / `{shard}`): its condition is that the checkpoint is before the
transaction's first record, and it moves the checkpoint to its last. A batch delivered again, in
whole or in part (Lambda retries, bisects on error, or redelivers after a crash mid-batch), finds
its records at or before the checkpoint and changes nothing. Records of one shard arrive in order;
shards are independent (the counters only add up), so their order across shards does not matter.
One invocation per shard at a time (the mapping's parallelization factor stays 1).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from marginlens.core.observability import logger
from marginlens.storage import schema
from marginlens.storage.dynamodb import SK, DynamoDBClient
from marginlens.storage.streams import Batch, StreamRecord
from marginlens.storage.table import ConditionFailed, Table
from marginlens.storage.transactions import BACKOFF_BASE_S, MAX_ATTEMPTS, ConditionsFailed, TransactionWriter
from marginlens.usage.latency import bucket_counter, latency_key
from marginlens.usage.ledger import (
    EVENT_SK,
    MAX_TRANSACTION_ITEMS,
    Increment,
    aggregate_keys_for,
    counters_for,
    model_key_of,
    update_action,
    with_slot,
)

# The stream mapping's defaults (the CDK stack's, the local poller's): up to this many records a
# batch, gathered for up to this long. Large batches amortise the aggregate writes (a batch's
# events share their customer, day, feature and model items); the window bounds how late they are.
DEFAULT_BATCH_SIZE = 1000
DEFAULT_BATCH_WINDOW_S = 5

# Items whose events may all move away (a reprice changing an event's model): emptied, deleted.
_MODEL_ITEMS = (schema.AGG_FEATURE_MODEL_MONTH, schema.AGG_FEATURE_MODEL_DAY, schema.AGG_CUSTOMER_DETAIL)


def is_event_image(image: dict[str, Any] | None) -> bool:
    return bool(image) and str(image.get("pk", "")).startswith(schema.EVENT) and image.get(SK) == EVENT_SK  # type: ignore[union-attr]


def contribution(
    image: dict[str, Any],
) -> list[tuple[tuple[str, str], dict[str, Any], dict[str, Decimal | int]]]:
    """What a stored event adds to each of its aggregate items: (key, identity, counters)."""
    keys = aggregate_keys_for(
        str(image["timestamp"])[:10], str(image["customer_id"]), str(image["feature"]), model_key_of(image)
    )
    counters = counters_for(
        prompt_tokens=int(image["prompt_tokens"]),
        completion_tokens=int(image["completion_tokens"]),
        cached_tokens=int(image["cached_tokens"]),
        cache_write_tokens=int(image["cache_write_tokens"]),
        cost=image.get("cost"),
        estimated=bool(image.get("estimated", False)),
        units=image.get("units") or None,
        price_context=image.get("price_context") or None,
        provider_cost=image.get("provider_cost"),
    )
    # Events stored before slots were kept carry no `slot`: they count in none.
    slot = int(image["slot"]) if image.get("slot") is not None else None
    return [((key.pk, key.sk), dict(key.identity), with_slot(key, counters, slot)) for key in keys]


def add_change(summed: dict[tuple[str, str], Increment], record: StreamRecord) -> None:
    """Add what one record changes: the new image's contribution, minus the old one's; a new
    event also counts once in its day's ingestion-latency histogram."""
    new = record.new
    if record.old is None and new is not None and is_event_image(new) and new.get("ingest_ms") is not None:
        day = str(new["received_at"])[:10]
        latency = summed.setdefault(latency_key(day), Increment({"day": day}))
        latency.counters[bucket_counter(int(new["ingest_ms"]))] += 1
    for image, sign in ((record.old, -1), (record.new, 1)):
        if not is_event_image(image):
            continue
        assert image is not None
        for key, identity, counters in contribution(image):
            increment = summed.setdefault(key, Increment(identity))
            for name, value in counters.items():
                if value:  # a counter no record moves is not written (an item has the ones it counts)
                    increment.counters[name] += sign * value


def deltas(records: Sequence[StreamRecord]) -> dict[tuple[str, str], Increment]:
    """Pre-summed per aggregate item (a transaction may touch an item once). A counter that some
    record moved is written even if the batch's moves cancel out (an unpriced event repriced in
    the batch that stored it: `unpriced_events` 0, as if written one after the other); an item
    whose every counter cancels out is left out."""
    summed: dict[tuple[str, str], Increment] = {}
    for record in records:
        add_change(summed, record)
    return {key: increment for key, increment in summed.items() if any(increment.counters.values())}


def _touched(record: StreamRecord) -> set[tuple[str, str]]:
    summed: dict[tuple[str, str], Increment] = {}
    add_change(summed, record)
    return set(summed)


def plan(records: Sequence[StreamRecord]) -> list[list[StreamRecord]]:
    """Contiguous runs of records whose aggregate items, and the checkpoint, fit in one transaction."""
    groups: list[list[StreamRecord]] = []
    current: list[StreamRecord] = []
    keys: set[tuple[str, str]] = set()
    for record in records:
        touched = _touched(record)
        if current and len(keys | touched) + 1 > MAX_TRANSACTION_ITEMS:
            groups.append(current)
            current, keys = [], set()
        current.append(record)
        keys |= touched
    if current:
        groups.append(current)
    return groups


@dataclass
class BatchResult:
    """What one batch did: records applied now, records already applied before (a redelivery)."""

    applied: int = 0
    already_applied: int = 0
    transactions: int = 0
    customers: set[str] = field(default_factory=set)  # whose aggregates changed
    features: set[str] = field(default_factory=set)

    @property
    def changed(self) -> bool:
        return bool(self.customers or self.features)

    def as_dict(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "already_applied": self.already_applied,
            "transactions": self.transactions,
            "customers": len(self.customers),
            "features": len(self.features),
        }


def checkpoint_key(stream_arn: str, shard_id: str) -> tuple[str, str]:
    """`AGGSHARD#{stream label}` / `{shard}`: the label (the stream's creation time) names the
    table's stream; the rest of the ARN (account, region, table) is the deployment's anyway."""
    label = stream_arn.rsplit("/stream/", 1)[-1]
    return f"{schema.AGG_CHECKPOINT}{label}", shard_id


class Aggregator:
    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        *,
        max_write_attempts: int = MAX_ATTEMPTS,
        backoff_base_s: float = BACKOFF_BASE_S,
    ) -> None:
        self.table = table
        self.writer = TransactionWriter(
            client, max_attempts=max_write_attempts, backoff_base_s=backoff_base_s
        )
        self.db = Table(client, table, writer=self.writer)

    def checkpoint(self, stream_arn: str, shard_id: str) -> str | None:
        """The position (padded sequence number) of the last record applied from this shard."""
        found = self.db.get(*checkpoint_key(stream_arn, shard_id), attributes=("position",))
        return str(found["position"]) if found and found.get("position") else None

    def apply(self, batch: Batch) -> BatchResult:
        result = BatchResult()
        records = sorted(batch.records, key=lambda record: record.position)
        done = self.checkpoint(batch.stream_arn, batch.shard_id)
        while True:
            pending = [record for record in records if done is None or record.position > done]
            result.already_applied = len(records) - len(pending)
            if not pending:
                return result
            try:
                for group in plan(pending):
                    self._write(batch, group)
                    result.applied += len(group)
                    result.transactions += 1
                    _note_scopes(result, group)
                return result
            except ConditionsFailed:
                # Another delivery of these records got there first: start again from its checkpoint.
                result.applied = 0
                done = self.checkpoint(batch.stream_arn, batch.shard_id)

    def _write(self, batch: Batch, group: list[StreamRecord]) -> None:
        summed = deltas(group)
        first, last = group[0].position, group[-1].position
        pk, sk = checkpoint_key(batch.stream_arn, batch.shard_id)
        newest = max((record.created_at for record in group if record.created_at), default=None)
        checkpoint = {
            "Update": {
                "TableName": self.table,
                "Key": self.db.key(pk, sk),
                "UpdateExpression": "SET #pos = :last, #at = :now, #seen = :seen ADD #n :n",
                "ConditionExpression": "attribute_not_exists(#pos) OR #pos < :first",
                "ExpressionAttributeNames": {
                    "#pos": "position",
                    "#at": "updated_at",
                    "#seen": "newest_record_at",
                    "#n": "records",
                },
                "ExpressionAttributeValues": {
                    ":last": {"S": last},
                    ":first": {"S": first},
                    ":now": {"S": _iso(datetime.now(UTC))},
                    ":seen": {"S": _iso(newest) if newest else ""},
                    ":n": {"N": str(len(group))},
                },
            }
        }
        actions = [update_action(self.table, pk_, sk_, increment) for (pk_, sk_), increment in summed.items()]
        digest = hashlib.sha256(f"{batch.stream_arn}|{batch.shard_id}|{first}|{last}".encode()).hexdigest()

        def token(attempt: int) -> str:
            # The same records give the same token: DynamoDB answers a retry of a committed
            # transaction (a lost response) with success instead of applying it again.
            return f"{digest[:30]}{attempt:06d}"

        self.writer.write([*actions, checkpoint], token)
        self._drop_emptied(summed)

    def _drop_emptied(self, summed: dict[tuple[str, str], Increment]) -> None:
        """Delete model items the batch left with no events (a reprice moved them to another model).

        Conditional: an item another event counts in meanwhile stays; an event counted later simply
        creates it again. Without this, reports would list the old model with zeros.
        """
        for (pk, sk), increment in sorted(summed.items()):
            if increment.counters.get("events", 0) >= 0 or not pk.startswith(_MODEL_ITEMS):
                continue
            with contextlib.suppress(ConditionFailed):  # counted in again meanwhile: it stays
                self.db.delete(
                    pk, sk, condition="#events = :zero", names={"#events": "events"}, values={":zero": 0}
                )


def _note_scopes(result: BatchResult, group: list[StreamRecord]) -> None:
    for record in group:
        for image in (record.old, record.new):
            if is_event_image(image):
                assert image is not None
                result.customers.add(str(image["customer_id"]))
                result.features.add(str(image["feature"]))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def log_batch(batch: Batch, result: BatchResult) -> None:
    logger.info(
        "aggregated a stream batch", shard=batch.shard_id, records=len(batch.records), **result.as_dict()
    )
