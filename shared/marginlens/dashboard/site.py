"""The dashboard as served files: `/dashboard/` is `static/index.html`, `/dashboard/{name}` the
bundle's other files, each with the headers a single-page app holding an API key needs.

The page is a client of the public API only, on the same origin, so the policy allows nothing but
itself: no inline script, no other origin to connect to or frame it, and no Referer sent anywhere.
Files whose names carry the bundler's content hash (`app-5F2KQ3ZL.js`) never change: cached for a
year; the index is revalidated on every load so a deploy is seen at once.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
INDEX = "index.html"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_HASHED_NAME = re.compile(r"-[A-Za-z0-9]{8,}\.[a-z0-9]+$")
_TEXT_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
}


@dataclass(frozen=True)
class Asset:
    name: str
    body: bytes
    content_type: str

    @property
    def is_text(self) -> bool:
        return self.content_type.startswith("text/") or self.content_type == "application/json"

    @property
    def headers(self) -> dict[str, str]:
        cache_control = IMMUTABLE if _HASHED_NAME.search(self.name) else REVALIDATE
        return {**SECURITY_HEADERS, "Cache-Control": cache_control}


def is_built(static_dir: Path = STATIC_DIR) -> bool:
    return (static_dir / INDEX).is_file()


def asset(name: str, static_dir: Path = STATIC_DIR) -> Asset | None:
    """The file `name` of the bundle, or None: only plain names of files in `static/` itself (no
    path, no dot-file), so a request can never read outside it."""
    if not _SAFE_NAME.match(name) or ".." in name:
        return None
    # Hashed files never change: read once per process. The index is re-read, so a rebuilt
    # dashboard is served at once by a running local stack.
    return _read_once(static_dir, name) if _HASHED_NAME.search(name) else _read(static_dir, name)


_hashed_files: dict[tuple[Path, str], Asset] = {}


def _read_once(static_dir: Path, name: str) -> Asset | None:
    found = _hashed_files.get((static_dir, name))
    if found is None and (found := _read(static_dir, name)) is not None:
        _hashed_files[(static_dir, name)] = found
    return found


def _read(static_dir: Path, name: str) -> Asset | None:
    path = static_dir / name
    if not path.is_file():
        return None
    suffix = path.suffix.lower()
    content_type = _TEXT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    if content_type in _TEXT_TYPES.values():
        content_type += "; charset=utf-8"
    return Asset(name, path.read_bytes(), content_type)
