"""`marginlens`: the command line for the MarginLens HTTP API, and `marginlens dev` (`make run`).

Every command except `dev` talks to the public HTTP API only (see API.md), so it works the same
against the local stack and a deployment on AWS. Amounts are printed exactly as the API sends them
(decimal strings); they never pass through a float.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from http import HTTPStatus
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, NoReturn
from urllib.parse import quote

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from marginlens import (
    __version__,
    cli_budgets,
    cli_prices,
    cli_reprice,
    cli_revenue,
    cli_simulator,
    cli_stripe,
)

DEFAULT_URL = "http://127.0.0.1:8787"
DEFAULT_PORT = 8787
TIMEOUT = httpx.Timeout(60.0, connect=5.0)
BATCH_SIZE = 100  # the API's maximum batch
RETRY_BASE_S = 0.5
RETRY_MAX_S = 10.0
NONE = "-"

app = typer.Typer(
    name="marginlens",
    help="MarginLens: per-customer AI P&L. Talks to the HTTP API; `dev` runs the local stack.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold API keys
)
keys_app = typer.Typer(help="Create, list and revoke API keys (needs an admin key).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(cli_prices.prices_app, name="prices")
app.add_typer(cli_revenue.customers_app, name="customers")
app.add_typer(cli_revenue.revenue_app, name="revenue")
app.add_typer(cli_stripe.stripe_app, name="stripe")
app.add_typer(cli_budgets.budgets_app, name="budgets")
app.add_typer(cli_budgets.alerts_app, name="alerts")
app.add_typer(cli_simulator.quality_app, name="quality")
cli_reprice.register(app)
cli_simulator.register(app)


# --- plumbing ---------------------------------------------------------------------------------


def _out() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def fail(*lines: str, code: int = 1) -> NoReturn:
    """Print an error (first line in red) to stderr and exit."""
    err = _err()
    for number, line in enumerate(lines):
        err.print(Text(line, style="bold red" if number == 0 else ""))
    raise typer.Exit(code)


def print_table(console: Console, table: Table) -> None:
    """A table; when not on a terminal, as wide as it needs so no cell (no amount) is ever folded."""
    if console.is_terminal:
        console.print(table)
        return
    natural = console.measure(table, options=console.options.update_width(10_000)).maximum
    if natural > console.width:
        console.width = natural  # print(width=...) can only narrow
    console.print(table)


def _load_dotenv() -> None:
    """`.env` from the current directory; variables already in the environment win."""
    from dotenv import load_dotenv

    path = Path.cwd() / ".env"
    if path.is_file():
        load_dotenv(path, override=False)


def problem_lines(response: httpx.Response) -> list[str]:
    """An error answer, readably: status and title, detail, then each `pointer: detail`."""
    status = response.status_code
    try:
        reason = response.reason_phrase or HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    lines: list[str]
    if isinstance(body, dict) and ("title" in body or "detail" in body):
        lines = [f"Error {status}: {body.get('title') or reason}"]
        if body.get("detail"):
            lines.append(str(body["detail"]))
        for error in body.get("errors") or []:
            if isinstance(error, dict):
                pointer = error.get("pointer") or "(body)"
                lines.append(f"  {pointer}: {error.get('detail', '')}")
    elif isinstance(body, dict) and "message" in body:
        lines = [f"Error {status}: {reason}", str(body["message"])]
    else:
        lines = [f"Error {status}: {reason}"]
        text = response.text.strip()
        if text:
            lines.append(text[:500])
    if status == 401:
        lines.append("Check --api-key (or MARGINLENS_API_KEY).")
    return lines


def unreachable_lines(url: str, error: httpx.TransportError) -> list[str]:
    if isinstance(error, httpx.ConnectError):
        cause = "connection refused" if "refused" in str(error).lower() else str(error) or "cannot connect"
        return [
            f"Could not reach MarginLens at {url} ({cause}).",
            "Is the API running? Start the local stack with `make run`, "
            "or point --url (MARGINLENS_URL) at your deployment.",
        ]
    if isinstance(error, httpx.TimeoutException):
        return [f"MarginLens at {url} did not answer in time ({type(error).__name__})."]
    return [f"Could not talk to MarginLens at {url}: {type(error).__name__}: {error}"]


@dataclass(frozen=True)
class ApiConfig:
    url: str
    api_key: str | None

    def client(self) -> httpx.Client:
        if not self.api_key:
            fail("No API key.", "Pass --api-key or set MARGINLENS_API_KEY (in the environment or in .env).")
        headers = {
            "Authorization": f"Bearer {self.api_key}",
            "Accept": "application/json",
            "User-Agent": f"marginlens-cli/{__version__}",
        }
        return httpx.Client(base_url=self.url, headers=headers, timeout=TIMEOUT)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; an error answer or an unreachable API ends the command with exit code 1."""
        with self.client() as client:
            try:
                response = client.request(method, path, **kwargs)
            except httpx.TransportError as error:
                fail(*unreachable_lines(self.url, error))
        if response.is_error:
            fail(*problem_lines(response))
        return response

    def answer(self, method: str, path: str, *, as_json: bool, **kwargs: Any) -> Any:
        """The API's JSON answer; with `as_json` it is printed as sent instead, and None returned."""
        response = self.call(method, path, **kwargs)
        if as_json:
            typer.echo(response.text)
            return None
        return response.json()


