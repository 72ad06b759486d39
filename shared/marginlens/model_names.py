"""Model-name normalisation: the (reference, provider) pairs to look up for a name as sent.

Names arrive provider-prefixed (`openai/gpt-4o-mini`, `vertex_ai/gemini-2.0-flash`), as
OpenRouter slugs (`anthropic/claude-3.5-sonnet`), as Bedrock ids with region prefixes
(`us.anthropic.claude-3-5-sonnet-20240620-v1:0`), dated, or in odd case. The price database
matches each candidate with its own rules (dates, `.` vs `-` separators); the first hit wins.
"""

from __future__ import annotations

import re

# Names users and gateways put before a model, mapped to genai-prices provider ids.
PROVIDER_ALIASES: dict[str, str] = {
    "bedrock": "aws",
    "amazon": "aws",
    "aws_bedrock": "aws",
    "vertex_ai": "google",
    "vertex": "google",
    "vertex_ai_beta": "google",
    "gemini": "google",
    "google_genai": "google",
    "azure_openai": "azure",
    "azure_ai": "azure",
    "xai": "x-ai",
    "mistralai": "mistral",
    "together_ai": "together",
    "fireworks_ai": "fireworks",
    "openai": "openai",
    "anthropic": "anthropic",
}

_BEDROCK_ID = re.compile(
    r"^(?:(?:us|eu|apac|global|us-gov|ca|jp|au)\.)?[a-z0-9-]+\.[a-z0-9.-]+(?:-v\d+(?::\d+)?)?$"
)


def _provider_id(name: str | None) -> str | None:
    if not name:
        return None
    key = name.strip().lower()
    return PROVIDER_ALIASES.get(key, key)


def candidates(model: str, provider_hint: str | None) -> list[tuple[str, str | None]]:
    ref = model.strip().lower()
    hint = _provider_id(provider_hint)
    found: list[tuple[str, str | None]] = []
    if hint:
        found.append((ref, hint))
    if "/" in ref:
        prefix, rest = ref.split("/", 1)
        if prefix == "openrouter":
            found.append((rest, "openrouter"))
        found.append((rest, _provider_id(prefix)))
        found.append((ref, "openrouter"))  # OpenRouter slugs: `anthropic/claude-3.5-sonnet`
        ref_for_bedrock = rest
    else:
        ref_for_bedrock = ref
    if _BEDROCK_ID.match(ref_for_bedrock) and "." in ref_for_bedrock.split(":")[0]:
        found.append((ref_for_bedrock, "aws"))
    found.append((ref, None))
    return found
