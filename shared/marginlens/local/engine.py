"""Loopback DynamoDB engine for the local stack and the integration tests.

moto's server plus two things it lacks on its own:

* one process-wide lock held for each whole request, so every request is atomic and
  isolated as on the real service. Plain moto lets two concurrent TransactWriteItems
  both pass ``attribute_not_exists``, and a cancelled transaction rolls back to a copy
  of the table taken when it started, erasing writes committed meanwhile;
* optional persistence to a JSON snapshot file, restored on start, with a write-ahead journal
  (``journal``) so that every acknowledged write survives ``kill -9``;
* DynamoDB's limits and behaviours moto lacks: the item, key, number and transaction limits
  (``moto_patches``, ``limits``) and TransactWriteItems' ``ClientRequestToken`` idempotency;
* a fault hook for tests, ``engine.faults`` (see ``faults``): conflicts, throttling, lost responses.

Each engine keeps its tables under its own moto account id (sent to moto as the
``x-moto-account-id`` header), so several engines in one process do not see each
other's tables. If ``MOTO_ACCOUNT_ID`` is set, moto uses it for every request and
only one engine can run at a time.

Run standalone::

    python -m marginlens.local.engine --port 8000 --data .marginlens/pricing/data/dynamodb.json
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import io
import json
import logging
import os
import secrets
import signal
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from wsgiref.types import StartResponse, WSGIEnvironment

from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.test import Client

from marginlens.local import faults, moto_patches
from marginlens.local.journal import Journal, region_of

log = logging.getLogger(__name__)

SNAPSHOT_FORMAT = "marginlens-dynamodb-snapshot"
SNAPSHOT_VERSION = 1

# Actions that cannot change data; anything else (including unknown) marks the snapshot stale.
_READ_ONLY_PREFIXES = ("Get", "Query", "Scan", "Describe", "List", "BatchGet", "TransactGet")
_BATCH_WRITE_MAX = 25
# "A client request token is valid for 10 minutes after the first request that uses it is completed."
CLIENT_TOKEN_WINDOW_S = 600.0

# moto's backends are process-global state, so the lock that serialises them is too.
_MOTO_LOCK = threading.Lock()
_accounts_in_use: set[str] = set()


class LocalDynamoDB:
    """moto's DynamoDB on loopback, one request at a time, optionally persisted to ``data_file``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        data_file: Path | None = None,
        snapshot_interval_s: float = 2.0,
        client_token_window_s: float = CLIENT_TOKEN_WINDOW_S,
    ) -> None:
        self.host = host
        self.port = port
        self.data_file = Path(data_file) if data_file is not None else None
        self.snapshot_interval_s = snapshot_interval_s
        self._account_id = os.environ.get("MOTO_ACCOUNT_ID") or f"{secrets.randbelow(10**12):012d}"
        self._app = DomainDispatcherApplication(create_backend_app)
        self._server: BaseWSGIServer | None = None
        self._serve_thread: threading.Thread | None = None
        self._snapshot_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._endpoint: str | None = None
        self._closed = False  # guarded by _MOTO_LOCK
        self._writes = 0  # write requests applied; guarded by _MOTO_LOCK
        self._persisted = threading.Condition()
        self._persisted_writes = 0  # _writes covered by the file; guarded by _persisted
        self._snapshot_lock = threading.Lock()  # one snapshot writer at a time
        self._client_tokens = _ClientTokens(client_token_window_s)  # guarded by _MOTO_LOCK
        self.faults = faults.FaultInjector()
        # Every applied write, durable before it is answered (guarded by _MOTO_LOCK).
        self._journal = Journal(self.data_file) if self.data_file is not None else None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> str:
        """Restore ``data_file`` if it exists, start serving and return the endpoint URL."""
        if self._server is not None:
            raise RuntimeError("engine already started")
        moto_patches.install()  # DynamoDB's limits; transactions without whole-table copies
        with _MOTO_LOCK:
            if self._account_id in _accounts_in_use:
                raise RuntimeError(
                    f"another LocalDynamoDB in this process already uses moto account {self._account_id}"
                    " (unset MOTO_ACCOUNT_ID to run several engines)"
                )
            _accounts_in_use.add(self._account_id)
            dynamodb_backends.pop(self._account_id, None)
            self._closed = False
        try:
            covered = 0
            if self.data_file is not None and self.data_file.exists():
                covered = self._restore(self.data_file)
            self._replay_journal(covered)
            self._server = make_server(
                self.host, self.port, self._wsgi, threaded=True, request_handler=_RequestHandler
            )
        except BaseException:
            self._release_account()
            raise

        connect_host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host  # noqa: S104
        self._endpoint = f"http://{connect_host}:{self._server.server_port}"
        self._stopping.clear()
        self._serve_thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="local-dynamodb-server",
            daemon=True,
        )
        self._serve_thread.start()
        if self.data_file is not None:
            self._snapshot_thread = threading.Thread(
                target=self._snapshot_loop, name="local-dynamodb-snapshot", daemon=True
            )
            self._snapshot_thread.start()
        return self._endpoint

    def stop(self) -> None:
        """Stop serving, write a final snapshot if anything changed and drop the in-memory tables."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._serve_thread is not None:
            self._serve_thread.join()
        if self._snapshot_thread is not None:
            self._snapshot_thread.join()
        # Keep-alive connections outlive shutdown(); refuse them so nothing lands after the final snapshot.
        with _MOTO_LOCK:
            self._closed = True
        try:
            if self.data_file is not None and self._dirty():
                self.snapshot()
        finally:
            if self._journal is not None:
                self._journal.close()
            self._release_account()
            self._server = None
            self._serve_thread = None
            self._snapshot_thread = None

    def __enter__(self) -> LocalDynamoDB:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        if self._endpoint is None or self._server is None:
            raise RuntimeError("engine not started")
        return self._endpoint

    # -- snapshots -------------------------------------------------------------------

    def snapshot(self) -> None:
        """Write all tables to ``data_file`` now (consistent: taken under the request lock)."""
        if self.data_file is None:
            raise RuntimeError("engine has no data_file")
        with self._snapshot_lock:
            with _MOTO_LOCK:
                covered = self._writes
                collected = self._collect()
                if self._journal is not None:
                    collected["journal_seq"] = self._journal.rotate()
                text = json.dumps(collected, default=_json_default, separators=(",", ":"))
            _atomic_write(self.data_file, text)
            if self._journal is not None:
                self._journal.snapshot_written()
            with self._persisted:
                self._persisted_writes = max(self._persisted_writes, covered)
                self._persisted.notify_all()

    def wait_for_snapshot(self, timeout: float) -> bool:
        """Block until every write accepted before this call is in ``data_file``; False on timeout."""
        if self.data_file is None:
            raise RuntimeError("engine has no data_file")
        with _MOTO_LOCK:
            target = self._writes
        with self._persisted:
            return self._persisted.wait_for(lambda: self._persisted_writes >= target, timeout)

    def _dirty(self) -> bool:
        with _MOTO_LOCK:
            writes = self._writes
        with self._persisted:
            return writes > self._persisted_writes

    def _snapshot_loop(self) -> None:
        while not self._stopping.wait(self.snapshot_interval_s):
            if not self._dirty():
                continue
            try:
                self.snapshot()
            except Exception:
                log.exception("snapshot to %s failed; will retry", self.data_file)

    def _collect(self) -> dict[str, Any]:
        tables: list[dict[str, Any]] = []
        if self._account_id in dynamodb_backends:
            for region, backend in dynamodb_backends[self._account_id].items():
                for table in backend.tables.values():
                    tables.append(
                        {
                            "region": region,
                            "table": table.describe(base_key="Table")["Table"],
                            "ttl": table.ttl,
                            "tags": table.tags,
                            # Low-level DynamoDB JSON: numbers stay exact strings, binaries go base64.
                            "items": [
                                {name: _attr_json(value) for name, value in item.attrs.items()}
                                for item in table.all_items()
                            ],
                            "stream": _stream_json(table),
                        }
                    )
        return {
            "format": SNAPSHOT_FORMAT,
            "version": SNAPSHOT_VERSION,
            "written_at": datetime.now(UTC).isoformat(),
            "tables": tables,
        }

    def _replay_journal(self, covered: int) -> None:
        """Apply the journal's writes after the snapshot's (`covered`): what was acknowledged since."""
        if self._journal is None:
            return
        client = Client(self._app)
        replayed = 0
        with _MOTO_LOCK:
            for region, action, request in self._journal.entries_after(covered):
                try:
                    self._call(client, region, action, request)
                except RuntimeError:  # it was applied once on this very state: log, never stop
                    log.exception("journal replay: %s failed", action)
                replayed += 1
        if replayed:
            log.info("replayed %d journaled writes after the snapshot", replayed)
            self._writes += replayed  # not in the snapshot file yet: the next snapshot takes them

    def _restore(self, path: Path) -> int:
        """Load the snapshot; the journal sequence number it covers."""
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") != SNAPSHOT_FORMAT or doc.get("version") != SNAPSHOT_VERSION:
            raise ValueError(
                f"{path} is not a {SNAPSHOT_FORMAT} version {SNAPSHOT_VERSION} file "
                f"(format={doc.get('format')!r}, version={doc.get('version')!r})"
            )
        client = Client(self._app)
        # Through moto's public API rather than its internals; not served yet, the lock is for other engines.
        with _MOTO_LOCK:
            for entry in doc["tables"]:
                region, desc = entry["region"], entry["table"]
                name = desc["TableName"]
                # The stream comes back as it was (below), not as INSERTs of the restored items.
                request = _create_table_request(desc, entry.get("tags"))
                request.pop("StreamSpecification", None)
                self._call(client, region, "CreateTable", request)
                ttl = entry.get("ttl") or {}
                if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") and ttl.get("AttributeName"):
                    spec = {"Enabled": True, "AttributeName": ttl["AttributeName"]}
                    self._call(
                        client,
                        region,
                        "UpdateTimeToLive",
                        {"TableName": name, "TimeToLiveSpecification": spec},
                    )
                items = entry["items"]
                for start in range(0, len(items), _BATCH_WRITE_MAX):
                    batch = [
                        {"PutRequest": {"Item": item}} for item in items[start : start + _BATCH_WRITE_MAX]
                    ]
                    out = self._call(client, region, "BatchWriteItem", {"RequestItems": {name: batch}})
                    if out.get("UnprocessedItems"):
                        raise RuntimeError(f"restore of {name}: moto left items unprocessed")
                if entry.get("stream"):
                    _restore_stream(
                        dynamodb_backends[self._account_id][region].get_table(name), entry["stream"]
                    )
                log.info("restored table %s (%s, %d items) from %s", name, region, len(items), path)
        return int(doc.get("journal_seq", 0))

    def _call(self, client: Client, region: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        headers = {
            "X-Amz-Target": f"DynamoDB_20120810.{action}",
            "Content-Type": "application/x-amz-json-1.0",
            # moto routes on the credential scope and does not verify the signature.
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential=local/20200101/{region}/dynamodb/aws4_request, "
                "SignedHeaders=host, Signature=0"
            ),
            "X-Moto-Account-Id": self._account_id,
        }
        resp = client.post("/", data=json.dumps(payload), headers=headers)
        text = resp.get_data(as_text=True)
        if resp.status_code != 200:
            raise RuntimeError(f"restore: {action} failed with {resp.status_code}: {text[:500]}")
        result: dict[str, Any] = json.loads(text) if text else {}
        return result

    # -- serving ---------------------------------------------------------------------

    def _wsgi(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # Buffer the body before taking the lock: a slow client must not stall everyone else.
        body = _read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["HTTP_X_MOTO_ACCOUNT_ID"] = self._account_id
        action = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2]
        request = _LazyJson(body)  # parsed only for faults and client tokens
        token = None
        if action == "TransactWriteItems" and b'"ClientRequestToken"' in body:
            token = request().get("ClientRequestToken")

        with _MOTO_LOCK:
            if self._closed:
                return _unavailable(start_response)
            fault = self.faults.take(action, request) if self.faults.armed(action) else None
            if fault is not None and not fault.after_commit:
                answer = _Answer.of_fault(fault, action, request())  # refused before anything applies
            else:
                replayed = self._client_tokens.replay(token, request) if isinstance(token, str) else None
                if replayed is not None:
                    answer = replayed
                else:
                    answer = self._apply(environ, action)
                    if isinstance(token, str) and answer.ok:
                        self._client_tokens.remember(token, request, answer)
                    if answer.ok and self._journal is not None and not action.startswith(_READ_ONLY_PREFIXES):
                        region = region_of(environ.get("HTTP_AUTHORIZATION", ""))
                        self._journal.append(region, action, body)  # durable before it is answered
                if fault is not None:  # applied, but the answer is lost on the way back
                    answer = _Answer.of_fault(fault, action, request())
        start_response(answer.status, answer.headers)
        return [answer.body]

    def _apply(self, environ: WSGIEnvironment, action: str) -> _Answer:
        """Run one request through moto; the caller holds _MOTO_LOCK."""
        response: list[Any] = []
        chunks: list[bytes] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            response[:] = [status, headers]
            return chunks.append

        if not action.startswith(_READ_ONLY_PREFIXES):
            self._writes += 1
        # Consume the whole response inside the lock: Flask may do work lazily while iterating.
        result = self._app(environ, capture)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return _Answer(response[0], list(response[1]), b"".join(chunks))

    def _release_account(self) -> None:
        with _MOTO_LOCK:
            dynamodb_backends.pop(self._account_id, None)
            _accounts_in_use.discard(self._account_id)


@dataclass(frozen=True)
class _Answer:
    status: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def ok(self) -> bool:
        return self.status.startswith("2")

    @classmethod
    def of_fault(cls, fault: faults.Fault, action: str, request: dict[str, Any]) -> _Answer:
        answer = faults.response(fault, action, request)
        return cls(answer.status, answer.headers, answer.body)

    @classmethod
    def error(cls, code: str, message: str) -> _Answer:
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(body)))]
        return cls("400 Bad Request", headers, body)


class _LazyJson:
    """A request body parsed on first use (most requests never need it)."""

    def __init__(self, body: bytes) -> None:
        self._body = body
        self._parsed: dict[str, Any] | None = None

    def __call__(self) -> dict[str, Any]:
        if self._parsed is None:
            try:
                parsed = json.loads(self._body) if self._body else {}
            except ValueError:
                parsed = {}
            self._parsed = parsed if isinstance(parsed, dict) else {}
        return self._parsed


class _ClientTokens:
    """TransactWriteItems' ClientRequestToken, as on AWS.

    A repeat of a token whose transaction succeeded, within the window, gets the same answer and
    applies nothing; the same token with other parameters is IdempotentParameterMismatchException.
    Only successes are remembered: a refused transaction applied nothing, so running it again is safe.
    """

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._done: OrderedDict[str, tuple[float, str, _Answer]] = OrderedDict()  # oldest first

    def replay(self, token: str, request: Callable[[], dict[str, Any]]) -> _Answer | None:
        self._expire()
        done = self._done.get(token)
        if done is None:
            return None
        _, fingerprint, answer = done
        if fingerprint != _fingerprint(request()):
            return _Answer.error(
                "IdempotentParameterMismatchException",
                "The request uses the same client request token as a previous, but non-identical request.",
            )
        return answer

    def remember(self, token: str, request: Callable[[], dict[str, Any]], answer: _Answer) -> None:
        self._done[token] = (time.monotonic(), _fingerprint(request()), answer)
        self._done.move_to_end(token)

    def _expire(self) -> None:
        cutoff = time.monotonic() - self.window_s
        while self._done:
            token, (completed, _, _) = next(iter(self._done.items()))
            if completed > cutoff:
                break
            del self._done[token]


def _fingerprint(request: dict[str, Any]) -> str:
    """The request's parameters other than the token, canonically."""
    params = {name: value for name, value in request.items() if name != "ClientRequestToken"}
    return hashlib.sha256(json.dumps(params, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class _RequestHandler(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug('%s "%s" %s', self.address_string(), self.requestline, code)


def _read_body(environ: WSGIEnvironment) -> bytes:
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):
        return bytes(stream.read())
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return bytes(stream.read(length)) if length > 0 else b""


def _unavailable(start_response: StartResponse) -> list[bytes]:
    body = json.dumps(
        {
            "__type": "com.amazonaws.dynamodb.v20120810#ServiceUnavailable",
            "message": "the local DynamoDB engine is stopping",
        }
    ).encode()
    start_response(
        "503 Service Unavailable",
        [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _throughput(value: dict[str, Any]) -> dict[str, Any]:
    return {
        "ReadCapacityUnits": value["ReadCapacityUnits"],
        "WriteCapacityUnits": value["WriteCapacityUnits"],
    }


def _create_table_request(desc: dict[str, Any], tags: list[dict[str, str]] | None) -> dict[str, Any]:
    """CreateTable parameters that rebuild a table from its DescribeTable output."""
    billing = (desc.get("BillingModeSummary") or {}).get("BillingMode") or "PROVISIONED"
    provisioned = billing == "PROVISIONED"
    req: dict[str, Any] = {
        "TableName": desc["TableName"],
        "AttributeDefinitions": desc["AttributeDefinitions"],
        "KeySchema": desc["KeySchema"],
        "BillingMode": billing,
    }
    if provisioned:
        req["ProvisionedThroughput"] = _throughput(desc["ProvisionedThroughput"])
    gsis = []
    for gsi in desc.get("GlobalSecondaryIndexes") or []:
        spec = {k: gsi[k] for k in ("IndexName", "KeySchema", "Projection")}
        if provisioned and gsi.get("ProvisionedThroughput"):
            spec["ProvisionedThroughput"] = _throughput(gsi["ProvisionedThroughput"])
        gsis.append(spec)
    if gsis:
        req["GlobalSecondaryIndexes"] = gsis
    lsis = [
        {k: lsi[k] for k in ("IndexName", "KeySchema", "Projection")}
        for lsi in desc.get("LocalSecondaryIndexes") or []
    ]
    if lsis:
        req["LocalSecondaryIndexes"] = lsis
    stream = desc.get("StreamSpecification") or {}
    if stream.get("StreamEnabled"):
        req["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    if desc.get("DeletionProtectionEnabled"):
        req["DeletionProtectionEnabled"] = True
    if tags:
        req["Tags"] = tags
    return req


def _attr_json(value: Any) -> Any:
    """One moto attribute as DynamoDB JSON (no deep copies: this runs under the request lock)."""
    if not isinstance(value, DynamoType):
        return _b64(value)
    kind, raw = value.type, value.value
    if kind == "M":
        return {kind: {k: _attr_json(v) for k, v in raw.items()}}
    if kind == "L":
        return {kind: [_attr_json(v) for v in raw]}
    if kind in ("SS", "NS", "BS"):
        return {kind: [_b64(v) for v in raw]}
    return {kind: _b64(raw)}


def _b64(value: Any) -> Any:
    # moto keeps B/BS values as raw bytes; DynamoDB JSON carries them base64-encoded.
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {k: _b64(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_b64(v) for v in value]
    return value


STREAM_RETENTION_S = 24 * 3600  # DynamoDB keeps a stream's records for 24 hours


class _RestoredRecord:
    """A stream record read back from a snapshot (moto's shard only calls `to_json`)."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record

    def to_json(self) -> dict[str, Any]:
        return self.record


def _stream_json(table: Any) -> dict[str, Any] | None:
    """The table's stream, so that a restart keeps its label, its numbering and its records: the
    aggregator's checkpoint names a position in this very stream."""
    shard = table.stream_shard
    if shard is None or not (table.stream_specification or {}).get("StreamEnabled"):
        return None
    records = []
    for entry in shard.items:
        record = json.loads(json.dumps(entry.to_json(), default=_json_default))
        created = entry.to_json()["dynamodb"].get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            record["dynamodb"]["ApproximateCreationDateTime"] = created.timestamp()
        records.append(record)
    return {
        "label": table.latest_stream_label,
        "view_type": table.stream_specification["StreamViewType"],
        "shard_id": shard.id,
        "starting": shard.starting_sequence_number,
        "records": records,
    }


def _restore_stream(table: Any, saved: dict[str, Any]) -> None:
    """Give a restored table its stream back, without the records older than DynamoDB keeps."""
    from moto.dynamodb.models.table import StreamShard

    table.stream_specification = {"StreamEnabled": True, "StreamViewType": saved["view_type"]}
    table.latest_stream_label = saved["label"]
    shard = StreamShard(table.account_id, table)
    shard.id = saved["shard_id"]
    cutoff = time.time() - STREAM_RETENTION_S
    records = saved["records"]
    kept = [r for r in records if float(r["dynamodb"].get("ApproximateCreationDateTime") or 0) >= cutoff]
    # Sequence numbers are `starting + index`: trimming the oldest moves the start, not the numbers.
    shard.starting_sequence_number = int(saved["starting"]) + len(records) - len(kept)
    shard.items = [_RestoredRecord(record) for record in kept]  # type: ignore[misc]
    table.stream_shard = shard


def _json_default(value: Any) -> Any:
    # Only table metadata (CreationDateTime) is expected here; anything else is a bug, not a string.
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot snapshot {type(value).__name__} value {value!r}")


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m marginlens.local.engine",
        description="Serve moto's DynamoDB on loopback, one request at a time, optionally persisted.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--data", type=Path, default=None, help="snapshot file; omit to keep data in memory")
    parser.add_argument("--snapshot-interval", type=float, default=2.0, help="seconds between snapshots")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.verbose:
        log.setLevel(logging.DEBUG)
    stop = threading.Event()
    # Handle SIGINT explicitly too: shells start background jobs with SIGINT ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    engine = LocalDynamoDB(args.host, args.port, args.data, args.snapshot_interval)
    endpoint = engine.start()
    log.info("DynamoDB on %s (data: %s); Ctrl-C to stop", endpoint, args.data or "memory only")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        engine.stop()
        log.info("stopped")


if __name__ == "__main__":
    main()
