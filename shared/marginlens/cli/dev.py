"""`marginlens dev`: the whole stack on loopback with demo data (what `make run` calls).

The local stack (moto's DynamoDB engine, the gateway, the handlers) is imported only when the
command runs: the other commands talk to the HTTP API and need none of it.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.text import Text

from marginlens.cli.common import (
    TIMEOUT,
    fail,
    load_dotenv,
    print_table,
    problem_lines,
    progress_bar,
    stderr,
    stdout,
    unreachable_lines,
)
from marginlens.cli.pnl import period_title, pnl_table

DEFAULT_PORT = 8787


def register(app: typer.Typer) -> None:
    """Add `dev` to the `marginlens` app."""
    app.command("dev")(dev)


def _env_port() -> int:
    raw = os.environ.get("MARGINLENS_PORT", "").strip() or str(DEFAULT_PORT)
    try:
        port = int(raw)
    except ValueError:
        fail(f"MARGINLENS_PORT must be a port number, not {raw!r}.")
    if not 0 <= port <= 65535:
        fail(f"MARGINLENS_PORT must be between 0 and 65535, not {port}.")
    return port


def _env_flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    return raw not in ("0", "false", "no", "off")


class _Shutdown:
    """SIGINT/SIGTERM: abort start-up with KeyboardInterrupt; once serving, ask the loop to stop."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.serving = False
        self._previous: dict[signal.Signals, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested.is_set():
            return  # already stopping: let the final snapshot finish
        self.requested.set()
        if not self.serving:
            raise KeyboardInterrupt

    @contextmanager
    def installed(self) -> Iterator[_Shutdown]:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        try:
            yield self
        finally:
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)


