"""What every `marginlens` command shares: the API config, the one request builder, output helpers.

A command gets the config the root callback stored with `api(ctx)` and asks the API with
`request(ctx, ...)`; it prints with `stdout()`/`stderr()`, `print_table` and the money cells, and
ends with `fail(...)`. This module imports no command module: they all import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any, NoReturn
from urllib.parse import quote

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from marginlens import __version__

DEFAULT_URL = "http://127.0.0.1:8787"
TIMEOUT = httpx.Timeout(60.0, connect=5.0)
NONE = "-"

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the API's JSON answer as is.")]


# --- output -------------------------------------------------------------------------------------


def stdout() -> Console:
    return Console(highlight=False, soft_wrap=True)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def fail(*lines: str, code: int = 1) -> NoReturn:
    """Print an error (first line in red) to stderr and exit."""
    err = stderr()
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


def money_cell(value: Any) -> Text:
    """An amount exactly as the API sent it; red when negative, `-` when absent."""
    text = NONE if value is None else str(value)
    return Text(text, style="red" if text.startswith("-") else "")


def pct_cell(value: Any) -> Text:
    return Text("n/a") if value is None else money_cell(value)  # null: no revenue, margin % undefined


def progress_bar(console: Console) -> Progress:
    """Description, bar, `done/total` and elapsed time, on `console` (stderr: stdout stays clean)."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


# --- options ------------------------------------------------------------------------------------


def load_dotenv() -> None:
    """`.env` from the current directory; variables already in the environment win."""
    from dotenv import load_dotenv as load

    path = Path.cwd() / ".env"
    if path.is_file():
        load(path, override=False)


def check_period(
    month: str | None, first: str | None, last: str | None, *, options: tuple[str, str] = ("--from", "--to")
) -> None:
    """`--month` or a day range (`options` name its two options), never both; the range's ends go together."""
    start, end = options
    if month is not None and (first is not None or last is not None):
        raise typer.BadParameter(f"give either --month or {start}/{end}, not both", param_hint="--month")
    if (first is None) != (last is None):
        raise typer.BadParameter(f"{start} and {end} go together", param_hint=f"{start}/{end}")


# --- the API --------------------------------------------------------------------------------------


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
    """Where the API is and the key to call it with: the root options, stored on the typer context."""

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


def api(ctx: typer.Context) -> ApiConfig:
    """The config the root callback stored (a command invoked without it: the default URL, no key)."""
    config = ctx.find_object(ApiConfig)
    if config is None:
        return ApiConfig(DEFAULT_URL, None)
    return config


def present(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields that are not None: an option not given is left out, never sent as null."""
    return {name: value for name, value in fields.items() if value is not None}


def request(
    ctx: typer.Context,
    method: str,
    path: str,
    *segments: str,
    as_json: bool = False,
    json: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
) -> Any:
    """The API's JSON answer to one request, for the command to show.

    Each `{}` in `path` is filled with the next segment, percent-encoded as one path segment
    (`"/v1/budgets/{}", budget_id`); fields of `json` and `params` that are None are left out.
    With `as_json` (`--json`) the answer is printed as sent and the command ends there (exit code
    0); an error answer or an unreachable API ends it with exit code 1.
    """
    options: dict[str, Any] = {}
    if json is not None:
        options["json"] = present(json)
    if params is not None:
        options["params"] = present(params)
    response = api(ctx).call(
        method, path.format(*(quote(segment, safe="") for segment in segments)), **options
    )
    if as_json:
        typer.echo(response.text)
        raise typer.Exit
    return response.json()
