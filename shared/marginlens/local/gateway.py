"""A local stand-in for API Gateway (HTTP API): real HTTP in, the same v2 events the Lambdas get on AWS.

Routing comes from `marginlens.api.routes`, the table the CDK stack is built from, so a route that
works here is a route that exists there.
"""

from __future__ import annotations

import base64
import importlib
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from marginlens.api.routes import FUNCTIONS, Function, find_route
from marginlens.core.observability import metrics

PROJECT_ROOT = Path(__file__).resolve().parents[3]
LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
TEXT_TYPES = ("application/json", "application/problem+json", "text/", "application/x-www-form-urlencoded")


@dataclass
class LambdaContext:
    """The attributes Powertools reads from a Lambda context."""

    function_name: str
    memory_limit_in_mb: int
    timeout_s: int
    aws_request_id: str
    invoked_function_arn: str = ""
    function_version: str = "$LATEST"
    log_group_name: str = "local"
    log_stream_name: str = "local"

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_handler(function: Function) -> LambdaHandler:
    if str(PROJECT_ROOT) not in sys.path:  # `functions/` lives at the project root, beside `shared/`
        sys.path.insert(0, str(PROJECT_ROOT))
    module_name, attribute = function.handler.rsplit(".", 1)
    handler: LambdaHandler = getattr(importlib.import_module(module_name), attribute)
    return handler


def build_event(
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes,
    source_ip: str = "127.0.0.1",
) -> tuple[dict[str, Any], Function | None]:
    """The API Gateway HTTP API payload (format 2.0) for one request, and the function it goes to."""
    split = urlsplit(target)
    path = split.path or "/"
    found = find_route(method, path)
    query: dict[str, list[str]] = {}
    for name, value in parse_qsl(split.query, keep_blank_values=True):
        query.setdefault(name, []).append(value)
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        lowered[key] = f"{lowered[key]},{value}" if key in lowered else value
    content_type = lowered.get("content-type", "")
    is_text = not body or any(content_type.startswith(kind) for kind in TEXT_TYPES)
    if is_text:
        try:
            body_text, encoded = body.decode("utf-8"), False
        except UnicodeDecodeError:
            body_text, encoded = base64.b64encode(body).decode(), True
    else:
        body_text, encoded = base64.b64encode(body).decode(), True
    now = datetime.now(UTC)
    route_key = found[0].route_key if found else "$default"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": split.query,
        "headers": lowered,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": lowered.get("host", "localhost"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": encoded,
    }
    if "cookie" in lowered:
        event["cookies"] = [cookie.strip() for cookie in lowered["cookie"].split(";")]
    if query:
        event["queryStringParameters"] = {name: ",".join(values) for name, values in query.items()}
    if found and found[1]:
        event["pathParameters"] = found[1]
    if body:
        event["body"] = body_text
    return event, found[0].function if found else None


# API Gateway's HTTP API quotas: the request line and headers, and the payload.
MAX_HEADER_BYTES = 10_240
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024


class LocalGateway:
    def __init__(self, handlers: dict[str, LambdaHandler] | None = None) -> None:
        self.handlers = handlers or {function.name: load_handler(function) for function in FUNCTIONS}
        self.functions = {function.name: function for function in FUNCTIONS}
        # One warm container per function: like Lambda, a handler (and its Powertools resolver, which
        # keeps the current request on itself) serves one request at a time.
        self.containers = {function.name: threading.Lock() for function in FUNCTIONS}

    def invoke(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        event, function = build_event(method, target, headers, body)
        if function is None:  # what API Gateway itself answers for a route it does not have
            return 404, {"content-type": "application/json"}, b'{"message":"Not Found"}'
        context = LambdaContext(
            function.name, function.memory_mb, function.timeout_s, event["requestContext"]["requestId"]
        )
        try:
            with self.containers[function.name]:
                result = self.handlers[function.name](event, context)
        finally:
            # With POWERTOOLS_METRICS_DISABLED, flushing neither prints nor clears: drop them as Lambda would.
            metrics.clear_metrics()
        response_headers = {name.lower(): str(value) for name, value in (result.get("headers") or {}).items()}
        raw = result.get("body") or ""
        payload = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
        if result.get("cookies"):
            response_headers["set-cookie"] = "; ".join(result["cookies"])
        response_headers["apigw-requestid"] = event["requestContext"]["requestId"]
        return int(result.get("statusCode", 200)), response_headers, payload


class _RequestHandler(BaseHTTPRequestHandler):
    gateway: LocalGateway
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: avoid a 40 ms stall

    def _serve(self) -> None:
        header_bytes = sum(len(name) + len(value) for name, value in self.headers.items())
        if header_bytes > MAX_HEADER_BYTES:  # API Gateway's quota on the request line and headers
            self.send_error(431)
            return
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_PAYLOAD_BYTES:
            self.send_error(413)
            return
        body = self.rfile.read(length) if length else b""
        try:
            status, headers, payload = self.gateway.invoke(
                self.command, self.path, dict(self.headers.items()), body
            )
        except Exception as error:  # what API Gateway does when the function itself crashes
            status, headers = 500, {"content-type": "application/json"}
            payload = json.dumps({"message": "Internal Server Error", "error": type(error).__name__}).encode()
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (e.g. Ctrl-C): nothing to tell it

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What API Gateway answers, JSON `{"message": ...}`, instead of http.server's HTML: a method
        no route has is API Gateway's 404 (not 501), an oversized header its 431."""
        status = 404 if code == HTTPStatus.NOT_IMPLEMENTED else code
        phrase = HTTPStatus(status).phrase
        payload = json.dumps({"message": phrase}).encode()
        try:
            self.send_response(status, phrase)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.send_header("connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the functions log each request themselves, as structured JSON


class GatewayServer:
    """The gateway on a loopback port, served from a background thread."""

    def __init__(self, gateway: LocalGateway, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = type("Handler", (_RequestHandler,), {"gateway": gateway})
        server_type = type("Server", (ThreadingHTTPServer,), {"request_queue_size": 128})  # bursts of clients
        self.server = server_type((host, port), handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="gateway", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
