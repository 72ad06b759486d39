"""The Python SDK's delivery, against a scripted HTTP server: retries and backoff, Retry-After,
what is not retried, the bounded queue, and that nothing raises into the app."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import marginlens_sdk
import pytest


@dataclass
class Received:
    at: float
    path: str
    body: Any
    headers: dict[str, str]


@dataclass
class ScriptedServer:
    """Answers each request with the next scripted (status, headers, body); then with a usage answer
    that creates every event. Records what it got."""

    script: list[tuple[int, dict[str, str], Any]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    blocklist: dict[str, Any] | None = None
    lock: threading.Condition = field(default_factory=threading.Condition)
    url: str = ""

    def answer(self, path: str, body: Any, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        with self.lock:
            self.received.append(Received(time.monotonic(), path, body, headers))
            self.lock.notify_all()
            if path.startswith("/v1/budgets/blocklist"):
                return (
                    (200, {}, self.blocklist) if self.blocklist is not None else (503, {}, {"title": "down"})
                )
            if self.script:
                return self.script.pop(0)
        events = body["events"]
        results = [
            {
                "index": n,
                "request_id": e["request_id"],
                "status": "created",
                "cost": "0.01",
                "currency": "USD",
                "price_status": "priced",
            }
            for n, e in enumerate(events)
        ]
        return (
            200,
            {},
            {"created": len(events), "duplicates": 0, "conflicts": 0, "rejected": 0, "results": results},
        )

    def wait_for(self, count: int, timeout: float = 15.0) -> None:
        with self.lock:
            assert self.lock.wait_for(lambda: len(self.received) >= count, timeout), self.received

    def usage_posts(self) -> list[Received]:
        return [r for r in self.received if r.path == "/v1/usage"]


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, headers, payload = scripted.answer(self.path, body, dict(self.headers))
            raw = json.dumps(payload).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_POST = do_GET = _reply

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    scripted.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield scripted
    httpd.shutdown()
    httpd.server_close()


def client(server: ScriptedServer, **options: Any) -> marginlens_sdk.MarginLens:
    return marginlens_sdk.MarginLens(api_key="mlk_test", url=server.url, backoff_base=0.01, **options)


def test_three_server_errors_then_success_deliver_once(server: ScriptedServer) -> None:
    server.script = [(500, {}, {"title": "boom"})] * 3
    ml = client(server)
    request_id = ml.track("acct_1", "gpt-4o-mini", 100, 10, feature="summarize")
    assert ml.flush(15)
    posts = server.usage_posts()
    assert len(posts) == 4 and all(p.body["events"][0]["request_id"] == request_id for p in posts)
    assert posts[0].headers["Authorization"] == "Bearer mlk_test"
    assert ml.stats() == {**ml.stats(), "sent": 1, "retries": 3, "rejected": 0, "dropped": 0}
    ml.close()


def test_a_429_is_retried_after_its_retry_after(server: ScriptedServer) -> None:
    server.script = [(429, {"Retry-After": "2"}, {"title": "slow down"})]
    ml = client(server)
    ml.track("acct_1", "gpt-4o-mini", 100, 10)
    assert ml.flush(15)
    first, second = server.usage_posts()
    assert second.at - first.at >= 2.0  # the server's Retry-After, not the short backoff
    assert ml.stats()["sent"] == 1 and ml.stats()["retries"] == 1
    ml.close()


def test_conflicts_and_rejections_are_reported_and_not_retried(server: ScriptedServer) -> None:
    results = [
        {"index": 0, "request_id": "r1", "status": "conflict", "cost": "0.01", "price_status": "priced"},
        {
            "index": 1,
            "request_id": "r2",
            "status": "rejected",
            "error": {"pointer": "/events/1/model", "detail": "x"},
        },
        {"index": 2, "request_id": "r3", "status": "duplicate", "cost": "0.01", "price_status": "priced"},
    ]
    server.script = [
        (200, {}, {"created": 0, "duplicates": 1, "conflicts": 1, "rejected": 1, "results": results})
    ]
    seen: list[tuple[str, dict[str, Any]]] = []
    ml = client(server, on_error=lambda kind, detail: seen.append((kind, detail)))
    for request_id in ("r1", "r2", "r3"):
        ml.track("acct_1", "gpt-4o-mini", 100, 10, request_id=request_id)
    assert ml.flush(15)
    assert len(server.usage_posts()) == 1
    stats = ml.stats()
    assert (stats["conflicts"], stats["rejected"], stats["duplicates"], stats["retries"]) == (1, 1, 1, 0)
    assert [kind for kind, _ in seen] == ["conflict", "rejected"] and seen[0][1]["request_id"] == "r1"
    ml.close()


def test_a_refused_request_is_not_retried(server: ScriptedServer) -> None:
    server.script = [(401, {}, {"title": "A valid API key is required."})]
    ml = client(server)
    ml.track("acct_1", "gpt-4o-mini", 100, 10)
    assert ml.flush(15)
    assert len(server.usage_posts()) == 1 and ml.stats()["rejected"] == 1
    ml.close()


def test_a_full_queue_drops_the_oldest_and_counts_them() -> None:
    ml = marginlens_sdk.MarginLens(
        api_key="k", url="http://127.0.0.1:9", max_queue_size=10, flush_interval=60
    )
    ids = [ml.track("acct_1", "gpt-4o-mini", n, 1) for n in range(25)]
    stats = ml.stats()
    assert stats["dropped"] >= 15  # the worker may hold one batch already: at least the rest went
    queued = [event["request_id"] for event in list(ml._queue)]
    assert queued == ids[-len(queued) :]  # what stays is the newest
    ml.close(timeout=0.1)


def test_nothing_raises_into_the_app(server: ScriptedServer) -> None:
    unreachable = marginlens_sdk.MarginLens(
        api_key="k", url="http://127.0.0.1:9", max_retries=1, backoff_base=0.01
    )
    assert unreachable.track("acct_1", "gpt-4o-mini", 1, 1) is not None
    assert unreachable.flush(10)  # given up after its retries: counted, not raised
    assert unreachable.stats()["rejected"] == 1
    ml = client(server)
    for bad in (
        lambda: ml.track(None, "m", 1, 1),
        lambda: ml.track("c", None, 1, 1),
        lambda: ml.track("c", "m", -1, 1),
        lambda: ml.track("c", "m", 1.5, 1),
        lambda: ml.track("c", "m", 1, 1, request_id="has spaces"),
        lambda: ml.track("c", "m", 1, 1, revenue_amount=0.1),
        lambda: ml.track("c", "m", 1, 1, unknown_field=True),
        lambda: ml.track_response({"not": "a response"}, customer_id="c"),
    ):
        assert bad() is None
    assert ml.stats()["invalid"] == 8
    ml.close()
    assert ml.track("acct_1", "gpt-4o-mini", 1, 1) is None  # closed: counted, never raised
    assert ml.stats()["invalid"] == 9 and ml.flush(1) and ml.close(1)


def test_the_context_gives_customer_and_feature(server: ScriptedServer) -> None:
    ml = client(server)
    with marginlens_sdk.context(customer_id="acct_ctx", feature="summarize"):
        ml.track(model="gpt-4o-mini", prompt_tokens=10, completion_tokens=1)
        with marginlens_sdk.context(feature="translate"):
            ml.track(model="gpt-4o-mini", prompt_tokens=10, completion_tokens=1)
    assert ml.flush(15)
    events = [event for post in server.usage_posts() for event in post.body["events"]]
    assert [(e["customer_id"], e["feature"]) for e in events] == [
        ("acct_ctx", "summarize"),
        ("acct_ctx", "translate"),
    ]
    ml.close()


def test_the_guard_refuses_a_blocked_feature_and_allows_it_again_when_the_list_changes(
    server: ScriptedServer,
) -> None:
    blocked = {"organization": False, "features": ["image_generation"], "customers": []}
    server.blocklist = {"version": 1, "ttl_seconds": 0, "blocked": blocked}  # 0: read again each time
    ml = client(server)
    assert ml.guard(customer_id="acct_1", feature="image_generation") is False
    assert ml.guard(customer_id="acct_1", feature="chat") is True
    with pytest.raises(marginlens_sdk.BudgetExceeded):
        ml.guarded_call(lambda: "paid for", customer_id="acct_1", feature="image_generation")
    server.blocklist = {"version": 2, "ttl_seconds": 0, "blocked": {**blocked, "features": []}}
    assert ml.guard(feature="image_generation") is True
    assert ml.guarded_call(lambda: "paid for", feature="image_generation") == "paid for"

    @ml.guarded(customer_id="acct_9")
    def call() -> str:
        return "called"

    server.blocklist = {"version": 3, "ttl_seconds": 0, "blocked": {**blocked, "customers": ["acct_9"]}}
    with pytest.raises(marginlens_sdk.BudgetExceeded):
        call()
    ml.close()


def test_the_guard_keeps_the_list_for_its_ttl(server: ScriptedServer) -> None:
    server.blocklist = {
        "version": 1,
        "ttl_seconds": 30,
        "blocked": {"organization": True, "features": [], "customers": []},
    }
    ml = client(server)
    assert ml.guard(feature="chat") is False  # the whole organization is over budget
    reads = len(server.received)
    assert ml.guard(feature="summarize") is False and len(server.received) == reads  # cached
    ml.close()


def test_the_guard_fails_open_unless_told_to_fail_closed(server: ScriptedServer) -> None:
    server.blocklist = None  # the endpoint answers 503
    assert client(server).guard(feature="image_generation") is True
    assert client(server, fail_closed=True).guard(feature="image_generation") is False
    gone = marginlens_sdk.MarginLens(api_key="k", url="http://127.0.0.1:9")
    assert gone.guard(feature="x") is True


def test_wrap_openai_records_each_call_of_the_real_client(server: ScriptedServer) -> None:
    import openai

    reply = json.loads(
        (__import__("pathlib").Path(__file__).parent / "responses" / "openai_chat.json").read_text()
    )
    server.script = [(200, {}, reply)]  # the first request the fake OpenAI sees
    ml = client(server)
    provider = marginlens_sdk.wrap_openai(openai.OpenAI(api_key="sk-test", base_url=server.url + "/v1"), ml)
    with marginlens_sdk.context(customer_id="acct_wrapped", feature="summarize"):
        answer = provider.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    assert answer.usage is not None and answer.usage.prompt_tokens == 2048
    assert ml.flush(15)
    (tracked,) = [event for post in server.usage_posts() for event in post.body["events"]]
    assert tracked["customer_id"] == "acct_wrapped" and tracked["feature"] == "summarize"
    assert (tracked["model"], tracked["prompt_tokens"], tracked["cached_tokens"]) == (
        "gpt-4o-mini-2024-07-18",
        2048,
        1536,
    )
    assert marginlens_sdk.wrap_openai(provider, ml) is provider  # wrapping twice never counts twice
    ml.close()


def test_the_asyncio_client_flushes_without_blocking_the_loop(server: ScriptedServer) -> None:
    import asyncio

    async def main() -> dict[str, int]:
        async with marginlens_sdk.AsyncMarginLens(api_key="k", url=server.url) as ml:
            ml.track("acct_1", "gpt-4o-mini", 1, 1)
            assert await ml.flush(15)
            assert await ml.guard(feature="x") is True  # fails open: the scripted server has no list
            return ml.stats()

    assert asyncio.run(main())["sent"] == 1