def _config(ctx: typer.Context) -> ApiConfig:
    config = ctx.find_object(ApiConfig)
    if config is None:  # a command invoked without the root callback
        return ApiConfig(DEFAULT_URL, None)
    return config


@app.callback()
def root(
    ctx: typer.Context,
    url: Annotated[
        str,
        typer.Option("--url", envvar="MARGINLENS_URL", help="Base URL of the MarginLens API."),
    ] = DEFAULT_URL,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", envvar="MARGINLENS_API_KEY", help="API key.", show_default=False),
    ] = None,
) -> None:
    base = (url or DEFAULT_URL).strip().rstrip("/")
    base = base.removesuffix("/v1")  # the URL `dev` prints as the API URL works too
    ctx.obj = ApiConfig(base, (api_key or "").strip() or None)


# --- keys -------------------------------------------------------------------------------------


class KeyScope(StrEnum):
    ingest = "ingest"
    read = "read"
    admin = "admin"


JsonFlag = Annotated[bool, typer.Option("--json", help="Print the API's JSON answer as is.")]


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    scope: Annotated[KeyScope, typer.Option("--scope", help="What the key may do.", case_sensitive=False)],
    name: Annotated[str, typer.Option("--name", help="A label, e.g. the app that uses the key.")],
    as_json: JsonFlag = False,
) -> None:
    """Create an API key. The key is shown once, here: store it now."""
    body = _config(ctx).answer("POST", "/v1/keys", json={"scope": scope.value, "name": name}, as_json=as_json)
    if body is None:
        return
    out = _out()
    out.print(Text(f"Created {body.get('scope')} key {body.get('name')!r}"))
    out.print(Text(f"  id {body.get('id')}, prefix {body.get('prefix')}"))
    out.print(Text("The key is shown only this once; store it now:", style="bold yellow"))
    out.print(Text(str(body.get("key"))))


@keys_app.command("list")
def keys_list(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List API keys (never the keys themselves)."""
    answer = _config(ctx).answer("GET", "/v1/keys", as_json=as_json)
    if answer is None:
        return
    rows = answer.get("data", [])
    table = Table(title=f"API keys ({len(rows)})")
    for column in ("id", "name", "scope", "prefix", "created", "last used", "revoked"):
        table.add_column(column, no_wrap=column in ("id", "prefix"))
    for row in rows:
        table.add_row(
            str(row.get("id")),
            str(row.get("name")),
            str(row.get("scope")),
            str(row.get("prefix")),
            str(row.get("created_at") or NONE),
            str(row.get("last_used_at") or NONE),
            Text(str(row.get("revoked_at")), style="red") if row.get("revoked_at") else NONE,
        )
    print_table(_out(), table)


@keys_app.command("revoke")
def keys_revoke(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="The key's id (`key_...`), from `keys list`.")],
    as_json: JsonFlag = False,
) -> None:
    """Revoke an API key: refused everywhere within 60 seconds."""
    body = _config(ctx).answer("DELETE", f"/v1/keys/{quote(key_id, safe='')}", as_json=as_json)
    if body is None:
        return
    _out().print(
        Text(
            f"Revoked key {body.get('id')} ({body.get('scope')}, {body.get('name')!r}) "
            f"at {body.get('revoked_at')}; it is refused everywhere within 60 seconds."
        )
    )


# --- replay -----------------------------------------------------------------------------------


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads_exact(text: str) -> Any:
    """JSON with every non-integer number as an exact Decimal (NaN / Infinity refused)."""
    return json.loads(text, parse_float=Decimal, parse_constant=_no_constants)


def dumps_exact(value: Any) -> str:
    """JSON text in which a Decimal is written digit for digit, never through a float."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a JSON number")
        return str(value)
    if isinstance(value, dict):
        members = (f"{json.dumps(str(key))}:{dumps_exact(item)}" for key, item in value.items())
        return "{" + ",".join(members) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps_exact(item) for item in value) + "]"
    if isinstance(value, float):
        raise TypeError("floats are not written: parse numbers with parse_float=Decimal")
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class Entry:
    """One event read from the file, and where it was: `line 12` (JSON lines) or `index 3` (array)."""

    order: int
    where: str
    event: Any


