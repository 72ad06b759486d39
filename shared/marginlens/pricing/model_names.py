"""Model-name normalisation: the (reference, provider) pairs to look up for a name as sent.

Names arrive provider-prefixed (`openai/gpt-4o-mini`, `vertex_ai/gemini-2.0-flash`), as
OpenRouter slugs (`anthropic/claude-3.5-sonnet`), as Bedrock ids with region prefixes
(`us.anthropic.claude-3-5-sonnet-20240620-v1:0`) or ARNs, as Vertex resource names, dated, or
in odd case and separators. The price database matches each candidate with its own rules
(dates, `.` vs `-`); the first hit wins, so the order below is the policy:

1. The provider hint, then a provider prefix: whoever the caller says billed the call (Azure,
   Bedrock, Vertex, OpenRouter...) is tried first. genai-prices itself falls back from some of
   them to the model's vendor (Azure to OpenAI, Vertex to Anthropic), keeping the billing provider.
2. Then the name as an OpenRouter slug (`vendor/model`), then the name as a whole.
3. Then the model's vendor: the prefix is dropped and the rest is resolved on its own.

Each candidate is also tried in separator variants (`@` and `_` as `-`, `3-5` as `3.5` and back)
after the name as sent, so a name the data matches as sent keeps that match.
"""

from __future__ import annotations

import re

# Names users, SDKs and gateways put before a model or send as the provider, mapped to
# genai-prices provider ids. Keys are lowercased with runs of ` `, `.` and `-` as `_`: see
# `provider_id`. Names genai-prices already knows (its ids and `provider_match` rules, e.g.
# `openai`, `aws.bedrock`, `gcp.vertex_ai`) need no entry.
PROVIDER_ALIASES: dict[str, str] = {
    # AWS Bedrock
    "bedrock": "aws",
    "amazon": "aws",
    "aws_bedrock": "aws",
    "amazon_bedrock": "aws",
    "bedrock_converse": "aws",
    # Google: Vertex AI and AI Studio (LiteLLM `vertex_ai/`, `gemini/`; OpenTelemetry `gcp.*`)
    "vertex_ai": "google",
    "vertex": "google",
    "vertex_ai_beta": "google",
    "gemini": "google",
    "google_genai": "google",
    "google_vertex": "google",
    "gcp_vertex_ai": "google",
    "gcp_gemini": "google",
    "gcp_gen_ai": "google",
    # Azure OpenAI and Azure AI Foundry (LiteLLM `azure/`, `azure_ai/`; OpenTelemetry `azure.ai.*`)
    "azure_openai": "azure",
    "azure_ai": "azure",
    "azure_ai_openai": "azure",
    "azure_ai_inference": "azure",
    "az_ai_openai": "azure",
    "az_ai_inference": "azure",
    # Vendors and hosts whose gateway names differ from genai-prices ids
    "xai": "x-ai",
    "x_ai": "x-ai",
    "mistralai": "mistral",
    "mistral_ai": "mistral",
    "together_ai": "together",
    "togetherai": "together",
    "fireworks_ai": "fireworks",
    "moonshot": "moonshotai",
    "openai": "openai",
    "anthropic": "anthropic",
}

# Hints naming the client or library rather than who billed the call: no provider to prefer.
_CLIENT_HINTS = frozenset({"litellm"})

# Bedrock model ids: `[region.]vendor.model[-vN][:M]`. The vendor list is what tells
# `anthropic.claude-3-haiku-...` from a dotted model name such as `gpt-4.1` or `claude-3.5-sonnet`.
_BEDROCK_REGIONS = ("us", "us-gov", "eu", "apac", "global", "ca", "jp", "au", "in")
_BEDROCK_VENDORS = (
    "ai21",
    "amazon",
    "anthropic",
    "cohere",
    "deepseek",
    "google",
    "luma",
    "meta",
    "minimax",
    "mistral",
    "moonshotai",
    "nvidia",
    "openai",
    "qwen",
    "stability",
    "twelvelabs",
    "writer",
    "zai",
)
_BEDROCK_ID = re.compile(
    rf"^(?:(?:{'|'.join(map(re.escape, _BEDROCK_REGIONS))})\.)?"
    rf"(?P<vendor>{'|'.join(_BEDROCK_VENDORS)})\.(?P<model>[a-z0-9][a-z0-9.:_-]*)$"
)
# Bedrock's version suffix (`-v2:0`, `-v1`, `-1:0`, `:0`), dropped to look the model up at its vendor.
_BEDROCK_VERSION = re.compile(r"(?:-v\d+(?::\d+)?|-\d+:\d+|:\d+)$")
# `arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-...-v2:0` (also
# `foundation-model/...`). Application inference profiles and provisioned models have opaque ids
# and stay unresolved unless aliased.
_BEDROCK_ARN = re.compile(r"(?:^|/)arn:aws[a-z-]*:bedrock:[^/]*/(?P<id>[^/]+)$")
# Vertex AI resource names: `projects/p/locations/l/publishers/anthropic/models/claude-...@2024...`.
_VERTEX_RESOURCE = re.compile(r"(?:^|/)publishers/(?P<vendor>[a-z0-9_-]+)/models/(?P<model>[^/]+)$")

