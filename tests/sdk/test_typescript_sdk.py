"""The TypeScript SDK (sdk/typescript), run by `make test`: it type-checks, its own tests pass under
Node's test runner, its end-to-end scenario passes against the real local stack (which this test
starts, and stops for a while in the middle), and `npm pack` gives a package that installs and
imports (ESM and CommonJS) in a clean project."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from genai_prices import Usage, calc_price

from marginlens.local.stack import LocalStack
from tests.sdk.conftest import SDK_ADMIN_KEY

pytestmark = pytest.mark.e2e
PACKAGE = Path(__file__).resolve().parents[2] / "sdk" / "typescript"
NPM = shutil.which("npm") or "npm"


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def built() -> Path:
    run([NPM, "ci", "--no-audit", "--no-fund", "--loglevel=error"], PACKAGE)
    run([NPM, "run", "typecheck"], PACKAGE)
    run([NPM, "run", "pretest"], PACKAGE)  # builds the package and compiles the tests
    return PACKAGE


def test_the_typescript_sdk_type_checks_and_passes_its_tests(built: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARGINLENS_E2E")}
    output = run(["node", "--test", "dist-test/test/"], built, env=env)
    assert "# fail 0" in output


@pytest.fixture
def control(stoppable_stack: LocalStack) -> Iterator[str]:
    """`POST /stop` and `POST /start`: the e2e scenario closes the stack's port and opens it again."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path.endswith("/stop"):
                stoppable_stack.stop_serving()
            elif self.path.endswith("/start"):
                stoppable_stack.serve_again()
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_typescript_sdk_end_to_end_through_an_outage(
    built: Path, stoppable_stack: LocalStack, control: str
) -> None:
    env = {
        **os.environ,
        "MARGINLENS_E2E_URL": stoppable_stack.url,
        "MARGINLENS_E2E_KEY": SDK_ADMIN_KEY,
        "MARGINLENS_E2E_READ_KEY": SDK_ADMIN_KEY,
        "MARGINLENS_E2E_CONTROL": control,
        "MARGINLENS_E2E_CUSTOMER": f"sdk_ts_{uuid.uuid4().hex[:8]}",
    }
    output = run(["node", "--test", "dist-test/test/e2e.test.js"], built, env=env)
    assert "# pass 1" in output and "# skipped 0" in output and "# fail 0" in output
    # The scenario's events (8 workers x 125: prompt 100 + i, completion 20 + worker), priced by
    # genai-prices here: the P&L holds each once, at its exact cost.
    expected = sum(
        (
            calc_price(
                Usage(input_tokens=100 + i, output_tokens=20 + worker), "gpt-4o-mini", provider_id="openai"
            ).total_price
            for worker in range(8)
            for i in range(125)
        ),
        Decimal(0),
    )
    month = datetime.now(UTC).strftime("%Y-%m")
    pnl = httpx.get(
        f"{stoppable_stack.url}/v1/customers/{env['MARGINLENS_E2E_CUSTOMER']}/pnl",
        params={"month": month, "consistent": "true"},
        headers={"Authorization": f"Bearer {SDK_ADMIN_KEY}"},
        timeout=60,
    ).json()
    assert pnl["events"] == 1000 and Decimal(pnl["cost"]) == expected


def test_npm_pack_gives_a_package_that_installs_and_imports(built: Path, tmp_path: Path) -> None:
    packed = json.loads(run([NPM, "pack", "--json", "--pack-destination", str(tmp_path)], built))
    tarball = tmp_path / packed[0]["filename"]
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text(json.dumps({"name": "app", "version": "1.0.0", "private": True}))
    run([NPM, "install", "--no-audit", "--no-fund", "--loglevel=error", str(tarball)], app)
    check = (
        "new MarginLens({ apiKey: 'k', url: 'http://127.0.0.1:9' }).close(100).then(() => console.log('ok'))"
    )
    esm = run(
        ["node", "--input-type=module", "-e", f"import {{ MarginLens }} from '@marginlens/sdk'; {check}"], app
    )
    cjs = run(["node", "-e", f"const {{ MarginLens }} = require('@marginlens/sdk'); {check}"], app)
    assert esm.strip() == cjs.strip() == "ok"


READERS = """
import { readFileSync } from 'node:fs';
import * as sdk from '@SDK@';
const dir = process.argv[1];
const read = (name) => JSON.parse(readFileSync(`${dir}/${name}`, 'utf8'));
const lines = readFileSync(`${dir}/openai_stream.jsonl`, 'utf8').split('\\n').filter(Boolean);
const stream = lines.map((line) => JSON.parse(line));
const out = {
  'openai_chat.json': sdk.fromOpenAIChat(read('openai_chat.json')),
  'openai_chat_reasoning.json': sdk.fromOpenAIChat(read('openai_chat_reasoning.json')),
  'openai_responses.json': sdk.fromOpenAIResponses(read('openai_responses.json')),
  'anthropic.json': sdk.fromAnthropic(read('anthropic.json')),
  'gemini.json': sdk.fromGemini(read('gemini.json')),
  'bedrock_converse.json': sdk.fromBedrockConverse(read('bedrock_converse.json'), '@BEDROCK@'),
  'openai_stream.jsonl': sdk.fromOpenAIStream(stream),
};
console.log(JSON.stringify(out));
"""
WIRE = {  # the TypeScript SDK's camelCase fields, as the wire event names them
    "model": "model",
    "provider": "provider",
    "promptTokens": "prompt_tokens",
    "completionTokens": "completion_tokens",
    "cachedTokens": "cached_tokens",
    "cacheWriteTokens": "cache_write_tokens",
}


def test_the_typescript_helpers_read_the_same_recorded_responses_as_genai_prices(
    built: Path, local_stack: Any
) -> None:
    from tests.sdk.test_python_providers import (
        BEDROCK_MODEL,
        CASES,
        RESPONSES,
        assert_same_buckets,
        post,
        recorded,
        reference,
    )

    script = READERS.replace("@SDK@", str(built / "dist" / "esm" / "index.js")).replace(
        "@BEDROCK@", BEDROCK_MODEL
    )
    events = json.loads(run(["node", "--input-type=module", "-e", script, str(RESPONSES)], built))
    for name, _, provider, flavor in CASES:
        event = {
            WIRE[key]: value for key, value in events[name].items() if key in WIRE and value not in (None, 0)
        }
        response = recorded(name)
        usage, expected = reference(response, provider, flavor, model=event["model"])
        assert_same_buckets(event, usage)
        assert post(local_stack, event, f"ts-helper-{name.split('.')[0]}") == expected, name
    streamed = {
        WIRE[k]: v for k, v in events["openai_stream.jsonl"].items() if k in WIRE and v not in (None, 0)
    }
    chunks = recorded("openai_stream.jsonl")
    usage, expected = reference(chunks[-1], "openai", "chat", model=chunks[0]["model"])
    assert_same_buckets(streamed, usage)
    assert post(local_stack, streamed, "ts-helper-stream") == expected