def _seed(url: str, admin_key: str, err: Console) -> dict[str, int]:
    from marginlens.local.stack import seed_demo

    progress = progress_bar(err)
    with progress:
        task = progress.add_task("Seeding the demo's story", total=None)

        def report(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            return seed_demo(url, admin_key, progress=report)
        except httpx.HTTPStatusError as error:
            fail("Seeding the demo data failed.", *problem_lines(error.response))
        except httpx.TransportError as error:
            fail("Seeding the demo data failed.", *unreachable_lines(url, error))


def _print_welcome(out: Console, url: str, story: str) -> None:
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    example = json.dumps(
        {
            "customer_id": "acct_123",
            "model": "gpt-4o-mini",
            "prompt_tokens": 120,
            "completion_tokens": 80,
            "request_id": f"req_{secrets.token_hex(6)}",
            "timestamp": now,
        },
        separators=(",", ":"),
    )
    out.print()
    out.print(Text.assemble(("API:  ", "bold"), f"{url}/v1"))
    out.print(Text.assemble(("Docs: ", "bold"), f"{url}/docs"))
    out.print(Text.assemble(("Dashboard: ", "bold"), f"{url}/dashboard"))
    out.print(Text(f"  the demo's story month: {url}/dashboard/index.html#/overview?month={story}"))
    out.print()
    out.print(Text("Send one usage event (an admin key holds every scope; use an ingest key in apps):"))
    out.print(
        Text(
            f"  curl -sS -X POST {url}/v1/usage \\\n"
            '    -H "Authorization: Bearer $MARGINLENS_ADMIN_KEY" \\\n'
            '    -H "Content-Type: application/json" \\\n'
            f"    -d '{example}'"
        )
    )
    cli = f'marginlens --url {url} --api-key "$MARGINLENS_ADMIN_KEY"'
    out.print(Text("The CLI against this stack, on the demo's story month:"))
    out.print(Text(f"  {cli} pnl --month {story}"))
    out.print(Text("What a cheaper model would give back to the customer losing money:"))
    out.print(Text(f"  {cli} recommend --customer plexo --month {story}"))
    out.print(Text("The summaries on gpt-5 instead of gpt-4.1:"))
    out.print(Text(f"  {cli} simulate --month {story} --feature summarize --to gpt-5"))
    out.print()


def _print_demo_pnl(out: Console, err: Console, url: str, admin_key: str, story: str) -> None:
    from marginlens.local.demo import CUSTOMERS

    display = {customer.customer_id: customer.name for customer in CUSTOMERS}
    try:
        response = httpx.get(
            f"{url}/v1/pnl",
            params={"month": story},
            headers={"Authorization": f"Bearer {admin_key}"},
            timeout=TIMEOUT,
        )
    except httpx.TransportError as error:
        err.print(Text("\n".join(["Could not fetch the P&L.", *unreachable_lines(url, error)]), style="red"))
        return
    if response.is_error:
        err.print(Text("\n".join(["Could not fetch the P&L.", *problem_lines(response)]), style="red"))
        return
    body = response.json()
    if not body.get("customers"):
        out.print(Text(f"No usage in {story} yet (MARGINLENS_DEMO=1 seeds the demo's story)."))
        return

    def label(row: dict[str, Any]) -> str:
        customer_id = str(row.get("customer_id"))
        return display.get(customer_id) or str(row.get("name") or customer_id)

    print_table(out, pnl_table(body, title=f"{period_title(body)}: the demo's story month", label=label))


def _print_seeded(out: Console, counts: dict[str, int]) -> None:
    out.print(
        Text(
            f"Demo data: {counts['created']} created, {counts['duplicates']} duplicates, "
            f"{counts['conflicts']} conflicts, {counts['rejected']} rejected"
        )
    )
    stripe = counts.get("stripe_applied", 0) + counts.get("stripe_duplicates", 0)
    pushed = sum(value for name, value in counts.items() if name.startswith("revenue_"))
    budget = "unchanged" if counts.get("budget_unchanged") else "set"
    out.print(
        Text(
            f"Demo revenue: {stripe} Stripe webhooks ({counts.get('stripe_applied', 0)} new), "
            f"{pushed} pushed ({counts.get('revenue_created', 0) + counts.get('revenue_updated', 0)} new); "
            f"budget {budget}"
        )
    )


def _demo_webhook_secret() -> None:
    """The demo's invoices arrive as signed Stripe webhooks: without a secret of the user's (.env,
    `stripe listen --print-secret`), the stack gets one for this run."""
    configured = ("STRIPE_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET_NAME")
    if not any(os.environ.get(name, "").strip() for name in configured):
        os.environ["STRIPE_WEBHOOK_SECRET"] = "whsec_" + secrets.token_hex(24)


def dev() -> None:
    """Run the whole stack on loopback, with demo data (what `make run` calls); Ctrl-C stops it.

    Reads .env; MARGINLENS_PORT (default 8787), MARGINLENS_ADMIN_KEY (unset: one is generated and
    shown once), MARGINLENS_DEMO (default 1; 0 skips the demo data), STRIPE_WEBHOOK_SECRET (unset:
    one is generated for the run, to sign the demo's invoices). Data is kept in .marginlens/.
    """
    load_dotenv()
    port = _env_port()
    admin_key = os.environ.get("MARGINLENS_ADMIN_KEY", "").strip() or None
    demo = _env_flag("MARGINLENS_DEMO", default=True)
    warnings.filterwarnings("ignore", message="No application metrics to publish")

    from marginlens.core.observability import logger
    from marginlens.local.demo import story_month
    from marginlens.local.stack import DATA_DIR, LocalStack, StackError

    out, err = stdout(), stderr()
    if demo:
        _demo_webhook_secret()
    stack = LocalStack(port=port, admin_key=admin_key)
    log_level = logger.log_level
    interrupted = False
    with _Shutdown().installed() as shutdown:
        try:
            logger.setLevel(logging.WARNING)  # no per-event log lines while the demo is seeded
            try:
                url = stack.start()
            except OSError as error:
                fail(
                    f"Could not listen on 127.0.0.1:{port}: {error.strerror or error}.",
                    "Is MarginLens already running? Stop it, or set MARGINLENS_PORT to another port.",
                )
            except (StackError, ValueError, RuntimeError) as error:
                fail(f"Could not start the local stack: {error}")
            key = stack.admin_key or ""
            out.print(Text(f"Local stack on {url} (data in {DATA_DIR}/)"))
            if stack.admin_key_generated:
                out.print(Text(f">>> ADMIN KEY (generated, shown once): {key}", style="bold yellow"))
                out.print(Text("    Put it in .env as MARGINLENS_ADMIN_KEY=... to keep it across restarts."))
            if demo:
                _print_seeded(out, _seed(url, key, err))
            story = f"{story_month(datetime.now(UTC)):%Y-%m}"
            _print_welcome(out, url, story)
            _print_demo_pnl(out, err, url, key, story)
            logger.setLevel(log_level)
            shutdown.serving = True
            out.print(Text(f"MarginLens is ready on {url}/v1 (Ctrl-C to stop)", style="bold green"))
            sys.stdout.flush()
            while not shutdown.requested.wait(0.5):
                pass
        except KeyboardInterrupt:
            interrupted = not shutdown.serving
        finally:
            shutdown.requested.set()
            if stack.url:
                err.print(Text("Stopping..."))
            stack.stop()  # also after a partial start: the engine may be up without the gateway
            logger.setLevel(log_level)
    out.print(Text(f"Stopped; data saved in {DATA_DIR}/."))
    if interrupted:
        raise typer.Exit(130)
