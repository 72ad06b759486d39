"""Model names as apps and gateways send them resolve to the right genai-prices entry.

Each row is a name seen in production logs of an SDK or gateway, the provider hint sent with it
(None when the event has none) and the (provider id, model id) it must resolve to in the bundled
genai-prices data. A provider prefix or hint says who billed the call (Azure, Bedrock, Vertex,
OpenRouter...): that provider's price wins when genai-prices lists the model there, else the
model's vendor's. Every expectation was checked against the data, not assumed.
"""

from __future__ import annotations

import pytest

from marginlens.pricing.book import PriceBook
from marginlens.pricing.model_names import candidates

# The bundled table alone: no aliases or overrides, so names resolve by the rules only.
resolve = PriceBook.baseline().resolve

Row = tuple[str, str | None, str, str]

RESOLVING: list[Row] = [
    # Bare names: the vendor is inferred from the name.
    ("gpt-4o", None, "openai", "gpt-4o"),
    ("gpt-4.1-mini", None, "openai", "gpt-4.1-mini"),
    ("o3-mini", None, "openai", "o3-mini"),
    ("text-embedding-3-small", None, "openai", "text-embedding-3-small"),
    ("chatgpt-4o-latest", None, "openai", "chatgpt-4o-latest"),
    ("ft:gpt-4o-mini-2024-07-18:acme::9xYz12ab", None, "openai", "ft:gpt-4o-mini"),
    ("claude-3-5-haiku-latest", None, "anthropic", "claude-3-5-haiku-latest"),
    ("gemini-2.5-pro", None, "google", "gemini-2.5-pro"),
    ("grok-4", None, "x-ai", "grok-4-0709"),
    ("deepseek-chat", None, "deepseek", "deepseek-chat"),
    ("mistral-large-latest", None, "mistral", "mistral-large"),
    ("open-mistral-nemo", None, "mistral", "mistral-nemo"),
    # Dated snapshots, dashed and compact.
    ("gpt-4o-2024-08-06", None, "openai", "gpt-4o"),
    ("gpt-4o-2024-05-13", None, "openai", "gpt-4o-2024-05-13"),  # its own, higher price
    ("o3-mini-2025-01-31", None, "openai", "o3-mini"),
    ("gpt-5-mini-2025-08-07", None, "openai", "gpt-5-mini"),
    ("gpt-5.2-20251211", None, "openai", "gpt-5.2"),  # LiteLLM/OpenRouter compact date
    ("claude-3-5-sonnet-20241022", None, "anthropic", "claude-3-5-sonnet"),
    ("claude-3-7-sonnet-20250219", None, "anthropic", "claude-3-7-sonnet-latest"),
    ("claude-sonnet-4-5-20250929", None, "anthropic", "claude-sonnet-4-5"),
    ("claude-opus-4-1-20250805", None, "anthropic", "claude-opus-4-1"),
    ("gemini-1.5-pro-002", None, "google", "gemini-1.5-pro"),
    ("gemini-2.0-flash-001", None, "google", "gemini-2.0-flash"),
    ("mistral-large-2411", None, "mistral", "mistral-large"),
    ("command-r-plus-08-2024", None, "cohere", "command-r-plus"),
    # Case variants.
    ("GPT-4o", None, "openai", "gpt-4o"),
    ("Claude-3-5-Sonnet", None, "anthropic", "claude-3-5-sonnet"),
    ("Gemini-2.0-Flash", None, "google", "gemini-2.0-flash"),
    (
        "US.Anthropic.Claude-3-5-Sonnet-20241022-V2:0",
        None,
        "aws",
        "regional.anthropic.claude-3-5-sonnet-20241022-v2:0",
    ),
    # Separator variants.
    ("claude-3.5-sonnet", None, "anthropic", "claude-3-5-sonnet"),
    ("claude-3-5-sonnet", None, "anthropic", "claude-3-5-sonnet"),
    ("claude_3_5_sonnet", None, "anthropic", "claude-3-5-sonnet"),
    ("claude-sonnet-4.5", None, "anthropic", "claude-sonnet-4-5"),
    ("claude-3-5-sonnet@20240620", None, "anthropic", "claude-3-5-sonnet"),
    # `openai/`, `anthropic/`, `google/`, `gemini/`, `models/` prefixes.
    ("openai/gpt-4o", None, "openai", "gpt-4o"),
    ("openai/gpt-4.1-mini-2025-04-14", None, "openai", "gpt-4.1-mini"),
    ("anthropic/claude-sonnet-4-20250514", None, "anthropic", "claude-sonnet-4-0"),
    ("anthropic/claude-3-5-haiku-20241022", None, "anthropic", "claude-3-5-haiku-latest"),
    ("google/gemini-2.5-flash", None, "google", "gemini-2.5-flash"),
    ("gemini/gemini-2.0-flash", None, "google", "gemini-2.0-flash"),
    ("models/gemini-2.5-flash", None, "google", "gemini-2.5-flash"),
    # Vertex AI: Gemini, and Anthropic on Vertex (listed under google), billed by Google.
    ("vertex_ai/gemini-1.5-pro-002", None, "google", "gemini-1.5-pro"),
    ("vertex_ai/gemini-2.0-flash-lite-001", None, "google", "gemini-2.0-flash-lite"),
    ("vertex_ai/claude-3-5-sonnet-v2@20241022", None, "google", "claude-3-5-sonnet"),
    ("vertex_ai/claude-sonnet-4@20250514", None, "google", "claude-4-sonnet"),
    ("vertex_ai/claude-haiku-4-5@20251001", None, "google", "claude-haiku-4-5"),
    (
        "projects/acme-prod/locations/us-east5/publishers/anthropic/models/claude-3-5-haiku@20241022",
        None,
        "google",
        "claude-3-5-haiku",
    ),
    ("claude-3-5-sonnet-v2@20241022", "vertex_ai", "google", "claude-3-5-sonnet"),
    ("gemini-2.0-flash", "gcp.vertex_ai", "google", "gemini-2.0-flash"),
    # Not listed under google: the vendor's price.
    ("vertex_ai/mistral-large@2407", None, "mistral", "mistral-large"),
    # Bedrock ids, plain.
    (
        "anthropic.claude-3-5-sonnet-20241022-v2:0",
        None,
        "aws",
        "regional.anthropic.claude-3-5-sonnet-20241022-v2:0",
    ),
    ("amazon.nova-lite-v1:0", None, "aws", "amazon.nova-lite-v1:0"),
    ("amazon.titan-embed-text-v2:0", None, "aws", "amazon.titan-embed-text-v2:0"),
    ("meta.llama3-1-70b-instruct-v1:0", None, "aws", "meta.llama3-1-70b-instruct-v1:0"),
    ("mistral.mistral-large-2402-v1:0", None, "aws", "mistral.mistral-large-2402-v1:0"),
    ("openai.gpt-oss-120b-1:0", None, "aws", "openai.gpt-oss-120b-1:0"),
    # Bedrock cross-region inference profiles.
    (
        "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
        None,
        "aws",
        "regional.anthropic.claude-3-5-sonnet-20241022-v2:0",
    ),
    (
        "us.anthropic.claude-opus-4-1-20250805-v1:0",
        None,
        "aws",
        "regional.anthropic.claude-opus-4-1-20250805-v1:0",
    ),
    (
        "eu.anthropic.claude-3-5-sonnet-20240620-v1:0",
        None,
        "aws",
        "regional.anthropic.claude-3-5-sonnet-20240620-v1:0",
    ),
    (
        "apac.anthropic.claude-sonnet-4-20250514-v1:0",
        None,
        "aws",
        "regional.anthropic.claude-sonnet-4-20250514-v1:0",
    ),
    (
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        None,
        "aws",
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ),
    (
        "global.anthropic.claude-haiku-4-5-20251001-v1:0",
        None,
        "aws",
        "global.anthropic.claude-haiku-4-5-20251001-v1:0",
    ),
    ("us.amazon.nova-pro-v1:0", None, "aws", "amazon.nova-pro-v1:0"),
    ("eu.amazon.nova-lite-v1:0", None, "aws", "amazon.nova-lite-v1:0"),
    ("us.meta.llama3-2-90b-instruct-v1:0", None, "aws", "meta.llama3-2-90b-instruct-v1:0"),
    ("us.meta.llama4-maverick-17b-instruct-v1:0", None, "aws", "meta.llama4-maverick-17b-instruct-v1:0"),
    ("us.mistral.pixtral-large-2502-v1:0", None, "aws", "mistral.pixtral-large-2502-v1:0"),
    ("us.deepseek.r1-v1:0", None, "aws", "deepseek.r1-v1:0"),
    # Bedrock with LiteLLM's `bedrock/` prefix (and its `converse/` route), ARNs and hints.
    (
        "bedrock/us.anthropic.claude-3-7-sonnet-20250219-v1:0",
        None,
        "aws",
        "regional.anthropic.claude-3-7-sonnet-20250219-v1:0",
    ),
    (
        "bedrock/converse/us.anthropic.claude-3-5-sonnet-20241022-v2:0",
        None,
        "aws",
        "regional.anthropic.claude-3-5-sonnet-20241022-v2:0",
    ),
    ("bedrock/amazon.nova-micro-v1:0", None, "aws", "amazon.nova-micro-v1:0"),
    ("bedrock/openai.gpt-oss-20b-1:0", None, "aws", "openai.gpt-oss-20b-1:0"),
    ("bedrock/qwen.qwen3-32b-v1:0", None, "aws", "qwen.qwen3-32b-v1:0"),
    (
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0",
        None,
        "aws",
        "regional.anthropic.claude-3-5-sonnet-20241022-v2:0",
    ),
    (
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
        None,
        "aws",
        "regional.anthropic.claude-3-haiku-20240307-v1:0",
    ),
    ("claude-3-5-sonnet-20240620", "bedrock", "aws", "regional.anthropic.claude-3-5-sonnet-20240620-v1:0"),
    ("claude-3.7-sonnet-20250219", "bedrock", "aws", "regional.anthropic.claude-3-7-sonnet-20250219-v1:0"),
    (
        "anthropic.claude-3-haiku-20240307-v1:0",
        "aws.bedrock",
        "aws",
        "regional.anthropic.claude-3-haiku-20240307-v1:0",
    ),
    # Not in genai-prices' Bedrock table: the vendor's price.
    ("cohere.command-r-plus-v1:0", None, "cohere", "command-r-plus"),
    # Azure OpenAI and Azure AI Foundry: azure's price (genai-prices falls back to the vendor's
    # model under the azure provider).
    ("azure/gpt-4o", None, "azure", "gpt-4o"),
    ("azure/gpt-4o-mini-2024-07-18", None, "azure", "gpt-4o-mini"),
    ("azure/gpt-35-turbo", None, "azure", "gpt-3.5-turbo"),
    ("azure/gpt-35-turbo-16k", None, "azure", "gpt-3.5-turbo-16k"),
    ("azure/gpt-4-1-mini", None, "azure", "gpt-4.1-mini"),  # deployment names cannot hold `.`
    ("azure/o3-mini", None, "azure", "o3-mini"),
    ("azure/text-embedding-3-large", None, "azure", "text-embedding-3-large"),
    ("azure_ai/phi-4", None, "azure", "phi-4"),
    ("azure_ai/deepseek-r1", None, "azure", "deepseek-reasoner"),
    ("gpt-4o-mini", "Azure OpenAI", "azure", "gpt-4o-mini"),
    ("gpt-4.1", "azure.ai.openai", "azure", "gpt-4.1"),
    # Not in azure or its fallbacks: the vendor's price.
    ("azure_ai/mistral-large-2407", None, "mistral", "mistral-large"),
    # OpenRouter: `openrouter/<vendor>/<model>`, bare slugs, the `openrouter` hint.
    ("openrouter/anthropic/claude-3.5-sonnet:beta", None, "openrouter", "anthropic/claude-3.5-sonnet"),
    ("openrouter/anthropic/claude-3-5-sonnet", None, "openrouter", "anthropic/claude-3.5-sonnet"),
    ("openrouter/openai/gpt-4o", None, "openrouter", "openai/gpt-4o"),
    ("openrouter/google/gemini-2.5-flash", None, "openrouter", "google/gemini-2.5-flash"),
    (
        "openrouter/meta-llama/llama-3.3-70b-instruct",
        None,
        "openrouter",
        "meta-llama/llama-3.3-70b-instruct",
    ),
    ("openrouter/deepseek/deepseek-chat", None, "openrouter", "deepseek/deepseek-chat"),
    ("openrouter/qwen/qwen-2.5-72b-instruct", None, "openrouter", "qwen/qwen-2.5-72b-instruct"),
    ("meta-llama/llama-3.1-8b-instruct", None, "openrouter", "meta-llama/llama-3.1-8b-instruct"),
    ("anthropic/claude-3.7-sonnet", "openrouter", "openrouter", "anthropic/claude-3.7-sonnet"),
    # LiteLLM `provider/model` for Mistral, Groq, DeepSeek, xAI, Together, Fireworks and others.
    ("mistral/mistral-large-latest", None, "mistral", "mistral-large"),
    ("mistral/codestral-latest", None, "mistral", "codestral"),
    ("mistral/pixtral-large-latest", None, "mistral", "pixtral-large"),
    ("groq/llama-3.3-70b-versatile", None, "groq", "llama-3.3-70b-versatile"),
    ("groq/llama3-70b-8192", None, "groq", "llama3-70b-8192"),
    (
        "groq/meta-llama/llama-4-scout-17b-16e-instruct",
        None,
        "groq",
        "meta-llama/llama-4-scout-17b-16e-instruct",
    ),
    ("groq/openai/gpt-oss-120b", None, "groq", "openai/gpt-oss-120b"),
    ("llama-3.3-70b-versatile", "groq", "groq", "llama-3.3-70b-versatile"),
    ("deepseek/deepseek-chat", None, "deepseek", "deepseek-chat"),
    ("deepseek/deepseek-reasoner", None, "deepseek", "deepseek-reasoner"),
    ("xai/grok-3", None, "x-ai", "grok-3"),
    ("xai/grok-3-mini-beta", None, "x-ai", "grok-3-mini"),
    ("x-ai/grok-4", None, "x-ai", "grok-4-0709"),
    (
        "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",
        None,
        "together",
        "meta-llama/Llama-3.3-70B-Instruct-Turbo",
    ),
    (
        "together_ai/mistralai/Mixtral-8x7B-Instruct-v0.1",
        None,
        "together",
        "mistralai/Mixtral-8x7B-Instruct-v0.1",
    ),
    ("fireworks_ai/accounts/fireworks/models/deepseek-r1-0528", None, "fireworks", "deepseek-r1-0528"),
    ("accounts/fireworks/models/llama-v3p1-8b-instruct", None, "fireworks", "llama-v3p1-8b-instruct"),
    ("cohere/command-r-plus", None, "cohere", "command-r-plus"),
    ("perplexity/sonar-pro", None, "perplexity", "sonar-pro"),
    ("moonshot/kimi-k2-0711-preview", None, "moonshotai", "kimi-k2-0711-preview"),
    ("gpt-4o", "litellm", "openai", "gpt-4o"),  # the client library is not who billed
]

