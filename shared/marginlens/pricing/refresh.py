"""Refreshing the upstream price table: fetch genai-prices' data file, validate it, store it.

Runs daily (EventBridge schedule -> the `refresh_prices` function), on `POST /v1/prices/refresh`
and `marginlens prices refresh`. Locally there is no schedule (no internet is assumed): run one of
those two by hand, with `MARGINLENS_PRICES_URL` pointing at a mirror of the data file if need be.

A file is refused when it is empty, not JSON, not parsable by genai-prices' own types, or lists
more than `max_shrink_pct` % fewer models than the snapshot in force (the bundled baseline counts
too). A refused or failed refresh changes nothing: the last good snapshot stays in force, and one
`price_sync_failed` alert says why. A file byte-identical to the current one is not stored again.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import urlsplit

from marginlens import __version__
from marginlens.core.alerting import AlertPublisher
from marginlens.core.observability import logger
from marginlens.pricing.book import SnapshotInfo, baseline_info
from marginlens.pricing.store import PriceStore, SnapshotInvalid, _info, parse_snapshot

ALERT_KIND = "price_sync_failed"
FETCH_TIMEOUT_S = 30.0
MAX_FILE_BYTES = 50_000_000  # today's file is about 1 MB

RefreshStatus = Literal["refreshed", "unchanged", "refused"]
Fetch = Callable[[str], bytes]


class FetchFailed(Exception):
    """The price file could not be downloaded."""


def fetch_url(url: str, *, timeout: float = FETCH_TIMEOUT_S, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """GET `url` (http or https only) and return the body; any failure raises FetchFailed."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise FetchFailed(f"only http and https URLs are fetched, not {url!r}")
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url, headers={"Accept": "application/json", "User-Agent": f"marginlens/{__version__}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body: bytes = response.read(max_bytes + 1)
    except urllib.error.HTTPError as error:
        raise FetchFailed(f"HTTP {error.code} {error.reason}") from error
    except urllib.error.URLError as error:
        raise FetchFailed(f"{type(error.reason).__name__}: {error.reason}") from error
    except (OSError, ValueError) as error:  # timeouts, resets, malformed responses
        raise FetchFailed(f"{type(error).__name__}: {error}") from error
    if len(body) > max_bytes:
        raise FetchFailed(f"the file is larger than {max_bytes} bytes")
    return body


@dataclass(frozen=True)
class RefreshResult:
    status: RefreshStatus
    url: str
    snapshot: SnapshotInfo | None  # in force after the attempt (None: the store could not be read)
    previous: SnapshotInfo | None  # in force before it
    reason: str | None = None  # why it was refused
    fetched_model_count: int | None = None
    alerted: bool = False  # a refusal's alert was published

    @property
    def refused(self) -> bool:
        return self.status == "refused"

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": self.status,
            "snapshot": self.snapshot.as_dict() if self.snapshot else None,
            "previous": self.previous.as_dict() if self.previous else None,
        }
        if self.refused:
            body |= {"reason": self.reason, "url": self.url, "alerted": self.alerted}
        return body


def _current(store: PriceStore) -> tuple[SnapshotInfo, str | None]:
    """The snapshot in force and the SHA-256 of its file (None for the bundled baseline)."""
    item = store.current_item()
    if item is None:
        return baseline_info(), None
    return _info(item), item.get("sha256")


def shrink_refused(previous_count: int, new_count: int, max_shrink_pct: Decimal) -> bool:
    """True when `new_count` is more than `max_shrink_pct` % below `previous_count`."""
    return (previous_count - new_count) * 100 > max_shrink_pct * previous_count


def refresh_prices(
    store: PriceStore,
    publisher: AlertPublisher,
    *,
    url: str,
    max_shrink_pct: Decimal,
    now: datetime,
    fetch: Fetch = fetch_url,
) -> RefreshResult:
    """Fetch, validate and store a new snapshot; on any failure alert once and keep the current one."""
    try:
        previous, previous_sha = _current(store)
    except Exception as error:
        return _refuse(publisher, url, None, f"the current snapshot could not be read: {error}")

    try:
        raw = fetch(url)
    except Exception as error:
        return _refuse(publisher, url, previous, f"the price file could not be fetched: {error}")

    if previous_sha is not None and hashlib.sha256(raw).hexdigest() == previous_sha:
        logger.info("price file unchanged", url=url, version=previous.version)
        return RefreshResult("unchanged", url, previous, previous)

    try:
        _snapshot, count = parse_snapshot(raw)
    except SnapshotInvalid as error:
        return _refuse(publisher, url, previous, str(error))

    if shrink_refused(previous.model_count, count, max_shrink_pct):
        reason = (
            f"the price file lists {count} models, {previous.model_count - count} fewer than the "
            f"{previous.model_count} of the current snapshot (more than {max_shrink_pct} % fewer)"
        )
        return _refuse(publisher, url, previous, reason, count)

    try:
        info = store.save_snapshot(raw, source=url, fetched_at=now)
    except Exception as error:
        # The CURRENT pointer is written last: a failed save leaves the previous snapshot in force.
        return _refuse(publisher, url, previous, f"the new snapshot could not be stored: {error}", count)

    logger.info(
        "price snapshot refreshed",
        url=url,
        version=info.version,
        previous_version=previous.version,
        model_count=info.model_count,
        previous_model_count=previous.model_count,
    )
    return RefreshResult("refreshed", url, info, previous, fetched_model_count=count)


def _refuse(
    publisher: AlertPublisher,
    url: str,
    current: SnapshotInfo | None,
    reason: str,
    fetched_model_count: int | None = None,
) -> RefreshResult:
    detail: dict[str, Any] = {
        "reason": reason,
        "url": url,
        "current_version": current.version if current else None,
        "current_model_count": current.model_count if current else None,
        "fetched_model_count": fetched_model_count,
        "action": "The last good price snapshot stays in force.",
    }
    logger.warning("price refresh refused", **detail)
    alerted = True
    try:
        publisher.publish(ALERT_KIND, "Price refresh refused: the last good snapshot stays in force", detail)
    except Exception:
        # Never let a failing alert channel turn a refusal into an error (and a retried, re-alerted run).
        alerted = False
        logger.exception("the price_sync_failed alert could not be published", url=url)
    return RefreshResult("refused", url, current, current, reason, fetched_model_count, alerted)