# One-digit version parts: `claude-3-5-sonnet` / `claude-3.5-sonnet`, `gpt-4-1-mini` (an Azure
# deployment name: deployments cannot contain `.`) / `gpt-4.1-mini`. Not dates: `2024-08` has
# more digits on either side.
_HYPHENATED_VERSION = re.compile(r"(?<![\d.])(\d)-(\d)(?![\d])")
_DOTTED_VERSION = re.compile(r"(?<![\d.])(\d)\.(\d)(?![\d.])")

# Bare names of a vendor's own models that genai-prices lists under the vendor but whose
# provider rules (`model_match`: `gpt-`, `o1`, `claude`, `command-`...) do not claim, so a bare
# name would find no provider. Prefixes of the vendors' naming schemes, not single models.
_VENDOR_FAMILIES: tuple[tuple[str, str], ...] = (
    ("ft:", "openai"),  # fine-tunes: `ft:gpt-4o-mini-2024-07-18:org::id`, priced as fine-tunes
    ("text-embedding-3-", "openai"),
    ("text-embedding-ada-", "openai"),
    ("chatgpt-", "openai"),
    ("codex-mini", "openai"),
    ("embed-v", "cohere"),
    ("c4ai-aya-", "cohere"),
)

Candidate = tuple[str, str | None]


def provider_id(name: str | None) -> str | None:
    if not name:
        return None
    key = name.strip().lower()
    if not key:
        return None
    return PROVIDER_ALIASES.get(key) or PROVIDER_ALIASES.get(re.sub(r"[\s.-]+", "_", key)) or key


def _variants(ref: str) -> list[str]:
    """The name as sent, then separator variants (Vertex `@version`, `_`, `3-5` vs `3.5`)."""
    found = [ref]
    unified = ref.replace("@", "-").replace("_", "-")
    for base in (ref, unified):
        for variant in (
            base,
            _HYPHENATED_VERSION.sub(r"\1.\2", base),
            _DOTTED_VERSION.sub(r"\1-\2", base),
        ):
            if variant not in found:
                found.append(variant)
    return found


def _interpretations(name: str, top_level: bool = True) -> list[Candidate]:
    """(reference, provider) readings of a lowercased name, billing provider first."""
    found: list[Candidate] = []

    if arn := _BEDROCK_ARN.search(name):
        model_id = arn["id"]
        if _BEDROCK_ID.match(model_id):
            return _interpretations(model_id, top_level=False)
        return [(model_id, "aws")]

    if vertex := _VERTEX_RESOURCE.search(name):
        model = vertex["model"]
        return [(model, "google"), (model, provider_id(vertex["vendor"])), (model, None)]

    if "/" in name:
        prefix, rest = name.split("/", 1)
        if not rest:
            return [(prefix, None)] if prefix else []
        if top_level and prefix == "models":
            # Google's API resource name for a model (`models/gemini-2.5-flash`).
            return [(rest, "google"), *_interpretations(rest, top_level=False)]
        if not prefix:
            return _interpretations(rest, top_level=False)
        found.append((rest, provider_id(prefix)))
        if top_level and prefix != "openrouter":
            # An OpenRouter slug (`anthropic/claude-3.5-sonnet`) when it is the whole name; under
            # another provider's prefix (`groq/meta-llama/...`) OpenRouter did not bill the call.
            found.append((name, "openrouter"))
        found.append((name, None))  # names whose `/` is part of the id: `accounts/fireworks/...`
        found.extend(_interpretations(rest, top_level=False))  # the model's vendor
        return found

    for family, vendor in _VENDOR_FAMILIES:
        if name.startswith(family):
            found.append((name, vendor))

    if bedrock := _BEDROCK_ID.match(name):
        found.append((name, "aws"))
        # Not in the Bedrock table: the vendor's own price for the model (`cohere.command-r-v1:0`).
        found.append((_BEDROCK_VERSION.sub("", bedrock["model"]), provider_id(bedrock["vendor"])))

    found.append((name, None))
    return found


def candidates(model: str, provider_hint: str | None) -> list[tuple[str, str | None]]:
    name = model.strip().lower()
    if not name:
        return []
    hint = provider_id(provider_hint)
    if hint in _CLIENT_HINTS:
        hint = None
    readings = _interpretations(name)
    if hint:
        # The hint names who billed: try it with the name as sent and each reading of it.
        readings = [(name, hint)] + [(ref, hint) for ref, _ in readings] + readings
    found: list[tuple[str, str | None]] = []
    for ref, provider in readings:
        for variant in _variants(ref):
            if variant and (variant, provider) not in found:
                found.append((variant, provider))
    return found