UNRESOLVED: list[tuple[str, str | None]] = [
    ("acme-finetune-v2", None),
    ("my-azure-gpt4o", None),
    ("my-azure-gpt4o", "azure"),  # a deployment name needs an alias
    ("azure/my-azure-gpt4o", None),
    ("in-house-llm-7b", None),
    ("gpt-4o-finetuned-internal", None),
    ("bedrock/acme.custom-model-v1:0", None),
    # Application inference profiles have opaque ids.
    ("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6", None),
    ("", None),
    ("   ", None),
    ("-", None),
    ("/", None),
    ("openai/", None),
    ("unknown", "openai"),
]


def _row_id(name: str, hint: str | None) -> str:
    return f"{name or '<empty>'}|{hint}" if hint else name or "<empty>"


@pytest.mark.parametrize(
    ("name", "hint", "provider", "model"),
    RESOLVING,
    ids=[_row_id(name, hint) for name, hint, _, _ in RESOLVING],
)
def test_real_world_names_resolve(name: str, hint: str | None, provider: str, model: str) -> None:
    resolved = resolve(name, hint)
    assert resolved is not None, f"{name!r} (hint {hint!r}) did not resolve"
    assert (resolved.provider.id, resolved.model.id) == (provider, model)


@pytest.mark.parametrize(("name", "hint"), UNRESOLVED, ids=[_row_id(name, hint) for name, hint in UNRESOLVED])
def test_unknown_names_do_not_resolve(name: str, hint: str | None) -> None:
    assert resolve(name, hint) is None


