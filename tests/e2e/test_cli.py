"""The `marginlens` CLI against the local stack over real HTTP, and `marginlens dev` as a real process."""

import json
import os
import queue
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from marginlens.cli import app
from marginlens.cli import usage as cli
from marginlens.cli.usage import dumps_exact, loads_exact
from marginlens.core.money import money_str
from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CUSTOMERS = ("cli_acme", "cli_beta", "cli_gamma")
MODELS = ("gpt-4o-mini", "claude-3-5-sonnet-20240620", "gemini-1.5-flash", "openai/gpt-4o")
BAD_JSON_LINE, NEGATIVE_LINE, DUPLICATE_LINE, DUPLICATED_LINE, BLANK_LINE = 40, 120, 200, 10, 151


def invoke(stack: RunningStack, *args: str, key: str | None = None, stdin: str | None = None) -> Result:
    return CliRunner().invoke(
        app, ["--url", stack.url, "--api-key", key or stack.admin_key, *args], input=stdin
    )


def count(output: str, label: str) -> int:
    """A row of the replay summary table: `│ created │ 247 │`."""
    found = re.search(rf"^\W*{label}\W+(\d+)\W*$", output, re.MULTILINE)
    assert found, f"no {label!r} row in:\n{output}"
    return int(found.group(1))


def row_of(output: str, first_cell: str) -> list[str]:
    """The cells of the table row whose first cell is `first_cell`."""
    for line in output.splitlines():
        cells = [cell.strip() for cell in re.split(r"[│┃|]", line) if cell.strip()]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r} in:\n{output}")


# --- keys -------------------------------------------------------------------------------------


