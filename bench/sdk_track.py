"""How long `track()` takes on the app's thread while delivery is failing, next to a baseline.

    .venv/bin/python bench/sdk_track.py [--calls N]

The server (a local one answering 500 to every request, then 429 with Retry-After) keeps the SDK's
worker retrying; the app's thread only builds the event and queues it. Baseline in the same run:
building the same dict and appending it to a deque, what any in-process queue must do. Medians
and the 99th percentile per call; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sdk" / "python" / "src"))

import marginlens_sdk


class Failing(BaseHTTPRequestHandler):
    calls = 0

    def do_POST(self) -> None:
        Failing.calls += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status = 429 if Failing.calls % 2 else 500
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "1")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e6, ordered[int(len(ordered) * 0.99) - 1] * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    client = marginlens_sdk.MarginLens(
        api_key="bench", url=url, max_queue_size=args.calls * 2, backoff_base=0.05
    )

    queue: deque[dict[str, Any]] = deque()
    baseline, tracked = [], []
    for n in range(args.calls):
        started = time.perf_counter()
        queue.append(
            {
                "request_id": str(uuid.uuid4()),
                "customer_id": "acct_1",
                "model": "gpt-4o-mini",
                "prompt_tokens": n,
                "completion_tokens": 10,
            }
        )
        baseline.append(time.perf_counter() - started)
        started = time.perf_counter()
        client.track("acct_1", "gpt-4o-mini", n, 10, feature="summarize")
        tracked.append(time.perf_counter() - started)
    failures = Failing.calls
    client.close(timeout=0.1)
    server.shutdown()

    print(f"`track()` while the server fails ({failures} failed deliveries meanwhile), {args.calls} calls:\n")
    print("| | median (µs) | p99 (µs) |\n|---|---:|---:|")
    for label, samples in (("baseline: build the dict, append to a deque", baseline), ("`track()`", tracked)):
        median, p99 = percentiles(samples)
        print(f"| {label} | {median:.1f} | {p99:.1f} |")


if __name__ == "__main__":
    main()