def test_the_table_is_big_enough_and_has_no_duplicates() -> None:
    assert len(RESOLVING) >= 40
    assert len({(name, hint) for name, hint, _, _ in RESOLVING}) == len(RESOLVING)


def test_the_hint_comes_first_then_the_prefix_then_the_vendor() -> None:
    found = candidates("vertex_ai/mistral-large@2407", "google")
    assert found[0] == ("vertex_ai/mistral-large@2407", "google")
    assert found.index(("mistral-large@2407", "google")) < found.index(("mistral-large-2407", None))


def test_the_name_as_sent_is_tried_before_its_variants() -> None:
    found = candidates("claude-3-5-sonnet", None)
    assert found.index(("claude-3-5-sonnet", None)) < found.index(("claude-3.5-sonnet", None))


def test_dotted_model_names_are_not_taken_for_bedrock_ids() -> None:
    assert all(provider != "aws" for _, provider in candidates("gpt-4.1", None))
    assert all(provider != "aws" for _, provider in candidates("claude-3.5-sonnet", None))
    assert ("us.anthropic.claude-3-haiku-20240307-v1:0", "aws") in candidates(
        "us.anthropic.claude-3-haiku-20240307-v1:0", None
    )


def test_blank_names_have_no_candidates() -> None:
    assert candidates("", None) == []
    assert candidates("  ", "openai") == []
