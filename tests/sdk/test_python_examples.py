"""The Python SDK's examples run against the local stack, as the README says they do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e
EXAMPLES = Path(__file__).resolve().parents[2] / "sdk" / "python" / "examples"
SOURCE = Path(__file__).resolve().parents[2] / "sdk" / "python" / "src"


def test_the_quickstart_tracks_its_call(local_stack: RunningStack) -> None:
    env = {
        **os.environ,
        "MARGINLENS_URL": local_stack.url,
        "MARGINLENS_API_KEY": local_stack.admin_key,
        "PYTHONPATH": str(SOURCE),
    }
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    request_id = done.stdout.split()[1]
    stored = httpx.get(
        f"{local_stack.url}/v1/usage/{request_id}",
        headers={"Authorization": f"Bearer {local_stack.admin_key}"},
    ).json()
    assert (stored["customer_id"], stored["feature"], stored["cached_tokens"]) == (
        "acct_123",
        "summarize",
        1024,
    )


def test_the_litellm_callback_reads_customer_and_feature_from_the_calls_metadata() -> None:
    import marginlens_sdk
    from marginlens_sdk.litellm import MarginLensLogger

    tracked: list[tuple[object, dict[str, object]]] = []

    class Recorder(marginlens_sdk.MarginLens):
        def track(self, customer_id=None, model=None, prompt_tokens=None, completion_tokens=None, **fields):  # type: ignore[no-untyped-def]
            tracked.append((customer_id, {"model": model, "prompt_tokens": prompt_tokens, **fields}))
            return "id"

    logger = MarginLensLogger(Recorder(api_key="k", url="http://127.0.0.1:9"))
    response = {
        "model": "gpt-4o-mini-2024-07-18",
        "usage": {
            "prompt_tokens": 900,
            "completion_tokens": 50,
            "prompt_tokens_details": {"cached_tokens": 512},
        },
    }
    kwargs = {
        "model": "gpt-4o-mini",
        "litellm_params": {
            "custom_llm_provider": "openai",
            "metadata": {"customer_id": "acct_7", "feature": "chat"},
        },
    }
    logger.log_success_event(kwargs, response, None, None)
    ((customer, fields),) = tracked
    assert customer == "acct_7" and fields["feature"] == "chat" and fields["prompt_tokens"] == 900
    assert (
        fields["cached_tokens"] == 512 and fields["model"] == "gpt-4o-mini" and fields["provider"] == "openai"
    )
