"""`marginlens replay FILE`: usage events from a file to POST /v1/usage, in batches (idempotent).

Numbers are read as exact Decimals and written back digit for digit: an amount in the file never
passes through a float on its way to the API.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table
from rich.text import Text

from marginlens.cli.common import (
    NONE,
    api,
    fail,
    print_table,
    problem_lines,
    progress_bar,
    stderr,
    stdout,
    unreachable_lines,
)

BATCH_SIZE = 100  # the API's maximum batch
RETRY_BASE_S = 0.5
RETRY_MAX_S = 10.0


def register(app: typer.Typer) -> None:
    """Add `replay` to the `marginlens` app."""
    app.command("replay")(replay)


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
    out = stdout()
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
    config = api(ctx)
    source = "stdin" if file == "-" else file
    try:
        entries, findings = parse_events(_read_source(file))
    except InputError as error:
        fail(f"{source}: {error}")
    tally = Tally(rejected=len(findings), findings=list(findings))
    aborted: ReplayAborted | None = None
    with config.client() as client:
        progress = progress_bar(stderr())
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
