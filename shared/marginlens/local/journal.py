"""The local engine's write-ahead journal: an acknowledged write survives `kill -9`.

Every write request the engine applied is appended (and fsynced) before its answer leaves: one
JSON line `{"seq", "region", "action", "body"}`, in the order requests were applied (under the
engine's lock). A snapshot records the last `seq` it covers and starts a new journal; the old one
is removed once the snapshot is on disk. On start, the snapshot is restored and the journal's
later entries are replayed through moto, in order, which gives the same state (conditions fail
the same way on the same state).

Files, beside the snapshot `data.json`: `data.json.journal` and, between a snapshot's start and
its end, `data.json.journal.prev`.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

_REGION = re.compile(r"Credential=[^/]+/\d+/([^/]+)/")


def region_of(authorization: str) -> str:
    found = _REGION.search(authorization)
    return found.group(1) if found else "us-east-1"


class Journal:
    def __init__(self, snapshot_file: Path) -> None:
        self.path = snapshot_file.with_name(snapshot_file.name + ".journal")
        self.previous = snapshot_file.with_name(snapshot_file.name + ".journal.prev")
        self.seq = 0  # the last entry written (or replayed)
        self._file: IO[str] | None = None

    def append(self, region: str, action: str, body: bytes) -> None:
        """Write one applied request durably; the caller holds the engine's lock."""
        self.seq += 1
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        entry = {"seq": self.seq, "region": region, "action": action, "body": base64.b64encode(body).decode()}
        self._file.write(json.dumps(entry, separators=(",", ":")) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def rotate(self) -> int:
        """Start a new journal for the writes after a snapshot covering `seq` (returned). If an
        earlier snapshot never finished, its journal stays and this one keeps appending to it."""
        if not self.previous.exists() and self.path.exists():
            self.close()
            os.replace(self.path, self.previous)
        return self.seq

    def snapshot_written(self) -> None:
        """The snapshot covering the rotated entries is on disk: they are no longer needed."""
        self.previous.unlink(missing_ok=True)

    def entries_after(self, seq: int) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(region, action, request) of every entry after `seq`, in order; a torn last line (the
        process died while writing it, before answering) is ignored."""
        last = seq
        for path in (self.previous, self.path):
            if not path.exists():
                continue
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                self.seq = max(self.seq, int(entry["seq"]))
                if int(entry["seq"]) <= last:
                    continue
                last = int(entry["seq"])
                yield entry["region"], entry["action"], json.loads(base64.b64decode(entry["body"]) or b"{}")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