@dataclass(frozen=True)
class Finding:
    order: int
    where: str
    request_id: str | None
    status: str
    pointer: str
    detail: str


@dataclass
class Tally:
    created: int = 0
    duplicate: int = 0
    conflict: int = 0
    rejected: int = 0
    unpriced: int = 0
    findings: list[Finding] = field(default_factory=list)
    cost: dict[str, Decimal] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.created + self.duplicate + self.conflict + self.rejected


class InputError(Exception):
    pass


class ReplayAborted(Exception):
    def __init__(self, lines: Sequence[str]) -> None:
        super().__init__(lines[0] if lines else "replay aborted")
        self.lines = list(lines)


_REQUEST_ID = re.compile(r'"request_id"\s*:\s*"([^"\\]{1,128})"')


def parse_events(text: str) -> tuple[list[Entry], list[Finding]]:
    """Events from a JSON array, a `{"events": [...]}` request body or JSON lines.

    A line of JSON lines that is not JSON becomes a rejected finding (and is not sent).
    """
    start = text.lstrip()[:1]
    if start == "[":
        try:
            data = loads_exact(text)
        except ValueError as error:
            raise InputError(f"not a valid JSON array: {error}") from error
        if not isinstance(data, list):
            raise InputError("expected a JSON array of events")
        return [Entry(index, f"index {index}", event) for index, event in enumerate(data)], []
    if start == "{":
        try:
            whole = loads_exact(text)
        except ValueError:
            whole = None  # JSON lines (or not JSON at all): read line by line
        if isinstance(whole, dict) and set(whole) == {"events"} and isinstance(whole["events"], list):
            return [Entry(index, f"index {index}", event) for index, event in enumerate(whole["events"])], []
    entries: list[Entry] = []
    findings: list[Finding] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(Entry(number, f"line {number}", loads_exact(line)))
        except ValueError as error:
            reason = (
                f"{error.msg} at column {error.colno}" if isinstance(error, json.JSONDecodeError) else error
            )
            guessed = _REQUEST_ID.search(line)
            findings.append(
                Finding(
                    number,
                    f"line {number}",
                    guessed.group(1) if guessed else None,
                    "rejected",
                    "",
                    f"not valid JSON ({reason}); not sent",
                )
            )
    return entries, findings


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


def post_batch(
    client: httpx.Client, url: str, body: bytes, attempts: int, note: Callable[[str], None]
) -> httpx.Response:
    """POST one batch; connection errors, 429 and 5xx are retried with bounded exponential backoff.

    Safe because ingestion is idempotent by request_id: events a failed attempt did write come
    back as `duplicate` on the next one.
    """
    for attempt in range(1, attempts + 1):
        wait: float | None = None
        try:
            response = client.post("/v1/usage", content=body, headers={"Content-Type": "application/json"})
        except httpx.TransportError as error:
            failure = unreachable_lines(url, error)
        else:
            if response.status_code != 429 and response.status_code < 500:
                return response
            failure = problem_lines(response)
            wait = _retry_after(response)
        if attempt == attempts:
            raise ReplayAborted([*failure, f"Gave up after {attempts} attempts."])
        delay = min(RETRY_MAX_S, RETRY_BASE_S * 2 ** (attempt - 1))
        if wait is not None:
            delay = min(RETRY_MAX_S, max(delay, wait))
        note(f"{failure[0]} Retrying in {delay:.1f}s (attempt {attempt + 1} of {attempts}).")
        time.sleep(delay)
    raise AssertionError("unreachable")


