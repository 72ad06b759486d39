"""`kill -9` of the local stack right after its last acknowledged answer loses nothing."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

ADMIN_KEY = "durability-admin-key-0123456789"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_stack(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MARGINLENS_PORT": str(port),
        "MARGINLENS_ADMIN_KEY": ADMIN_KEY,
        "MARGINLENS_DEMO": "0",
        "MARGINLENS_BUDGET_CHECK_SECONDS": "0",
    }
    command = [sys.executable, "-c", "from marginlens.cli import main; main()", "dev"]
    process = subprocess.Popen(
        command, cwd=data_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until it answers (bounded), or it died
        if process.poll() is not None:
            raise AssertionError(
                f"the stack exited: {process.stderr.read().decode() if process.stderr else ''}"
            )
        try:
            if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("the local stack did not answer within 60 s")


def test_every_acknowledged_event_survives_kill_minus_9(tmp_path: Path) -> None:
    data_dir = tmp_path
    port = free_port()
    process = start_stack(data_dir, port)
    url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    ids = [f"durable_{n}" for n in range(1000)]
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            for start in range(0, len(ids), 100):
                batch = [
                    {
                        "request_id": request_id,
                        "customer_id": "acct_durable",
                        "model": "gpt-4o-mini",
                        "prompt_tokens": 100,
                        "completion_tokens": 10,
                        "timestamp": (at - timedelta(seconds=n)).isoformat(),
                    }
                    for n, request_id in enumerate(ids[start : start + 100], start=start)
                ]
                answer = client.post("/v1/usage", json={"events": batch})
                assert answer.status_code == 200 and answer.json()["created"] == 100
        process.send_signal(signal.SIGKILL)  # right after the last acknowledged answer
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()

    process = start_stack(data_dir, port)
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            missing = [
                request_id for request_id in ids if client.get(f"/v1/usage/{request_id}").status_code != 200
            ]
            assert missing == []
            again = client.post(
                "/v1/usage",
                json={
                    "request_id": ids[0],
                    "customer_id": "acct_durable",
                    "model": "gpt-4o-mini",
                    "prompt_tokens": 100,
                    "completion_tokens": 10,
                    "timestamp": at.isoformat(),
                },
            )
            assert again.json()["results"][0]["status"] == "duplicate"
    finally:
        process.terminate()
        process.wait(timeout=30)
