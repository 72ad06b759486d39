"""The table's DynamoDB stream: its records as the aggregator sees them, and reading the stream.

On AWS, Lambda's event source mapping reads the stream and hands the aggregator batches of
records, filtered to usage events (`EVENT_RECORD_FILTER`), with the shard they come from (the
mapping's tumbling window puts `shardId` in each event). Locally, `marginlens.local.streams`
reads the engine's stream with the same API and builds the same events. Reports read it too, to
say how far behind the aggregates are (`oldest_pending`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import boto3

from marginlens.core.settings import Settings
from marginlens.storage import schema
from marginlens.storage.dynamodb import PK, DynamoDBClient, client_config, from_item

RecordKind = Literal["INSERT", "MODIFY", "REMOVE"]
MAX_RECORDS_PER_READ = 1000  # GetRecords' maximum
SEQUENCE_DIGITS = 40  # stream sequence numbers are 21 to 40 digits: padded, they sort as numbers

# Lambda's filter criteria for the aggregator's event source mapping: records of usage events only
# (the aggregate and checkpoint writes the aggregator makes never reach it again).
EVENT_RECORD_FILTER: dict[str, Any] = {"dynamodb": {"Keys": {PK: {"S": [{"prefix": schema.EVENT}]}}}}


def padded(sequence_number: str) -> str:
    """A sequence number as a fixed-width string, so that string order is numeric order."""
    return sequence_number.zfill(SEQUENCE_DIGITS)


@dataclass(frozen=True)
class StreamRecord:
    """One change to one item, as the stream reports it (images as plain Python values)."""

    sequence_number: str
    kind: RecordKind
    keys: dict[str, Any]
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    created_at: datetime | None

    @property
    def position(self) -> str:
        return padded(self.sequence_number)


def is_event_record(raw: Mapping[str, Any]) -> bool:
    """What `EVENT_RECORD_FILTER` keeps: a change to a usage event item."""
    key = raw.get("dynamodb", {}).get("Keys", {}).get(PK, {})
    return isinstance(key.get("S"), str) and key["S"].startswith(schema.EVENT)


def _created_at(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return None


def parse_record(raw: Mapping[str, Any]) -> StreamRecord:
    """A record of Lambda's event, or of GetRecords (images in DynamoDB's typed JSON)."""
    change = raw["dynamodb"]
    return StreamRecord(
        sequence_number=str(change["SequenceNumber"]),
        kind=raw["eventName"],
        keys=from_item(change.get("Keys", {})),
        old=from_item(change["OldImage"]) if "OldImage" in change else None,
        new=from_item(change["NewImage"]) if "NewImage" in change else None,
        created_at=_created_at(change.get("ApproximateCreationDateTime")),
    )


@dataclass(frozen=True)
class Batch:
    """What one invocation of the aggregator gets: records of one shard, in stream order."""

    stream_arn: str
    shard_id: str
    records: tuple[StreamRecord, ...]


def batch_of(event: Mapping[str, Any]) -> Batch:
    """The batch in a Lambda event of a DynamoDB stream mapping with a tumbling window."""
    shard_id = event.get("shardId")
    records = event.get("Records") or []
    stream_arn = event.get("eventSourceARN") or (records[0].get("eventSourceARN") if records else None)
    if not shard_id or not stream_arn:
        raise ValueError("the event has no shardId or eventSourceARN: the mapping needs a tumbling window")
    return Batch(str(stream_arn), str(shard_id), tuple(parse_record(raw) for raw in records))


def lambda_event(stream_arn: str, shard_id: str, raw_records: list[dict[str, Any]]) -> dict[str, Any]:
    """The event Lambda's mapping would send for these GetRecords records (the local poller's)."""
    records = []
    for raw in raw_records:
        change = dict(raw["dynamodb"])
        created = change.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):  # Lambda sends epoch seconds
            change["ApproximateCreationDateTime"] = created.timestamp()
        records.append({**raw, "dynamodb": change, "eventSourceARN": stream_arn})
    return {"Records": records, "shardId": shard_id, "eventSourceARN": stream_arn, "state": {}}


def make_streams_client(settings: Settings) -> Any:
    return boto3.client(
        "dynamodbstreams",
        region_name=settings.aws_region,
        endpoint_url=settings.dynamodb_endpoint,
        config=client_config(),
    )


class Stream:
    """Reads the table's stream: its shards, and the records of a shard after a position."""

    def __init__(
        self, client: DynamoDBClient, streams_client: Any, table: str, arn: str | None = None
    ) -> None:
        self.client = client
        self.streams = streams_client
        self.table = table
        self._arn: str | None = arn or None

    @property
    def arn(self) -> str | None:
        """The table's current stream (None: the table has no stream)."""
        if self._arn is None:
            found = self.client.describe_table(TableName=self.table)["Table"].get("LatestStreamArn")
            self._arn = str(found) if found else None
        return self._arn

    def shards(self) -> list[str]:
        """Every shard of the stream still readable, parents before children."""
        if self.arn is None:
            return []
        shards: list[str] = []
        arguments: dict[str, Any] = {"StreamArn": self.arn}
        while True:
            described = self.streams.describe_stream(**arguments)["StreamDescription"]
            shards += [shard["ShardId"] for shard in described.get("Shards", [])]
            last = described.get("LastEvaluatedShardId")
            if not last:
                return shards
            arguments["ExclusiveStartShardId"] = last

    def iterator(self, shard_id: str, after: str | None) -> str | None:
        """A shard iterator just after sequence number `after` (None: from the oldest record)."""
        arguments: dict[str, Any] = {"StreamArn": self.arn, "ShardId": shard_id}
        if after is None:
            arguments["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            arguments["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER"
            arguments["SequenceNumber"] = after.lstrip("0") or "0"
        found = self.streams.get_shard_iterator(**arguments).get("ShardIterator")
        return str(found) if found else None

    def read(
        self, iterator: str, limit: int = MAX_RECORDS_PER_READ
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One GetRecords call: the raw records and the next iterator (None: the shard is closed)."""
        answer = self.streams.get_records(ShardIterator=iterator, Limit=limit)
        return list(answer.get("Records", [])), answer.get("NextShardIterator")

    def records_after(self, shard_id: str, after: str | None, max_reads: int) -> Iterator[dict[str, Any]]:
        """Raw records of a shard after `after`, up to the shard's end or `max_reads` GetRecords calls."""
        iterator = self.iterator(shard_id, after)
        for _ in range(max_reads):
            if iterator is None:
                return
            records, iterator = self.read(iterator)
            if not records:
                return
            yield from records