def _event_pointer(pointer: str, index: int) -> str:
    """`/events/7/prompt_tokens` -> `/prompt_tokens`: the pointer inside the event as it is in the file."""
    prefix = f"/events/{index}"
    if pointer == prefix:
        return ""
    if pointer.startswith(prefix + "/"):
        return pointer[len(prefix) :]
    return pointer


def apply_results(tally: Tally, batch: Sequence[Entry], body: dict[str, Any]) -> None:
    results = body.get("results")
    if not isinstance(results, list):  # not per-event: trust the counts
        tally.created += int(body.get("created", 0))
        tally.duplicate += int(body.get("duplicates", 0))
        tally.conflict += int(body.get("conflicts", 0))
        tally.rejected += int(body.get("rejected", 0))
        return
    for position, result in enumerate(results):
        index = result.get("index", position)
        entry = batch[index] if isinstance(index, int) and 0 <= index < len(batch) else batch[position]
        status = result.get("status")
        request_id = result.get("request_id")
        if status == "created":
            tally.created += 1
            if result.get("price_status") == "unpriced":
                tally.unpriced += 1
            if result.get("cost") is not None:
                currency = str(result.get("currency") or "USD")
                tally.cost[currency] = tally.cost.get(currency, Decimal(0)) + Decimal(str(result["cost"]))
        elif status == "duplicate":
            tally.duplicate += 1
        elif status == "conflict":
            tally.conflict += 1
            tally.findings.append(
                Finding(
                    entry.order,
                    entry.where,
                    request_id,
                    "conflict",
                    "",
                    "this request_id was already recorded with different content; nothing changed",
                )
            )
        else:
            tally.rejected += 1
            error = result.get("error") or {}
            tally.findings.append(
                Finding(
                    entry.order,
                    entry.where,
                    request_id,
                    "rejected",
                    _event_pointer(str(error.get("pointer", "")), index),
                    str(error.get("detail", "rejected")),
                )
            )


def _read_source(file: str) -> str:
    if file == "-":
        data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
    else:
        try:
            data = Path(file).read_bytes()
        except OSError as error:
            fail(f"Cannot read {file}: {error.strerror or error}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        fail(f"{file} is not UTF-8 text: {error}")


def _print_replay_summary(tally: Tally, source: str) -> None:
    out = _out()
    summary = Table(title=f"Replay of {source}")
    summary.add_column("result")
    summary.add_column("events", justify="right")
    for label, count in (
        ("created", tally.created),
        ("duplicate", tally.duplicate),
        ("conflict", tally.conflict),
        ("rejected", tally.rejected),
    ):
        style = "red" if label in ("conflict", "rejected") and count else ""
        summary.add_row(label, Text(str(count), style=style))
    summary.add_section()
    summary.add_row("total", str(tally.total))
    print_table(out, summary)
    if tally.cost:
        costs = ", ".join(f"{amount:f} {currency}" for currency, amount in sorted(tally.cost.items()))
        unpriced = f" ({tally.unpriced} unpriced, not included)" if tally.unpriced else ""
        out.print(Text(f"Cost of the events created: {costs}{unpriced}"))
    if tally.findings:
        table = Table(title="Rejected or conflicting events")
        for column in ("where", "request_id", "status", "pointer", "detail"):
            table.add_column(column, no_wrap=column != "detail")
        for finding in sorted(tally.findings, key=lambda item: item.order):
            table.add_row(
                finding.where,
                finding.request_id or NONE,
                Text(finding.status, style="red"),
                finding.pointer or NONE,
                finding.detail,
            )
        print_table(out, table)


@app.command()
def replay(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="A JSON array of events, or JSON lines; `-` reads stdin.")],
    retries: Annotated[
        int,
        typer.Option("--retries", min=0, max=10, help="Retries per batch on connection errors, 429, 5xx."),
    ] = 4,
) -> None:
    """Send usage events from a file to POST /v1/usage, in batches of 100 (idempotent: safe to re-run).

    Exit code 0 if every event was created or a duplicate, 2 if any was rejected or conflicting.
    """
    config = _config(ctx)
    source = "stdin" if file == "-" else file
    try:
        entries, findings = parse_events(_read_source(file))
    except InputError as error:
        fail(f"{source}: {error}")
    tally = Tally(rejected=len(findings), findings=list(findings))
    err = _err()
    aborted: ReplayAborted | None = None
    with config.client() as client:
        progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
        )
        with progress:
            task = progress.add_task("Replaying", total=len(entries))
            for start in range(0, len(entries), BATCH_SIZE):
                batch = entries[start : start + BATCH_SIZE]
                body = ('{"events":' + dumps_exact([entry.event for entry in batch]) + "}").encode()
                try:
                    response = post_batch(
                        client, config.url, body, retries + 1, lambda line: progress.console.print(Text(line))
                    )
                except ReplayAborted as error:
                    aborted = error
                    break
                payload = _json_or_none(response)
                accepted = response.status_code == 200 or (
                    response.status_code == 422
                    and isinstance(payload, dict)
                    and isinstance(payload.get("results"), list)
                )
                if not accepted or not isinstance(payload, dict):
                    aborted = ReplayAborted(problem_lines(response))
                    break
                apply_results(tally, batch, payload)
                progress.advance(task, len(batch))
    _print_replay_summary(tally, source)
    if aborted is not None:
        sent = tally.total - len(findings)
        fail(*aborted.lines, f"Stopped after {sent} of {len(entries)} events; re-running is safe.")
    if tally.rejected or tally.conflict:
        raise typer.Exit(2)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