def test_keys_create_list_revoke_round_trip(local_stack: RunningStack) -> None:
    created = invoke(local_stack, "keys", "create", "--scope", "ingest", "--name", "cli-web-app", "--json")
    assert created.exit_code == 0, created.output
    body = json.loads(created.stdout)
    key, key_id = body["key"], body["id"]
    assert body["scope"] == "ingest"
    assert key.startswith(body["prefix"])

    shown = invoke(local_stack, "keys", "create", "--scope", "read", "--name", "cli-reader")
    assert shown.exit_code == 0, shown.output
    assert "shown only this once" in shown.stdout
    assert re.search(r"^mlk_[0-9A-Za-z]{38}$", shown.stdout, re.MULTILINE)

    listed = invoke(local_stack, "keys", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert {row["id"]: row["name"] for row in json.loads(listed.stdout)["data"]}[key_id] == "cli-web-app"
    table = invoke(local_stack, "keys", "list")
    assert table.exit_code == 0, table.output
    assert row_of(table.stdout, key_id)[1:4] == ["cli-web-app", "ingest", body["prefix"]]
    assert key not in table.stdout

    event = {
        "customer_id": "acct_cli",
        "model": "gpt-4o-mini",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "request_id": "req_cli_key_before_revoke",
    }
    with local_stack.client(key) as client:
        assert client.post("/v1/usage", json=event).status_code == 200

    revoked = invoke(local_stack, "keys", "revoke", key_id)
    assert revoked.exit_code == 0, revoked.output
    assert f"Revoked key {key_id}" in revoked.stdout

    with local_stack.client(key) as client:
        refused = client.post("/v1/usage", json={**event, "request_id": "req_cli_key_after_revoke"})
    assert refused.status_code == 401
    relisted = json.loads(invoke(local_stack, "keys", "list", "--json").stdout)["data"]
    assert next(row for row in relisted if row["id"] == key_id)["revoked_at"]

    unknown = invoke(local_stack, "keys", "revoke", "key_0000000000000000")
    assert unknown.exit_code == 1
    assert "Error 404" in unknown.stderr
    assert "key_0000000000000000" in unknown.stderr


# --- replay -----------------------------------------------------------------------------------


def usage_lines(now: datetime) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """250 JSON lines (and one blank line): valid events, one line that is not JSON, one event with
    negative tokens and one repeat of an earlier line. Also the valid events by request_id."""
    rng = random.Random(20261127)
    lines: list[str] = []
    valid: dict[str, dict[str, Any]] = {}
    for number in range(1, 252):
        if number == BLANK_LINE:
            lines.append("   ")
            continue
        if number == BAD_JSON_LINE:
            lines.append('{"request_id": "cli_bad_json", "customer_id": "cli_acme", "model": ')
            continue
        if number == DUPLICATE_LINE:
            lines.append(lines[DUPLICATED_LINE - 1])
            continue
        event: dict[str, Any] = {
            "request_id": f"cli_replay_{number:03d}",
            "customer_id": CUSTOMERS[number % len(CUSTOMERS)],
            "model": MODELS[number % len(MODELS)],
            "feature": ("summarize", "translate")[number % 2],
            "prompt_tokens": rng.randint(50, 9000),
            "completion_tokens": rng.randint(10, 2500),
            # the last ~2.6 days (UTC): well inside the maximum event age
            "timestamp": (now - timedelta(minutes=5 + 15 * number)).isoformat().replace("+00:00", "Z"),
        }
        if number == NEGATIVE_LINE:
            event["prompt_tokens"] = -5
        else:
            valid[event["request_id"]] = event
        lines.append(json.dumps(event))
    assert sum(1 for line in lines if line.strip()) == 250
    return lines, valid


def write_usage(tmp_path: Path) -> tuple[Path, dict[str, dict[str, Any]]]:
    lines, valid = usage_lines(datetime.now(UTC).replace(microsecond=0))
    path = tmp_path / "usage.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, valid


def test_replay_counts_rejections_and_is_idempotent(local_stack: RunningStack, tmp_path: Path) -> None:
    path, valid = write_usage(tmp_path)
    assert len(valid) == 247

    first = invoke(local_stack, "replay", str(path))
    assert first.exit_code == 2, first.output
    assert count(first.stdout, "created") == 247
    assert count(first.stdout, "duplicate") == 1
    assert count(first.stdout, "conflict") == 0
    assert count(first.stdout, "rejected") == 2
    assert count(first.stdout, "total") == 250

    bad = row_of(first.stdout, f"line {BAD_JSON_LINE}")
    assert bad[1:3] == ["cli_bad_json", "rejected"]
    assert "not valid JSON" in " ".join(bad)
    negative = row_of(first.stdout, f"line {NEGATIVE_LINE}")
    assert negative[1:4] == [f"cli_replay_{NEGATIVE_LINE:03d}", "rejected", "/prompt_tokens"]
    listed = re.findall(r"^\W*line (\d+)\W", first.stdout, re.MULTILINE)
    assert sorted(int(number) for number in listed) == [BAD_JSON_LINE, NEGATIVE_LINE]

    with local_stack.client() as client:
        repeat = client.get(f"/v1/usage/cli_replay_{DUPLICATED_LINE:03d}")
        missing = client.get(f"/v1/usage/cli_replay_{NEGATIVE_LINE:03d}")
    assert repeat.status_code == 200
    assert missing.status_code == 404

    again = invoke(local_stack, "replay", "-", stdin=path.read_text(encoding="utf-8"))
    assert again.exit_code == 2, again.output
    assert count(again.stdout, "created") == 0
    assert count(again.stdout, "duplicate") == 248  # every valid event, and the repeated line
    assert count(again.stdout, "conflict") == 0
    assert count(again.stdout, "rejected") == 2


def test_replay_of_only_valid_events_exits_zero(local_stack: RunningStack, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    events = [
        {
            "request_id": f"cli_array_{index}",
            "customer_id": "cli_array",
            "model_name": "gpt-4o-mini",
            "prompt_tokens": 100 + index,
            "completion_tokens": 20,
            "timestamp": (now - timedelta(hours=index + 1)).isoformat().replace("+00:00", "Z"),
        }
        for index in range(3)
    ]
    path = tmp_path / "usage.json"
    path.write_text(json.dumps(events, indent=2), encoding="utf-8")
    result = invoke(local_stack, "replay", str(path))
    assert result.exit_code == 0, result.output
    assert count(result.stdout, "created") == 3
    assert count(result.stdout, "rejected") == 0

    body = tmp_path / "body.json"  # a saved request body works too
    body.write_text(json.dumps({"events": events}), encoding="utf-8")
    again = invoke(local_stack, "replay", str(body))
    assert again.exit_code == 0, again.output
    assert count(again.stdout, "duplicate") == 3


def test_replay_counts_a_batch_refused_as_a_whole(local_stack: RunningStack, tmp_path: Path) -> None:
    """Every event of the batch rejected: the API answers 422, with per-event results."""
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"request_id": "cli_no_model", "customer_id": "c", "prompt_tokens": 1, "completion_tokens": 1}\n'
        '{"request_id": "cli_bad_tokens", "customer_id": "c", "model": "gpt-4o-mini", '
        '"prompt_tokens": "many", "completion_tokens": 1}\n',
        encoding="utf-8",
    )
    result = invoke(local_stack, "replay", str(path))
    assert result.exit_code == 2, result.output
    assert count(result.stdout, "rejected") == 2
    assert count(result.stdout, "created") == 0
    assert row_of(result.stdout, "line 1")[1] == "cli_no_model"
    assert row_of(result.stdout, "line 2")[1:4] == ["cli_bad_tokens", "rejected", "/prompt_tokens"]


