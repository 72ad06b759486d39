"""stripe-mock for tests: started on a loopback port the OS picks, stopped on exit.

    from tests.stripe_mock import stripe_mock_server

    @pytest.fixture(scope="module")
    def stripe_mock_url() -> Iterator[str]:
        with stripe_mock_server() as url:  # "http://127.0.0.1:<port>"
            yield url

The binary comes from `scripts/install-stripe-mock.sh` (`.tools/bin/stripe-mock`), or
`$STRIPE_MOCK_BIN`, or PATH. A missing binary *fails* the test with the install command, so CI cannot
pass by silently skipping; `MARGINLENS_SKIP_STRIPE_MOCK=1` turns that into a skip for machines
without Go.

Listening: `-http-port N` binds every interface and needs a port chosen in advance (a race with
parallel workers), so the server gets `-http-addr 127.0.0.1:0` and reports the port the OS chose
on stdout ("Listening for HTTP at address: 127.0.0.1:41234"). `-https-addr 127.0.0.1:0` too:
stripe-mock v0.203.0 turns its default HTTPS listener (all interfaces, port 12112) off for
`-http-port` but not for `-http-addr`, and a second instance would then fail on 12112.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parent.parent
INSTALL_COMMAND = "scripts/install-stripe-mock.sh"
LOCAL_BINARY = ROOT / ".tools" / "bin" / "stripe-mock"
SKIP_ENV = "MARGINLENS_SKIP_STRIPE_MOCK"
# Any key of the right shape: stripe-mock checks the form, not the value.
API_KEY = "sk_test_123"

_LISTENING = re.compile(r"Listening for HTTP at address: (\S+):(\d+)")


def find_binary() -> Path | None:
    """`$STRIPE_MOCK_BIN`, else `.tools/bin/stripe-mock`, else `stripe-mock` on PATH."""
    configured = os.environ.get("STRIPE_MOCK_BIN")
    if configured:
        return Path(configured)
    if LOCAL_BINARY.is_file():
        return LOCAL_BINARY
    on_path = shutil.which("stripe-mock")
    return Path(on_path) if on_path else None


def require_binary() -> Path:
    """The binary, or fail the test with the install command (skip with MARGINLENS_SKIP_STRIPE_MOCK=1)."""
    binary = find_binary()
    if binary is not None and os.access(binary, os.X_OK):
        return binary
    message = (
        f"stripe-mock not found ({binary or LOCAL_BINARY} is missing or not executable). "
        f"Install it with `{INSTALL_COMMAND}` (needs Go and the Go module proxy), "
        f"or set {SKIP_ENV}=1 to skip the tests that need it."
    )
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


def _pump(stream: Iterable[str], lines: queue.Queue[str | None], log: list[str]) -> None:
    """Read the server's output until it exits (so the pipe never fills), forwarding every line."""
    for line in stream:
        log.append(line.rstrip())
        lines.put(line)
    lines.put(None)


def _answers(url: str, timeout: float) -> bool:
    request = urllib.request.Request(f"{url}/v1/balance", headers={"Authorization": f"Bearer {API_KEY}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True  # an HTTP answer, even an error, means it is serving
    except OSError:
        return False


@contextmanager
def stripe_mock_server(*, startup_timeout: float = 30.0, verbose: bool = False) -> Iterator[str]:
    """Run stripe-mock on 127.0.0.1 and yield its base URL; terminate it on exit.

    Waits, up to `startup_timeout` seconds in all, for the "Listening" line and then for an HTTP
    answer; fails with the server's output if it exits or does not answer in time.
    """
    binary = require_binary()
    command = [str(binary), "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0"]
    if verbose:
        command.append("-verbose")
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "PORT"},  # PORT would change its defaults
    )
    assert process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    log: list[str] = []
    pump = threading.Thread(target=_pump, args=(process.stdout, lines, log), daemon=True)
    pump.start()
    deadline = time.monotonic() + startup_timeout

    def give_up(reason: str) -> NoReturn:
        pytest.fail(f"stripe-mock {reason}; its output:\n" + "\n".join(log), pytrace=False)

    try:
        url = None
        while url is None:
            try:
                line = lines.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                give_up(f"printed no HTTP address within {startup_timeout:g}s")
            if line is None:
                give_up(f"exited with status {process.wait()} before listening")
            match = _LISTENING.search(line or "")
            if match:
                url = f"http://{match.group(1)}:{match.group(2)}"
        while not _answers(url, timeout=max(min(deadline - time.monotonic(), 2.0), 0.1)):
            if time.monotonic() >= deadline:
                give_up(f"did not answer at {url} within {startup_timeout:g}s")
            try:
                status = process.wait(timeout=0.05)  # the poll interval, and an exit check
            except subprocess.TimeoutExpired:
                continue
            give_up(f"exited with status {status} at {url}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        pump.join(timeout=5)
        process.stdout.close()
