"""API keys."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from marginlens.api.schemas.common import Schema
from marginlens.core.identifiers import NO_CONTROL


class KeyOut(Schema):
    id: str
    name: str
    scope: Literal["ingest", "read", "admin"]
    prefix: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


class KeyCreated(KeyOut):
    key: str = Field(description="The key itself: shown once, never stored")


class KeyCreateIn(Schema):
    scope: Literal["ingest", "read", "admin"]
    name: Annotated[str, NO_CONTROL] = Field(min_length=1, max_length=100)


class KeyList(Schema):
    data: list[KeyOut]


class WhoAmI(Schema):
    id: str = Field(description="The key's id (`bootstrap-admin` for the key set at deploy time)")
    name: str
    scope: Literal["ingest", "read", "admin"]
    prefix: str | None = Field(description="The key's display prefix; null for the bootstrap key")