def test_replay_retries_busy_and_unreachable_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "RETRY_BASE_S", 0.01)
    answers: Iterator[int] = iter([0, 503, 429, 200])  # 0: connection refused
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        answer = next(answers)
        if answer == 0:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(answer, json={"title": "busy", "detail": "try again"})

    notes: list[str] = []
    with httpx.Client(base_url="http://api.test", transport=httpx.MockTransport(handler)) as client:
        response = cli.post_batch(client, "http://api.test", b'{"events":[]}', 5, notes.append)
    assert response.status_code == 200
    assert len(seen) == 4
    assert set(seen) == {b'{"events":[]}'}
    assert len(notes) == 3

    answers = iter([503] * 3)
    with (
        httpx.Client(base_url="http://api.test", transport=httpx.MockTransport(handler)) as client,
        pytest.raises(cli.ReplayAborted, match="503"),
    ):
        cli.post_batch(client, "http://api.test", b"{}", 3, notes.append)


def test_numbers_are_forwarded_exactly() -> None:
    text = '{"a": 0.1000000000000000055511151231257827, "b": [1e-30, 12480.00, -0], "c": "x\\u00e9"}'
    parsed = loads_exact(text)
    assert parsed["a"] == Decimal("0.1000000000000000055511151231257827")
    assert dumps_exact(parsed) == '{"a":0.1000000000000000055511151231257827,"b":[1E-30,12480.00,0],"c":"xé"}'
    assert loads_exact(dumps_exact(parsed)) == parsed
    with pytest.raises(ValueError, match="NaN"):
        loads_exact('{"a": NaN}')


# --- P&L --------------------------------------------------------------------------------------


def test_pnl_shows_exact_costs_summed_from_each_event(local_stack: RunningStack, tmp_path: Path) -> None:
    path, valid = write_usage(tmp_path)
    assert invoke(local_stack, "replay", str(path)).exit_code == 2

    cost: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    events: Counter[tuple[str, str]] = Counter()
    with local_stack.client() as client:
        for request_id, event in valid.items():
            stored = client.get(f"/v1/usage/{request_id}")
            assert stored.status_code == 200, stored.text
            answer = stored.json()
            assert answer["cost"] is not None, answer
            key = (event["customer_id"], event["timestamp"][:7])
            cost[key] += Decimal(answer["cost"])
            events[key] += 1
    month = Counter(event["timestamp"][:7] for event in valid.values()).most_common(1)[0][0]
    expected = {customer: cost[(customer, month)] for customer in CUSTOMERS if events[(customer, month)]}
    assert expected
    total = sum(expected.values(), Decimal(0))

    table = invoke(local_stack, "pnl", "--month", month)
    assert table.exit_code == 0, table.output
    for customer, amount in expected.items():
        cells = row_of(table.stdout, customer)
        assert cells[1] == "0.00"  # revenue: none pushed
        assert cells[2] == money_str(amount)
        assert cells[5] == str(events[(customer, month)])
    assert row_of(table.stdout, "total")[2] == money_str(total)

    as_json = invoke(local_stack, "pnl", "--month", month, "--json")
    assert as_json.exit_code == 0, as_json.output
    body = json.loads(as_json.stdout)
    assert body["period"]["from"].startswith(month)
    assert Decimal(body["totals"]["cost"]) == total
    assert body["totals"]["cost"] == row_of(table.stdout, "total")[2]
    assert body["totals"]["events"] == sum(events[(customer, month)] for customer in CUSTOMERS)
    assert {row["customer_id"]: Decimal(row["cost"]) for row in body["customers"]} == expected

    first, last = body["period"]["from"], body["period"]["to"]
    ranged = invoke(local_stack, "pnl", "--from", first, "--to", last, "--json")
    assert ranged.exit_code == 0, ranged.output
    assert Decimal(json.loads(ranged.stdout)["totals"]["cost"]) == total


def test_wrong_key_prints_the_problem_and_exits_1(local_stack: RunningStack) -> None:
    result = invoke(local_stack, "pnl", "--month", "2026-01", key="mlk_" + "x" * 38)
    assert result.exit_code == 1
    assert "Error 401" in result.stderr
    assert "A valid API key is required." in result.stderr
    assert result.stdout == ""