# --- P&L --------------------------------------------------------------------------------------

_ACTION_STYLES = {"reprice_or_throttle": "bold red", "monitor": "yellow", "healthy": "green"}


def _money(value: Any) -> Text:
    text = NONE if value is None else str(value)
    return Text(text, style="red" if text.startswith("-") else "")


def _pct(value: Any) -> Text:
    return Text("n/a") if value is None else _money(value)  # null: no revenue, margin % undefined


def pnl_table(
    body: dict[str, Any],
    *,
    title: str,
    label: Callable[[dict[str, Any]], str] | None = None,
) -> Table:
    """The P&L as the API answered it. With `label`, one customer column (dev); else id + name."""
    detailed = label is None
    table = Table(title=title)
    table.add_column("customer", no_wrap=True)
    if detailed:
        table.add_column("name")
    for column in ("revenue", "cost", "margin", "margin %", "events", "unpriced"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("action", no_wrap=True)
    if detailed:
        table.add_column("negative months", justify="right")
    for row in body.get("customers", []):
        action = str(row.get("action", ""))
        cells: list[str | Text] = [label(row) if label else str(row.get("customer_id"))]
        if detailed:
            cells.append(str(row.get("name") or ""))
        cells += [
            _money(row.get("revenue")),
            _money(row.get("cost")),
            _money(row.get("margin")),
            _pct(row.get("margin_pct")),
            str(row.get("events", "")),
            str(row.get("unpriced_events", "")),
            Text(action, style=_ACTION_STYLES.get(action, "")),
        ]
        if detailed:
            cells.append(str(row.get("negative_margin_months", "")))
        table.add_row(*cells)
    totals = body.get("totals") or {}
    table.add_section()
    cells = [Text("total", style="bold")]
    if detailed:
        cells.append(Text(""))
    cells += [
        _money(totals.get("revenue")),
        _money(totals.get("cost")),
        _money(totals.get("margin")),
        _pct(totals.get("margin_pct")),
        Text(str(totals.get("events", ""))),
        Text(str(totals.get("unpriced_events", ""))),
        Text(""),
    ]
    if detailed:
        cells.append(Text(""))
    table.add_row(*cells, style="bold")
    return table


def _period_title(body: dict[str, Any]) -> str:
    period = body.get("period") or {}
    return f"P&L {period.get('from')} to {period.get('to')} ({body.get('currency', 'USD')})"


CSV_COLUMNS = (
    "customer_id",
    "name",
    "currency",
    "revenue",
    "cost",
    "margin",
    "margin_pct",
    "events",
    "prompt_tokens",
    "completion_tokens",
    "unpriced_events",
    "estimated_cost",
    "action",
    "negative_margin_months",
    "unmapped_revenue",
)


def pnl_csv(body: dict[str, Any]) -> str:
    """The P&L as RFC 4180 CSV: a header, one row per customer, then the totals row (empty
    customer_id, name `Total`). Amounts are the API's strings, untouched. Revenue without an
    exchange rate gets one `revenue_unconverted_<CUR>` column per currency (and
    `unmapped_revenue_unconverted_<CUR>` for unmapped Stripe revenue); it is in no other column."""
    import csv
    import io

    rows = list(body.get("customers") or [])
    totals = dict(body.get("totals") or {})
    currencies = sorted({code for row in [*rows, totals] for code in (row.get("revenue_unconverted") or {})})
    unmapped_currencies = sorted(totals.get("unmapped_revenue_unconverted") or {})
    header = [
        *CSV_COLUMNS,
        *(f"revenue_unconverted_{code}" for code in currencies),
        *(f"unmapped_revenue_unconverted_{code}" for code in unmapped_currencies),
    ]
    currency = str(body.get("currency", ""))

    def line(row: dict[str, Any], *, total: bool) -> list[str]:
        values = {
            **{name: row.get(name) for name in CSV_COLUMNS},
            "customer_id": "" if total else row.get("customer_id"),
            "name": "Total" if total else row.get("name"),
            "currency": currency,
            "action": None if total else row.get("action"),
            "negative_margin_months": None if total else row.get("negative_margin_months"),
            "unmapped_revenue": row.get("unmapped_revenue") if total else None,
        }
        cells = ["" if values[name] is None else str(values[name]) for name in CSV_COLUMNS]
        unconverted = row.get("revenue_unconverted") or {}
        cells += [str(unconverted.get(code, "")) for code in currencies]
        unmapped = (row.get("unmapped_revenue_unconverted") or {}) if total else {}
        cells += [str(unmapped.get(code, "")) for code in unmapped_currencies]
        return cells

    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180: CRLF, quoting where needed
    writer.writerow(header)
    for row in rows:
        writer.writerow(line(row, total=False))
    writer.writerow(line(totals, total=True))
    return buffer.getvalue()


def _apart(amounts: Any) -> str:
    return ", ".join(f"{code} {amount}" for code, amount in sorted((amounts or {}).items()))


@app.command()
def pnl(
    ctx: typer.Context,
    month: Annotated[str | None, typer.Option("--month", help="UTC calendar month, YYYY-MM.")] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="First day, YYYY-MM-DD (inclusive, UTC).")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD (inclusive, UTC).")] = None,
    as_json: JsonFlag = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="RFC 4180 CSV: a header, one row per customer, a totals row.")
    ] = False,
) -> None:
    """The P&L per customer for a month or a date range (default: this UTC month)."""
    if month is not None and (from_ is not None or to is not None):
        raise typer.BadParameter("give either --month or --from/--to, not both", param_hint="--month")
    if (from_ is None) != (to is None):
        raise typer.BadParameter("--from and --to go together", param_hint="--from/--to")
    if as_json and as_csv:
        raise typer.BadParameter("give either --json or --csv, not both", param_hint="--csv")
    if month is None and from_ is None:
        month = datetime.now(UTC).strftime("%Y-%m")
    params = {"month": month} if month is not None else {"from": from_, "to": to}
    body = _config(ctx).answer("GET", "/v1/pnl", params=params, as_json=as_json)
    if body is None:
        return
    if as_csv:
        typer.echo(pnl_csv(body), nl=False)
        return
    out = _out()
    if not body.get("customers"):
        out.print(Text(f"No usage recorded from {body['period']['from']} to {body['period']['to']}."))
    print_table(out, pnl_table(body, title=_period_title(body)))
    totals = body.get("totals") or {}
    if totals.get("revenue_unconverted"):
        out.print(
            Text(
                f"Revenue without an exchange rate, in no total: {_apart(totals['revenue_unconverted'])} "
                "(set MARGINLENS_EXCHANGE_RATES)."
            )
        )
    unmapped = [
        part
        for part in (
            f"{body.get('currency', 'USD')} {totals['unmapped_revenue']}"
            if totals.get("unmapped_revenue") and Decimal(totals["unmapped_revenue"]) != 0
            else "",
            _apart(totals.get("unmapped_revenue_unconverted")),
        )
        if part
    ]
    if unmapped:
        out.print(
            Text(
                f"Stripe revenue of unmapped Stripe customers, in no row: {', '.join(unmapped)} "
                "(see `marginlens revenue unmapped`)."
            )
        )
    losing = [
        row["customer_id"] for row in body.get("customers", []) if row.get("action") == "reprice_or_throttle"
    ]
    if losing:
        period = f"--month {month}" if month is not None else f"--from-day {from_} --to-day {to}"
        out.print(
            Text(
                f"{len(losing)} customer(s) lose money; what a cheaper model would give back: "
                f"marginlens recommend --customer {losing[0]} {period}"
            )
        )


