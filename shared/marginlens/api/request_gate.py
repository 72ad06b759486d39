"""The door every HTTP request passes before any route code, validation or JSON parsing runs.

In this order, each refusal a problem+json, decided on the raw API Gateway event:

1. The route must be in the route table (404), and its key's scope must grant it (401, 403):
   a caller without a key learns nothing about what a valid body looks like.
2. A JSON body must be what JSON routes accept: no `Content-Encoding` (415), a JSON media type
   (415), at most `MAX_BODY_BYTES` (413), UTF-8 (400), nested at most `MAX_DEPTH` deep (400),
   valid JSON without duplicate object keys, NaN or Infinity (400). The depth is measured by a
   scan of the bytes, before any parser could recurse.

The Stripe webhook has no key and its body is checked by its signature on the raw bytes; only its
size and depth are bounded here (an authentic Stripe event is far from either).

The OTLP trace route (`POST /v1/otlp/v1/traces`) takes what OpenTelemetry exporters send: binary
protobuf (`application/x-protobuf`) or OTLP/JSON (`application/json`), plain, gzip or deflate
(415 otherwise). Its body may be up to `MAX_OTLP_BYTES` as received and `MAX_OTLP_INFLATED_BYTES`
once inflated (413), a JSON one UTF-8 and at most `MAX_WEBHOOK_DEPTH` deep (400); the route gets the
inflated bytes (`RawBody`) and decodes them itself.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, NamedTuple

from marginlens.api.problems import Problem
from marginlens.api.routes import SCOPE_BY_ROUTE_KEY

MAX_BODY_BYTES = 1024 * 1024  # 1 MiB: 100 events with full metadata are about 250 KB
MAX_WEBHOOK_BYTES = 6 * 1024 * 1024  # Lambda's synchronous payload limit
MAX_DEPTH = 32  # JSON nesting: events are 3 deep, a budget YAML 2, Stripe objects about 8
MAX_WEBHOOK_DEPTH = 64
WEBHOOK_ROUTE = "POST /v1/stripe/webhook"
JSON_TYPES = ("application/json",)
OTLP_ROUTE = "POST /v1/otlp/v1/traces"
OTLP_TYPES = ("application/x-protobuf", "application/json")  # OTLP/HTTP's two encodings
OTLP_ENCODINGS = ("gzip", "deflate")  # and none; OTLP requires gzip, OpenTelemetry's SDKs offer both
MAX_OTLP_BYTES = MAX_WEBHOOK_BYTES  # as received, compressed or not: Lambda's payload limit
MAX_OTLP_INFLATED_BYTES = 20 * 1024 * 1024  # after inflating: OTLP/HTTP's recommended limit
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def headers_of(event: Mapping[str, Any]) -> dict[str, str]:
    return {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}


def raw_body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body")
    if not body:
        return b""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise Problem(400, "The body is not valid base64.", slug="malformed-body") from None
    return body.encode("utf-8", errors="surrogatepass") if isinstance(body, str) else bytes(body)


def json_depth_exceeds(data: bytes, limit: int) -> bool:
    """Whether arrays and objects nest deeper than `limit`, counting brackets outside strings."""
    depth = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


class DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(f"the key {key!r} appears twice in one object")
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise DuplicateKey(key)
        found[key] = value
    return found


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str) -> Any:
    """JSON as MarginLens reads it: exact decimals, no duplicate keys, no NaN or Infinity."""
    return json.loads(text, parse_float=Decimal, object_pairs_hook=_unique_keys, parse_constant=_no_constants)


def _media_type(headers: Mapping[str, str]) -> tuple[str, str | None]:
    value = headers.get("content-type", "")
    media, _, params = value.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, setting = param.strip().partition("=")
        if name.lower() == "charset":
            charset = setting.strip().strip('"').lower()
    return media.strip().lower(), charset


class RawBody(NamedTuple):
    """A body the route decodes itself: its media type (lowercased, without parameters) and its bytes,
    inflated when it came compressed."""

    media_type: str
    data: bytes


def inflate(body: bytes, encoding: str, limit: int) -> bytes:
    """`body` decoded from its Content-Encoding (`gzip`: one or more members; `deflate`: the zlib
    format, as HTTP defines it), never more than `limit` bytes of output (413 past it)."""
    if encoding in ("", "identity"):
        return body
    window = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}[encoding]
    out: list[bytes] = []
    size, rest = 0, body
    try:
        while rest:
            inflater = zlib.decompressobj(window)
            chunk = inflater.decompress(rest, limit + 1 - size)
            size += len(chunk)
            if size > limit:
                raise Problem(413, f"The body inflates to more than {limit} bytes.", slug="body-too-large")
            out.append(chunk)
            if not inflater.eof:
                raise Problem(400, f"The {encoding} body is truncated.", slug="malformed-body")
            # gzip allows several members one after another; anything else after the end is an error.
            rest = inflater.unused_data if encoding == "gzip" else b""
            if encoding != "gzip" and inflater.unused_data:
                raise Problem(400, f"Bytes follow the end of the {encoding} body.", slug="malformed-body")
    except zlib.error as error:
        raise Problem(400, f"The body is not valid {encoding}: {error}.", slug="malformed-body") from None
    return b"".join(out)


def check_otlp_body(event: Mapping[str, Any]) -> RawBody:
    """What OpenTelemetry's OTLP/HTTP exporters send, bounded before and after inflating; the inflated
    bytes for the route to decode (an empty body is an empty export, which OTLP answers with success)."""
    headers = headers_of(event)
    media, charset = _media_type(headers)
    if media not in OTLP_TYPES:
        raise Problem(
            415,
            "OTLP bodies are application/x-protobuf or application/json (OTLP/JSON), "
            f"not {media or 'untyped'}.",
            slug="unsupported-media-type",
        )
    if media == "application/json" and charset not in (None, "utf-8", "utf8"):
        raise Problem(415, f"OTLP/JSON bodies are UTF-8, not {charset}.", slug="unsupported-media-type")
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity", *OTLP_ENCODINGS):
        raise Problem(
            415,
            f"Content-Encoding {encoding!r} is not accepted: send the body uncompressed, gzip or deflate.",
            slug="unsupported-content-encoding",
        )
    body = raw_body(event)
    if len(body) > MAX_OTLP_BYTES:
        raise Problem(413, f"The body is larger than {MAX_OTLP_BYTES} bytes.", slug="body-too-large")
    data = inflate(body, encoding, MAX_OTLP_INFLATED_BYTES)
    if media == "application/json" and data:
        check_bytes(data, max_bytes=MAX_OTLP_INFLATED_BYTES, max_depth=MAX_WEBHOOK_DEPTH)
    return RawBody(media, data)


class Checked(NamedTuple):
    principal: Any  # None: a public route
    body: Any  # the body as `parse_json` read it; NO_BODY when there was none (or it was not JSON's);
    # a RawBody on the OTLP route


NO_BODY = object()


def check_body(
    event: Mapping[str, Any], *, max_bytes: int = MAX_BODY_BYTES, max_depth: int = MAX_DEPTH
) -> Any:
    """Refuse a body no JSON route can take (nothing is parsed before it is known to be safe); the
    body as `parse_json` reads it, NO_BODY when there is none."""
    headers = headers_of(event)
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise Problem(
            415,
            f"Content-Encoding {encoding!r} is not accepted: send the JSON body uncompressed.",
            slug="unsupported-content-encoding",
        )
    body = raw_body(event)
    if not body:
        return NO_BODY
    media, charset = _media_type(headers)
    if media not in JSON_TYPES:
        raise Problem(
            415,
            f"The body must be JSON (Content-Type: application/json), not {media or 'untyped'}.",
            slug="unsupported-media-type",
        )
    if charset not in (None, "utf-8", "utf8"):
        raise Problem(415, f"JSON bodies are UTF-8, not {charset}.", slug="unsupported-media-type")
    check_bytes(body, max_bytes=max_bytes, max_depth=max_depth)
    try:
        return parse_json(body.decode("utf-8"))
    except DuplicateKey as error:
        raise Problem(400, f"The body is ambiguous: {error}.", slug="duplicate-key") from None
    except (ValueError, RecursionError) as error:
        errors = [{"pointer": "", "detail": str(error)}]
        raise Problem(400, "The body is not valid JSON.", slug="malformed-json", errors=errors) from None


def check_bytes(body: bytes, *, max_bytes: int, max_depth: int) -> None:
    if len(body) > max_bytes:
        raise Problem(413, f"The body is larger than {max_bytes} bytes.", slug="body-too-large")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise Problem(400, "The body is not UTF-8.", slug="malformed-body") from None
    if json_depth_exceeds(body, max_depth):
        raise Problem(400, f"The body nests deeper than {max_depth} levels.", slug="body-too-deep")


def normalised(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The event with a JSON body's media type spelled as Powertools matches it (media types are
    case-insensitive: `Application/JSON; charset=UTF-8` is JSON too)."""
    headers = event.get("headers") or {}
    names = [name for name in headers if str(name).lower() == "content-type"]
    if not names or _media_type(headers_of(event))[0] not in JSON_TYPES:
        return event
    kept = {name: value for name, value in headers.items() if name not in names}
    return {**event, "headers": {**kept, "content-type": "application/json"}}