def test_validation_errors_list_each_pointer(local_stack: RunningStack) -> None:
    result = invoke(local_stack, "pnl", "--month", "2026-13")
    assert result.exit_code == 1
    assert "Error 422" in result.stderr
    assert re.search(r"^\s*/month: .+", result.stderr, re.MULTILINE), result.stderr


def test_unreachable_api_names_the_url_and_suggests_make_run() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"  # bound, never listening: refused
        result = CliRunner().invoke(app, ["--url", url, "--api-key", "k" * 20, "keys", "list"])
    assert result.exit_code == 1
    assert url in result.stderr
    assert "make run" in result.stderr


# --- dev: the local stack as `make run` starts it ---------------------------------------------


class ProcessOutput:
    """A process's stdout, read line by line in a thread so waits can be bounded."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert process.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern: str, deadline: float) -> None:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line matching {pattern!r} in time; output:\n{self.text()}")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the process ended before {pattern!r}; output:\n{self.text()}")
            self.lines.append(line)
            if re.search(pattern, line):
                return

    def text(self) -> str:
        return "".join(self.lines)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


DEMO_LINE = r"Demo data: (\d+) created, (\d+) duplicates, (\d+) conflicts, (\d+) rejected"
REVENUE_LINE = r"Demo revenue: (\d+) Stripe webhooks \((\d+) new\), (\d+) pushed \((\d+) new\); budget (\w+)"
STORY_LINE = r"P&L (\d{4}-\d{2}-\d{2}) to (\d{4}-\d{2}-\d{2}) \(USD\): the demo's story month"


def run_dev_once(cwd: Path, port: int, admin_key: str, deadline: float, check: Any) -> dict[str, Any]:
    """Start `marginlens dev`, wait until ready, read what it printed, run `check(client, output)`
    against it while it serves, stop it with SIGINT."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MARGINLENS_", "POWERTOOLS_", "STRIPE_"))
    }
    env.update(
        {
            "MARGINLENS_PORT": str(port),
            "MARGINLENS_DEMO": "1",
            "MARGINLENS_ADMIN_KEY": admin_key,
            "PYTHONPATH": os.pathsep.join([str(REPO / "shared"), str(REPO)]),
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "marginlens.cli", "dev"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = ProcessOutput(process)
        output.wait_for(r"MarginLens is ready", deadline)
        text = output.text()
        seeded = re.search(DEMO_LINE, text)
        revenue = re.search(REVENUE_LINE, text)
        period = re.search(STORY_LINE, text)
        assert seeded and revenue and period, text
        for shown in ("/v1", "/docs", "/dashboard", "/dashboard/index.html#/overview?month="):
            assert f"http://127.0.0.1:{port}{shown}" in text
        page = httpx.get(f"http://127.0.0.1:{port}/dashboard", follow_redirects=True, timeout=30)
        assert page.status_code == 200 and page.url.path == "/dashboard/index.html"
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "curl" in text
        counts: dict[str, Any] = dict(
            zip(("created", "duplicates", "conflicts", "rejected"), map(int, seeded.groups()), strict=True)
        )
        counts.update(
            stripe=int(revenue.group(1)),
            stripe_new=int(revenue.group(2)),
            pushed=int(revenue.group(3)),
            pushed_new=int(revenue.group(4)),
            budget=revenue.group(5),
            period=period.groups(),
        )
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {admin_key}"}, timeout=30
        ) as client:
            check(client, text)
        process.send_signal(signal.SIGINT)
        # Its own bound: a seed that used most of the run's budget still gets to shut down cleanly.
        assert process.wait(timeout=20) == 0, output.text()
        return counts
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


# A bound, not a timing: seeding the demo's ~2,900 events takes about two minutes on a loaded CI
# machine, and twice the usual run still fails a stack that never comes up.
DEV_RUN_BOUND_S = 480


def test_dev_serves_demo_data_persists_it_and_reseeds_idempotently(tmp_path: Path) -> None:
    """`marginlens dev` seeds the demo's story: the story month's P&L is the seed's snapshot, the
    simulations give its savings, the image budget is critical with both alerts sent; a second run
    on the same data dir sends everything again and nothing is created twice or conflicts."""
    from marginlens.local import demo

    port, admin_key = free_port(), "dev-test-admin-key-012345"
    assert len(admin_key) == 25
    started = datetime.now(UTC)
    story, current = f"{demo.story_month(started):%Y-%m}", f"{started:%Y-%m}"
    pnls: list[dict[str, Any]] = []

    def check_story(client: httpx.Client, text: str) -> None:
        pnl = client.get("/v1/pnl", params={"month": story})
        assert pnl.status_code == 200, pnl.text
        body = pnl.json()
        assert body["period"]["from"] == f"{story}-01"
        rows = {row["customer_id"]: row for row in body["customers"]}
        pick = ("revenue", "cost", "margin_pct", "action", "negative_margin_months")
        plexo = ["233.25", "277.20", "-18.84", "reprice_or_throttle", 2]
        assert [rows["plexo"][name] for name in pick] == plexo
        assert [rows["helix"][name] for name in pick[:4]] == ["134.29", "127.31", "5.20", "monitor"]
        totals = body["totals"]
        for name, snapshot in (("revenue", "12480"), ("cost", "8340")):
            assert abs(Decimal(totals[name]) - Decimal(snapshot)) <= Decimal(snapshot) * Decimal("0.005")
        assert abs(Decimal(totals["margin_pct"]) - Decimal("33.2")) <= Decimal("0.5")
        assert totals["unpriced_events"] > 0 and Decimal(totals["unmapped_revenue"]) > 0
        healthy = [row for row in body["customers"] if row["customer_id"] not in ("plexo", "helix")]
        assert 4 <= len(healthy) <= 6 and all(row["action"] == "healthy" for row in healthy)
        assert "Plexo Health" in text and "-18.84" in text
        pnls.append(body)

        for feature, events, savings_pct in (("summarize", 1240, "29.27"), ("translate", 890, "34.40")):
            simulation = client.post(
                "/v1/simulations",
                json={"month": story, "feature": feature, "to_model": demo.SIMULATIONS[feature]},
            )
            assert simulation.status_code == 200, simulation.text
            assert simulation.json()["totals"]["events"] == events
            assert simulation.json()["totals"]["savings_pct"] == savings_pct

        budgets = {budget["id"]: budget for budget in client.get("/v1/budgets").json()["data"]}
        image = budgets[demo.IMAGE_BUDGET_ID]
        assert (image["state"], image["pct"], image["spent"], image["current_period"]) == (
            "critical",
            "91.00",
            "546.00",
            current,
        )
        wanted = {"budget_warning", "budget_critical"}
        poll_until = time.monotonic() + 30
        while True:  # the seed evaluates the budgets last; the alerts may still be on their way
            alerts = client.get("/v1/alerts", params={"month": current}).json()["data"]
            kinds = {alert["kind"] for alert in alerts if alert.get("budget_id") == demo.IMAGE_BUDGET_ID}
            if wanted <= kinds or time.monotonic() > poll_until:
                break
            time.sleep(0.2)
        assert wanted <= kinds, alerts

    def check_again(client: httpx.Client, text: str) -> None:
        body = client.get("/v1/pnl", params={"month": story}).json()
        assert body["customers"] == pnls[0]["customers"] and body["totals"] == pnls[0]["totals"]
        alerts = client.get("/v1/alerts", params={"month": current}).json()["data"]
        sent = Counter(alert["kind"] for alert in alerts if alert.get("budget_id") == demo.IMAGE_BUDGET_ID)
        assert sent["budget_warning"] == sent["budget_critical"] == 1  # each alert fires once

    counts = run_dev_once(tmp_path, port, admin_key, time.monotonic() + DEV_RUN_BOUND_S, check_story)
    assert counts["period"] == (f"{story}-01", pnls[0]["period"]["to"])
    assert counts["created"] > 2500 and counts["duplicates"] == 0
    assert counts["conflicts"] == counts["rejected"] == 0
    assert counts["stripe"] == counts["stripe_new"] > 5 and counts["pushed"] == counts["pushed_new"] > 0
    assert counts["budget"] == "set"
    assert (tmp_path / ".marginlens" / "dynamodb.json").is_file()

    again = run_dev_once(tmp_path, port, admin_key, time.monotonic() + DEV_RUN_BOUND_S, check_again)
    finished = datetime.now(UTC)
    assert again["conflicts"] == again["rejected"] == 0
    assert again["budget"] == "unchanged"
    if f"{finished:%Y-%m}" == current:  # not across a month: the second run sent the first's calls again
        assert again["duplicates"] == counts["created"]
        # Only calls that fell due between the two runs are new.
        due = len(demo.demo_events(finished)) - len(demo.demo_events(started))
        assert 0 <= again["created"] <= due
        assert (again["stripe_new"], again["pushed_new"]) == (0, 0)
        assert (again["stripe"], again["pushed"]) == (counts["stripe"], counts["pushed"])
