"""API keys: random, prefixed, checksummed; only a SHA-256 hash is stored.

A key looks like `mlk_<32 base62 chars><6 base62 checksum chars>`. The checksum (CRC-32 of the
random part) lets a malformed or mistyped key be refused without a database read. Scopes:
`ingest` (write usage), `read` (reports), `admin` (everything).

Items:
  KEY#{sha256}   KEY      what authentication reads: scope, id, revocation
  KEYS           {id}     the listing (name, prefix, times, hash), never the key
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.exceptions import ClientError

from marginlens.core.observability import logger
from marginlens.storage import schema
from marginlens.storage.dynamodb import PK, SK, DynamoDBClient, to_item
from marginlens.storage.table import ConditionFailed, Table

Scope = Literal["ingest", "read", "admin"]
SCOPES: tuple[Scope, ...] = ("ingest", "read", "admin")

KEY_PREFIX = "mlk_"
_ALPHABET = string.digits + string.ascii_letters
_BODY_LENGTH = 32
_CHECKSUM_LENGTH = 6
KEY_LENGTH = len(KEY_PREFIX) + _BODY_LENGTH + _CHECKSUM_LENGTH
DISPLAY_PREFIX_LENGTH = len(KEY_PREFIX) + 6
BOOTSTRAP_MIN_LENGTH = 20
LAST_USED_RESOLUTION_S = 60


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, remainder = divmod(number, 62)
        digits.append(_ALPHABET[remainder])
    return "".join(reversed(digits))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _CHECKSUM_LENGTH)


def generate_key() -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_BODY_LENGTH))
    return f"{KEY_PREFIX}{body}{_checksum(body)}"


def is_well_formed(key: str) -> bool:
    if len(key) != KEY_LENGTH or not key.startswith(KEY_PREFIX):
        return False
    body, checksum = key[len(KEY_PREFIX) : -_CHECKSUM_LENGTH], key[-_CHECKSUM_LENGTH:]
    if any(char not in _ALPHABET for char in body):
        return False
    return hmac.compare_digest(checksum, _checksum(body))


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def grants(held: Scope, needed: Scope | Literal["any"]) -> bool:
    """`admin` holds every scope; `ingest` and `read` only themselves; `any` asks only for a key."""
    return needed == "any" or held == needed or held == "admin"


@dataclass(frozen=True)
class Principal:
    key_id: str
    scope: Scope


@dataclass(frozen=True)
class KeyRecord:
    id: str
    name: str
    scope: Scope
    prefix: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "scope": self.scope,
            "prefix": self.prefix,
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
            "revoked_at": self.revoked_at,
        }


MAX_CACHED_KEYS = 1024  # per process: far more keys than a deployment uses
NEGATIVE_CACHE_SECONDS = 5.0


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class KeyStore:
    """Creates, lists, revokes and authenticates keys, with a short per-process cache."""

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        *,
        cache_seconds: float = 30.0,
        bootstrap_admin_sha256: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.table = table
        self.db = Table(client, table)
        self.writer = self.db.writer
        self.cache_seconds = cache_seconds
        self.bootstrap_admin_sha256 = bootstrap_admin_sha256
        # Least recently used first; bounded, so well-formed fake keys cannot grow it without end.
        self._cache: OrderedDict[str, tuple[float, Principal | None]] = OrderedDict()
        self._last_used_written: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def create(self, scope: Scope, name: str) -> tuple[str, KeyRecord]:
        """A new key: the plaintext (to show once) and its record."""
        key = generate_key()
        key_id = "key_" + secrets.token_hex(8)
        record = KeyRecord(key_id, name, scope, key[:DISPLAY_PREFIX_LENGTH], _now_iso(), None, None)
        key_hash = hash_key(key)
        self.writer.write(
            [
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": to_item(
                            {PK: f"{schema.API_KEY}{key_hash}", SK: "KEY", "id": key_id, "scope": scope}
                        ),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": to_item(
                            {PK: schema.API_KEYS, SK: key_id, "key_hash": key_hash, **record.public()}
                        ),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
        return key, record

    def list(self) -> list[KeyRecord]:
        return [_record(item) for item in self.db.query(schema.API_KEYS)]

    def find(self, key_id: str) -> KeyRecord | None:
        item = self.db.get(schema.API_KEYS, key_id, consistent=False)
        return _record(item) if item is not None else None

    def revoke(self, key_id: str) -> KeyRecord | None:
        listing = self.db.get(schema.API_KEYS, key_id, consistent=False)
        if listing is None:
            return None
        if listing.get("revoked_at"):
            return _record(listing)
        revoked_at = _now_iso()
        actions: list[Any] = [
            _set_revoked(self.table, schema.API_KEYS, key_id, revoked_at),
            _set_revoked(self.table, f"{schema.API_KEY}{listing['key_hash']}", "KEY", revoked_at),
        ]
        self.writer.write(actions)
        with self._lock:
            self._cache.pop(listing["key_hash"], None)
        return _record({**listing, "revoked_at": revoked_at})

    def authenticate(self, presented: str | None) -> Principal | None:
        """The key's principal, or None for a missing, malformed, unknown or revoked key."""
        if not presented:
            return None
        presented_hash = hash_key(presented)
        if self.bootstrap_admin_sha256 and hmac.compare_digest(presented_hash, self.bootstrap_admin_sha256):
            return Principal("bootstrap-admin", "admin")
        if not is_well_formed(presented):
            return None
        now = self._clock()
        with self._lock:
            cached = self._cache.get(presented_hash)
            if cached is not None and cached[0] > now:
                self._cache.move_to_end(presented_hash)
                return cached[1]
        principal = self._lookup(presented_hash)
        # An unknown key is remembered briefly: enough to absorb a burst, not to pin memory.
        ttl = self.cache_seconds if principal is not None else min(self.cache_seconds, NEGATIVE_CACHE_SECONDS)
        with self._lock:
            self._cache[presented_hash] = (now + ttl, principal)
            self._cache.move_to_end(presented_hash)
            while len(self._cache) > MAX_CACHED_KEYS:
                self._cache.popitem(last=False)
        if principal is not None:
            self._touch(principal.key_id, now)
        return principal

    def _lookup(self, key_hash: str) -> Principal | None:
        item = self.db.get(f"{schema.API_KEY}{key_hash}", "KEY")
        if item is None or item.get("revoked_at"):
            return None
        return Principal(item["id"], item["scope"])

    def _touch(self, key_id: str, now: float) -> None:
        """Record last use, at most once a minute per key and process: auth stays one read."""
        with self._lock:
            if now - self._last_used_written.get(key_id, -LAST_USED_RESOLUTION_S) < LAST_USED_RESOLUTION_S:
                return
            self._last_used_written[key_id] = now
        try:
            self.db.update(
                schema.API_KEYS,
                key_id,
                "SET last_used_at = :at",
                condition="attribute_exists(pk)",
                values={":at": _now_iso()},
            )
        except (ClientError, ConditionFailed) as error:  # a bookkeeping write must never fail the request
            logger.warning("could not record key use", key_id=key_id, error=str(error))


def _set_revoked(table: str, pk: str, sk: str, at: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": table,
            "Key": to_item({PK: pk, SK: sk}),
            "UpdateExpression": "SET revoked_at = :at",
            "ExpressionAttributeValues": to_item({":at": at}),
        }
    }


def _record(item: dict[str, Any]) -> KeyRecord:
    return KeyRecord(
        id=item["id"],
        name=item.get("name", ""),
        scope=item["scope"],
        prefix=item["prefix"],
        created_at=item["created_at"],
        last_used_at=item.get("last_used_at"),
        revoked_at=item.get("revoked_at"),
    )