def route_key_of(event: Mapping[str, Any]) -> str:
    return str(event.get("routeKey") or "")


def check(event: Mapping[str, Any], authenticate: Any) -> Checked:
    """Run the door on a raw API Gateway v2 event: the authenticated principal (None: public) and
    the JSON body read once, exactly (routes take it rather than parse it again).

    `authenticate(headers)` returns the principal for the presented key, raising `Problem`.
    """
    route_key = route_key_of(event)
    if route_key not in SCOPE_BY_ROUTE_KEY:
        raise Problem(404, f"No route {route_key}.")
    principal = authenticate(headers_of(event), SCOPE_BY_ROUTE_KEY[route_key])
    method = route_key.partition(" ")[0]
    if route_key == WEBHOOK_ROUTE:  # its raw bytes are checked by their signature, then parsed
        body = raw_body(event)
        if body:
            check_bytes(body, max_bytes=MAX_WEBHOOK_BYTES, max_depth=MAX_WEBHOOK_DEPTH)
        return Checked(principal, NO_BODY)
    if route_key == OTLP_ROUTE:  # protobuf or OTLP/JSON, maybe compressed: decoded by the route
        return Checked(principal, check_otlp_body(event))
    return Checked(principal, check_body(event) if method in BODY_METHODS else NO_BODY)
