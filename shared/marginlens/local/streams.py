"""The local stand-in for Lambda's DynamoDB stream mapping: reads the engine's stream and hands
the aggregator the events Lambda would (records of usage events only, one shard per event, the
shard's id and the stream's ARN as a tumbling window puts them), so that the local stack and the
tests run the code AWS runs.

Like the mapping, it keeps its own position per shard (in memory), starts from the oldest record,
delivers at least once and retries a failed batch; the aggregator's checkpoint makes the repeats
harmless. `drain()` delivers until the stream has nothing new: what a test calls to read its own
writes.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from marginlens.storage.streams import MAX_RECORDS_PER_READ, Stream, is_event_record, lambda_event
from marginlens.usage.aggregator import DEFAULT_BATCH_SIZE  # as the CDK stack's mapping

Deliver = Callable[[dict[str, Any]], Any]


class StreamPoller:
    def __init__(self, stream: Stream, deliver: Deliver, *, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self.stream = stream
        self.deliver = deliver
        self.batch_size = batch_size
        self._positions: dict[str, str | None] = {}  # shard -> last sequence number read
        self._lock = threading.Lock()  # one delivery at a time, as the mapping does per shard
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> int:
        """Read every shard from its position to its end and deliver the event records in batches;
        the records read (0: caught up). A failed delivery stays unread: the next poll retries it."""
        read = 0
        with self._lock:
            for shard in self.stream.shards():
                read += self._poll_shard(shard)
        return read

    def _poll_shard(self, shard: str) -> int:
        read = 0
        while True:
            iterator = self.stream.iterator(shard, self._positions.get(shard))
            if iterator is None:
                return read
            records, _ = self.stream.read(iterator, MAX_RECORDS_PER_READ)
            if not records:
                return read
            events = [record for record in records if is_event_record(record)]
            for start in range(0, len(events), self.batch_size):
                self.deliver(
                    lambda_event(self.stream.arn or "", shard, events[start : start + self.batch_size])
                )
            self._positions[shard] = str(records[-1]["dynamodb"]["SequenceNumber"])
            read += len(records)

    def drain(self, timeout_s: float = 30.0) -> None:
        """Deliver until a whole pass reads nothing new; raises if that takes over `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while self.poll_once():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the stream was still moving after {timeout_s} s")

    # --- in the background (the local stack) ----------------------------------------------------

    def start(self, interval_s: float = 0.05) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(interval_s,), name="stream-poller", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self, interval_s: float) -> None:
        while not self._stop.is_set():
            try:
                if self.poll_once():
                    continue  # more may be waiting: read again at once
            except Exception as error:  # as Lambda retries a failed batch: keep going
                print(f"stream delivery failed, retrying: {error!r}", file=sys.stderr)
            self._stop.wait(interval_s)