# --- dev: the local stack ---------------------------------------------------------------------


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

    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    )
    with progress:
        task = progress.add_task("Seeding demo usage", total=None)

        def report(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            return seed_demo(url, admin_key, progress=report)
        except httpx.HTTPStatusError as error:
            fail("Seeding the demo data failed.", *problem_lines(error.response))
        except httpx.TransportError as error:
            fail("Seeding the demo data failed.", *unreachable_lines(url, error))


def _print_welcome(out: Console, url: str, first: str, last: str) -> None:
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
    out.print(Text("The CLI against this stack:"))
    cli = f'marginlens --url {url} --api-key "$MARGINLENS_ADMIN_KEY" pnl --from {first} --to {last}'
    out.print(Text(f"  {cli}"))
    out.print(Text("What a cheaper model would give back to the customer losing money:"))
    recommend = f'marginlens --url {url} --api-key "$MARGINLENS_ADMIN_KEY" recommend --customer plexo'
    out.print(Text(f"  {recommend}"))
    out.print()


def _print_demo_pnl(out: Console, err: Console, url: str, admin_key: str, first: str, last: str) -> None:
    from marginlens.local.demo import CUSTOMERS

    display = {customer.customer_id: customer.name for customer in CUSTOMERS}
    try:
        response = httpx.get(
            f"{url}/v1/pnl",
            params={"from": first, "to": last},
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
        out.print(Text(f"No usage from {first} to {last} yet (MARGINLENS_DEMO=1 seeds 30 days of it)."))
        return

    def label(row: dict[str, Any]) -> str:
        customer_id = str(row.get("customer_id"))
        return display.get(customer_id) or str(row.get("name") or customer_id)

    print_table(out, pnl_table(body, title=f"{_period_title(body)} (demo period)", label=label))


@app.command()
def dev() -> None:
    """Run the whole stack on loopback, with demo data (what `make run` calls); Ctrl-C stops it.

    Reads .env; MARGINLENS_PORT (default 8787), MARGINLENS_ADMIN_KEY (unset: one is generated and
    shown once), MARGINLENS_DEMO (default 1; 0 skips the demo data). Data is kept in .marginlens/.
    """
    _load_dotenv()
    port = _env_port()
    admin_key = os.environ.get("MARGINLENS_ADMIN_KEY", "").strip() or None
    demo = _env_flag("MARGINLENS_DEMO", default=True)
    warnings.filterwarnings("ignore", message="No application metrics to publish")

    from marginlens.local.stack import DATA_DIR, LocalStack, StackError, demo_period
    from marginlens.observability import logger

    out, err = _out(), _err()
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
                counts = _seed(url, key, err)
                out.print(
                    Text(
                        f"Demo data: {counts['created']} created, {counts['duplicates']} duplicates, "
                        f"{counts['conflicts']} conflicts, {counts['rejected']} rejected"
                    )
                )
            first, last = demo_period(datetime.now(UTC))
            _print_welcome(out, url, first, last)
            _print_demo_pnl(out, err, url, key, first, last)
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


def main() -> None:
    _load_dotenv()  # MARGINLENS_URL / MARGINLENS_API_KEY may live in .env
    app()


if __name__ == "__main__":
    # `python -m marginlens.cli`: run the package's own copy of this module, the one the command
    # groups (`marginlens.cli_prices`, ...) reach their helpers through.
    from marginlens.cli import main as package_main

    package_main()
