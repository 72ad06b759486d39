"""Build `shared/marginlens/pricing/data/quality.json`: public quality scores keyed by price-database model.

    python scripts/build_quality_data.py path/to/quality-sources > shared/marginlens/pricing/data/quality.json

The argument is a directory holding the reference files described in its `SOURCES.md`:

- `lmarena_text_2025-08-04.csv`: the LMArena text leaderboard of 2025-08-04 (CSV export made by
  github.com/fboulnois/llm-leaderboard-csv). Gives `arena_text`.
- `llm-value-comparison-models.json` and `llm-value-comparison-benchmarks.json`: the data of
  github.com/desktop-commander/llm-value-comparison as of 2026-04-30. Gives `arena_code` (LMArena
  WebDev), `aa_intelligence` (Artificial Analysis Intelligence Index) and `aider_polyglot`.

Only this script reads those files; the product reads the generated JSON (package data).

One snapshot per index. Arena scores are only comparable within one snapshot (the Elo scale drifts
as models are added), and the Artificial Analysis index changes version over time. So `arena_text`
comes only from the 2025-08-04 CSV, and the other three indexes only from the 2026-04-30
value-comparison file. The value-comparison file's own `arena_text` figures are dropped: they come
from a much later arena snapshot (GPT-4o is 1443 there against 1285-1302 in the CSV) and would
not be comparable with the CSV's scores for the 200-odd models the file does not cover.

Mapping. The tables below map each source row, by its name exactly as published, to the
price-database refs (`provider/model`, as genai-prices names them) it scores. Nothing is matched
fuzzily: a row is either mapped here or listed as skipped with a one-word reason, and the script
fails on any row it does not know (a new source file needs a review of the tables). Policy:

- Refs: first the model maker's own API in the price database; for open-weight models also the
  hosts that serve the same weights (groq, together, cerebras, novita, cloudflare, databricks,
  baseten, avian, ovhcloud, doubleword). Not aggregators or resellers (openrouter,
  huggingface router, quicksilverpro, github-copilot, cursor) and not cloud re-listings of another
  maker's model (azure, aws bedrock, google vertex): runtime code falls back by model id for those.
  A cloud counts as the maker's own API for the maker's models: aws for Amazon Nova, azure for
  Microsoft Phi, google (Vertex MaaS) for Gemma. Hosted variants are included when they serve the
  same weights at 8 bits or more (fp8, "turbo", speculative decoding, a maker's documented
  same-model speed tier such as grok-3-fast or MiniMax "highspeed"); 4-bit tiers (AWQ, Together
  "Lite") and fine-tunes are not.
- One row per price model. Where several rows fit one price model, the row for the version the
  price stands for is used: the version the price model's id pointed to as an API alias at the
  CSV's date (gpt-4o -> 2024-08-06, gpt-4-turbo -> 2024-04-09, gemini-1.5-pro -> 002,
  chatgpt-4o-latest -> 2025-03-26, deepseek-chat -> V3-0324), else, when that is unclear, the row
  with the most votes (claude-3-5-sonnet -> 20240620, mistral-large -> 2407, claude-2 -> 2.1). The
  other rows are skipped as `superseded`. Dated versions the price database prices separately
  (gpt-4o-2024-05-13, gpt-3.5-turbo-0613/-1106) get their own rows.
- Default mode over variants: thinking / reasoning / "high" rows of a model whose default row is
  mapped are skipped as `variant` (Claude thinking rows, o3-mini-high, Grok-3-mini-high,
  value-comparison "Claude Opus 4.7 (Reasoning, Max Effort)"), and so is Llama 3.1 405B bf16 (hosts
  serve fp8). The value-comparison rows named "(Non-reasoning...)" or "(xhigh)" are the only row
  of their model and are mapped. Note that this puts openai/gpt-4o (2024-08-06: 1285) just below
  openai/gpt-4o-mini (1288) on arena_text; the original 2024-05-13 snapshot (1302) is above it.
- A price model covering several versions under an older name is not scored as the newest one:
  minimax/MiniMax-M2 (prices M2, M2.1 and M2.5) gets no MiniMax-M2.5 scores.
- A ref must resolve to itself (`PriceBook.resolve(ref).ref == ref`). Fireworks refs never do
  (genai-prices matches them only as `accounts/fireworks/models/<id>`), nor does
  `mistral/mistral-medium-3-1` (it matches `mistral-medium-2505`/`-2508`, not its own id), so
  they are left out; rows whose only price models are such refs are skipped as `unresolvable`.
- `ambiguous`: value-comparison "DeepSeek V3.1" (its Artificial Analysis link and Aider score are
  those of DeepSeek V3 of December 2024) and "Qwen QwQ-32B" (QwQ link, but the Aider score is
  Qwen3-32B's); arena rows whose exact checkpoint a host's id does not pin down.

The script checks every ref against the installed genai-prices data (via `marginlens.pricing.book`):
it must resolve to itself and have input and output token prices. It exits non-zero otherwise.
Output is deterministic: models sorted by their first ref, indexes in a fixed order, scores as the
exact decimal strings the sources publish.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

ARENA_CSV = "lmarena_text_2025-08-04.csv"
VC_MODELS = "llm-value-comparison-models.json"
VC_BENCHMARKS = "llm-value-comparison-benchmarks.json"

LMARENA = "lmarena-text-2025-08-04"
VALUE_COMPARISON = "llm-value-comparison-2026-04-30"

SOURCES: dict[str, dict[str, str]] = {
    LMARENA: {
        "title": "LMArena text leaderboard (CSV export by fboulnois/llm-leaderboard-csv)",
        "url": "https://github.com/fboulnois/llm-leaderboard-csv",
        "date": "2025-08-04",
        "licence": "export repository MPL-2.0; scores published by LMArena (lmarena.ai)",
    },
    VALUE_COMPARISON: {
        "title": "LLM value comparison, data/models.json (desktop-commander/llm-value-comparison)",
        "url": "https://github.com/desktop-commander/llm-value-comparison",
        "date": "2026-04-30",
        "licence": "repository Apache-2.0; each score links its original publisher; "
        "Artificial Analysis asks for attribution of its index",
    },
}

INDEXES: dict[str, dict[str, Any]] = {
    "arena_text": {
        "name": "LMArena text arena",
        "scale": "elo",
        "higher_is_better": True,
        "url": "https://lmarena.ai/leaderboard/text",
        "source": LMARENA,
    },
    "arena_code": {
        "name": "LMArena WebDev arena",
        "scale": "elo",
        "higher_is_better": True,
        "url": "https://lmarena.ai/leaderboard/webdev",
        "source": VALUE_COMPARISON,
    },
    "aa_intelligence": {
        "name": "Artificial Analysis Intelligence Index",
        "scale": "0-100",
        "higher_is_better": True,
        "url": "https://artificialanalysis.ai/",
        "source": VALUE_COMPARISON,
    },
    "aider_polyglot": {
        "name": "Aider polyglot",
        "scale": "percent",
        "higher_is_better": True,
        "url": "https://aider.chat/docs/leaderboards/",
        "source": VALUE_COMPARISON,
    },
}
VC_INDEXES = tuple(key for key, index in INDEXES.items() if index["source"] == VALUE_COMPARISON)

ABOUT = (
    "Public quality scores (LMArena, Artificial Analysis, Aider) mapped to genai-prices model refs, "
    "one source snapshot per index; regenerate with "
    "`python scripts/build_quality_data.py <reference dir> > shared/marginlens/pricing/data/quality.json`."
)

# --- refs shared by several rows or by both sources ------------------------------------------

GPT_4O = ("openai/gpt-4o",)
GPT_OSS_120B = (
    "openai/gpt-oss-120b",
    "baseten/openai/gpt-oss-120b",
    "cerebras/gpt-oss-120b",
    "cloudflare/@cf/openai/gpt-oss-120b",
    "databricks/databricks-gpt-oss-120b",
    "groq/openai/gpt-oss-120b",
    "novita/openai/gpt-oss-120b",
    "ovhcloud/gpt-oss-120b",
    "together/openai/gpt-oss-120b",
)
LLAMA_3_1_8B = (
    "avian/Meta-Llama-3.1-8B-Instruct",
    "cerebras/llama3.1-8b",
    "cloudflare/@cf/meta/llama-3.1-8b-instruct",
    "cloudflare/@cf/meta/llama-3.1-8b-instruct-fp8",
    "cloudflare/@cf/meta/llama-3.1-8b-instruct-fp8-fast",
    "databricks/databricks-meta-llama-3-1-8b-instruct",
    "groq/llama-3.1-8b-instant",
    "novita/meta-llama/llama-3.1-8b-instruct",
    "novita/meta-llama/llama-3.1-8b-instruct-bf16",
    "ovhcloud/Llama-3.1-8B-Instruct",
    "together/meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo",
)
LLAMA_3_1_70B = (
    "avian/Meta-Llama-3.1-70B-Instruct",
    "cloudflare/@cf/meta/llama-3.1-70b-instruct-fp8-fast",
    "groq/llama-3.1-70b-versatile",
    "novita/meta-llama/llama-3.1-70b-instruct",
    "together/meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo",
)

# --- LMArena text CSV: row name -> refs ------------------------------------------------------

ARENA_TEXT: dict[str, tuple[str, ...]] = {
    # OpenAI
    "GPT-4o-2024-08-06": GPT_4O,  # gpt-4o matches -2024-08-06 and -2024-11-20; 05-13 is separate
    "GPT-4o-2024-05-13": ("openai/gpt-4o-2024-05-13",),
    "GPT-4o-mini-2024-07-18": ("openai/gpt-4o-mini",),
    "ChatGPT-4o-latest (2025-03-26)": ("openai/chatgpt-4o-latest",),
    "GPT-4.1-2025-04-14": ("openai/gpt-4.1",),
    "GPT-4.1-mini-2025-04-14": ("openai/gpt-4.1-mini",),
    "GPT-4.1-nano-2025-04-14": ("openai/gpt-4.1-nano",),
    "GPT-4.5-Preview": ("openai/gpt-4.5-preview",),
    "GPT-4-Turbo-2024-04-09": ("openai/gpt-4-turbo",),
    "GPT-4-0613": ("openai/gpt-4",),
    "GPT-3.5-Turbo-0125": ("openai/gpt-3.5-turbo",),
    "GPT-3.5-Turbo-0613": ("openai/gpt-3.5-turbo-0613",),
    "GPT-3.5-Turbo-1106": ("openai/gpt-3.5-turbo-1106",),
    "o1-2024-12-17": ("openai/o1",),
    "o1-mini": ("openai/o1-mini",),
    "o1-preview": ("openai/o1-preview",),
    "o3-2025-04-16": ("openai/o3",),
    "o3-mini": ("openai/o3-mini",),
    "o4-mini-2025-04-16": ("openai/o4-mini",),
    # Anthropic
    "Claude Opus 4 (20250514)": ("anthropic/claude-opus-4-0",),
    "Claude Sonnet 4 (20250514)": ("anthropic/claude-sonnet-4-0",),
    "Claude 3.7 Sonnet": ("anthropic/claude-3-7-sonnet-latest",),
    "Claude 3.5 Sonnet (20240620)": ("anthropic/claude-3-5-sonnet",),
    "Claude 3.5 Haiku (20241022)": ("anthropic/claude-3-5-haiku-latest",),
    "Claude 3 Opus": ("anthropic/claude-3-opus-latest",),
    "Claude 3 Sonnet": ("anthropic/claude-3-sonnet",),
    "Claude 3 Haiku": ("anthropic/claude-3-haiku",),
    "Claude-2.1": ("anthropic/claude-2",),
    "Claude-1": ("anthropic/claude-v1",),
    # Google
    "Gemini-2.5-Pro": ("google/gemini-2.5-pro",),
    "Gemini-2.5-Flash": ("google/gemini-2.5-flash",),
    "Gemini-2.5-Flash-Preview-04-17": ("google/gemini-2.5-flash-preview",),
    "Gemini-2.0-Flash-001": ("google/gemini-2.0-flash",),
    "Gemini-2.0-Flash-Lite": ("google/gemini-2.0-flash-lite",),
    "Gemini-1.5-Pro-002": ("google/gemini-1.5-pro", "google/gemini-pro-1.5"),
    "Gemini-1.5-Flash-002": ("google/gemini-1.5-flash", "google/gemini-flash-1.5"),
    "Gemini-1.5-Flash-8B-001": ("google/gemini-flash-1.5-8b",),
    "Gemini-1.0-Pro-001": ("google/gemini-pro",),
    "Gemma-3-27B-it": ("novita/google/gemma-3-27b-it",),
    "Gemma-3-12B-it": (
        "cloudflare/@cf/google/gemma-3-12b-it",
        "databricks/databricks-gemma-3-12b",
        "novita/google/gemma-3-12b-it",
    ),
    "Gemma-2-27B-it": ("google/gemma-2-27b-it",),
    "Gemma-2-9B-it": ("groq/gemma2-9b-it", "novita/google/gemma-2-9b-it"),
    # xAI
    "Grok-4-0709": ("x-ai/grok-4-0709",),
    "Grok-3-Preview-02-24": ("x-ai/grok-3", "x-ai/grok-3-fast"),  # the only Grok 3 row
    "Grok-3-Mini-beta": ("x-ai/grok-3-mini", "x-ai/grok-3-mini-fast"),
    # Mistral
    "Mistral Medium": ("mistral/mistral-medium-2312",),
    "Mistral-Large-2407": ("mistral/mistral-large",),
    "Mistral-Small-2506": (
        "mistral/mistral-small-3.2-24b-instruct",
        "ovhcloud/Mistral-Small-3.2-24B-Instruct-2506",
    ),
    "Mistral-Small-3.1-24B-Instruct-2503": (
        "mistral/mistral-small-3.1-24b-instruct",
        "cloudflare/@cf/mistralai/mistral-small-3.1-24b-instruct",
    ),
    "Mistral-Small-24B-Instruct-2501": ("mistral/mistral-small-24b-instruct-2501",),
    "Ministral-8B-2410": ("mistral/ministral-8b",),
    "magistral-medium-2506": ("mistral/magistral-medium",),
    "Mixtral-8x22b-Instruct-v0.1": (
        "mistral/mixtral-8x22b-instruct",
        "together/mistralai/Mixtral-8x22B-Instruct-v0.1",
    ),
    "Mixtral-8x7B-Instruct-v0.1": (
        "mistral/mixtral-8x7b",
        "groq/mixtral-8x7b-32768",
        "ovhcloud/Mixtral-8x7B-Instruct-v0.1",
        "together/mistralai/Mixtral-8x7B-Instruct-v0.1",
    ),
    "Mistral-7B-Instruct-v0.2": ("together/mistralai/Mistral-7B-Instruct-v0.2",),
    "Mistral-7B-Instruct-v0.1": (
        "cloudflare/@cf/mistral/mistral-7b-instruct-v0.1",
        "together/mistralai/Mistral-7B-Instruct-v0.1",
    ),
    # DeepSeek
    "DeepSeek-R1-0528": (
        "deepseek/deepseek-reasoner",
        "novita/deepseek/deepseek-r1-0528",
    ),
    "DeepSeek-R1": ("novita/deepseek/deepseek-r1",),
    "DeepSeek-V3-0324": ("deepseek/deepseek-chat",),
    "DeepSeek-V3": ("novita/deepseek/deepseek_v3",),
    # Cohere
    "Command A (03-2025)": ("cohere/command-a",),
    "Command R+ (08-2024)": ("cohere/command-r-plus",),
    "Command R (08-2024)": ("cohere/command-r",),
    "Aya-Expanse-32B": ("cohere/c4ai-aya-expanse-32b",),
    "Aya-Expanse-8B": ("cohere/c4ai-aya-expanse-8b",),
    # Amazon (Nova is only sold through Bedrock: aws is the maker's own API here)
    "Amazon Nova Pro 1.0": ("aws/amazon.nova-pro-v1:0",),
    "Amazon Nova Lite 1.0": ("aws/amazon.nova-lite-v1:0",),
    "Amazon Nova Micro 1.0": ("aws/amazon.nova-micro-v1:0",),
    # Microsoft (Phi on Azure: the maker's own API)
    "Phi-4": ("azure/phi-4",),
    "Phi-3-Mini-128k-Instruct": ("azure/phi-3-mini-128k-instruct",),
    # Meta Llama (open weights: hosts only; Meta's own API in the database lists Muse models only)
    "Llama-4-Maverick-17B-128E-Instruct": (
        "databricks/databricks-llama-4-maverick",
        "groq/meta-llama/llama-4-maverick-17b-128e-instruct",
        "novita/meta-llama/llama-4-maverick-17b-128e-instruct-fp8",
        "together/meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
    ),
    "Llama-4-Scout-17B-16E-Instruct": (
        "cloudflare/@cf/meta/llama-4-scout-17b-16e-instruct",
        "groq/meta-llama/llama-4-scout-17b-16e-instruct",
        "novita/meta-llama/llama-4-scout-17b-16e-instruct",
        "together/meta-llama/Llama-4-Scout-17B-16E-Instruct",
    ),
    "Llama-3.3-70B-Instruct": (
        "avian/Meta-Llama-3.3-70B-Instruct",
        "cerebras/llama-3.3-70b",
        "cloudflare/@cf/meta/llama-3.3-70b-instruct-fp8-fast",
        "databricks/databricks-meta-llama-3-3-70b-instruct",
        "groq/llama-3.3-70b-specdec",
        "groq/llama-3.3-70b-versatile",
        "novita/meta-llama/llama-3.3-70b-instruct",
        "ovhcloud/Meta-Llama-3_3-70B-Instruct",
        "together/meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "together/meta-llama/Meta-Llama-3.3-70B-Instruct-Turbo",
    ),
    # Hosts serve 405B in fp8 (the row with the most votes, too).
    "Meta-Llama-3.1-405B-Instruct-fp8": (
        "avian/Meta-Llama-3.1-405B-Instruct",
        "groq/llama-3.1-405b-reasoning",
        "together/meta-llama/Meta-Llama-3.1-405B-Instruct-Turbo",
    ),
    "Meta-Llama-3.1-70B-Instruct": LLAMA_3_1_70B,
    "Meta-Llama-3.1-8B-Instruct": LLAMA_3_1_8B,
    "Meta-Llama-3.2-3B-Instruct": (
        "cloudflare/@cf/meta/llama-3.2-3b-instruct",
        "groq/llama-3.2-3b-preview",
        "novita/meta-llama/llama-3.2-3b-instruct",
    ),
    "Meta-Llama-3.2-1B-Instruct": (
        "cloudflare/@cf/meta/llama-3.2-1b-instruct",
        "groq/llama-3.2-1b-preview",
        "novita/meta-llama/llama-3.2-1b-instruct",
    ),
    "Llama-3-70B-Instruct": (
        "groq/llama3-70b-8192",
        "novita/meta-llama/llama-3-70b-instruct",
        "together/meta-llama/Llama-3-70b-chat-hf",
        "together/meta-llama/Meta-Llama-3-70B-Instruct-Turbo",
    ),
    "Llama-3-8B-Instruct": (
        "cloudflare/@cf/meta/llama-3-8b-instruct",
        "groq/llama3-8b-8192",
        "novita/meta-llama/llama-3-8b-instruct",
        "together/meta-llama/Llama-3-8b-chat-hf",
        "together/meta-llama/Meta-Llama-3-8B-Instruct-Turbo",
    ),
    "Llama-2-70B-chat": ("groq/llama2-70b-4096", "together/meta-llama/Llama-2-70b-chat-hf"),
    "Llama-2-13b-chat": ("together/meta-llama/Llama-2-13b-chat-hf",),
    "Llama-2-7B-chat": (
        "cloudflare/@cf/meta/llama-2-7b-chat-fp16",
        "together/meta-llama/Llama-2-7b-chat-hf",
    ),
    "CodeLlama-70B-instruct": ("together/codellama/CodeLlama-70b-Instruct-hf",),
    "CodeLlama-34B-instruct": ("together/codellama/CodeLlama-34b-Instruct-hf",),
    # Qwen (Alibaba's own API is not in the database: hosts only)
    "Qwen3-32B": ("cerebras/qwen-3-32b", "groq/qwen/qwen3-32b", "ovhcloud/Qwen3-32B"),
    "Qwen3-30B-A3B": ("cloudflare/@cf/qwen/qwen3-30b-a3b-fp8",),
    "QwQ-32B": ("cloudflare/@cf/qwen/qwq-32b",),
    "Qwen2.5-72B-Instruct": ("novita/qwen/qwen-2.5-72b-instruct",),
    "Qwen2.5-Coder-32B-Instruct": ("cloudflare/@cf/qwen/qwen2.5-coder-32b-instruct",),
    # Z.ai / Zhipu
    "GLM-4.5": ("zai/GLM-4.5",),
    "GLM-4.5-Air": ("zai/GLM-4.5-Air", "zhipuai/GLM-4.5-Air", "novita/zai-org/glm-4.5-air"),
    "GLM-4-Plus-0111": ("zhipuai/GLM-4-Plus",),  # the 0111 update replaced glm-4-plus in the API
    # Moonshot
    "kimi-k2-0711-preview": (
        "moonshotai/kimi-k2-0711-preview",
        "moonshotai/kimi-k2",
        "novita/moonshotai/kimi-k2-instruct",
    ),
    # MiniMax
    "Minimax-M1": ("minimax/minimax-m1",),
    # Other open-weight models
    "OpenHermes-2.5-Mistral-7B": (
        "novita/teknium/openhermes-2.5-mistral-7b",
        "together/teknium/OpenHermes-2p5-Mistral-7B",
    ),
    "Nous-Hermes-2-Mixtral-8x7B-DPO": ("together/NousResearch/Nous-Hermes-2-Mixtral-8x7B-DPO",),
    "SOLAR-10.7B-Instruct-v1.0": ("together/upstage/SOLAR-10.7B-Instruct-v1.0",),
    "WizardLM-13b-v1.2": ("together/WizardLM/WizardLM-13B-V1.2",),
    "StripedHyena-Nous-7B": ("together/togethercomputer/StripedHyena-Nous-7B",),
}

# Reasons: unpriced (no price-database model, or only an aggregator / cloud re-listing prices it),
# unresolvable (its price models' refs do not resolve to themselves: see the docstring),
# superseded (another row of the same price model is used), variant (thinking / high-effort mode
# of a mapped row), experimental (unreleased, experimental or codename checkpoint), app (a
# consumer app, not an API model), ambiguous (cannot tell which priced checkpoint it is).
SKIPPED_ARENA_TEXT: dict[str, str] = {
    "Gemini-2.5-Pro-Preview-05-06": "superseded",
    "ChatGPT-4o-latest (2025-01-29)": "superseded",
    "ChatGPT-4o-latest (2024-11-20)": "superseded",
    "ChatGPT-4o-latest (2024-09-03)": "superseded",
    "ChatGPT-4o-latest (2024-08-08)": "superseded",
    "GPT-4-1106-preview": "superseded",
    "GPT-4-0125-preview": "superseded",
    "GPT-4-0314": "superseded",
    "Claude 3.5 Sonnet (20241022)": "superseded",
    "Claude-2.0": "superseded",
    "Gemini-1.5-Pro-001": "superseded",
    "Gemini-1.5-Flash-001": "superseded",
    "Gemini Pro": "superseded",
    "Mistral-Large-2411": "superseded",
    "Command R+ (04-2024)": "superseded",
    "Command R (04-2024)": "superseded",
    "GLM-4-Plus": "superseded",
    "Claude Opus 4 (thinking-16k)": "variant",
    "Claude Sonnet 4 (thinking-32k)": "variant",
    "Claude 3.7 Sonnet (thinking-32k)": "variant",
    "o3-mini-high": "variant",
    "Grok-3-mini-high": "variant",
    "Qwen3-235B-A22B-no-thinking": "unresolvable",
    "Qwen3-235B-A22B": "unresolvable",  # only fireworks serves it
    "Mistral Medium 3": "unresolvable",  # mistral/mistral-medium-3-1 matches -2505/-2508, not its id
    "Meta-Llama-3.1-405B-Instruct-bf16": "variant",
    "Llama-4-Maverick-03-26-Experimental": "experimental",
    "chocolate (Early Grok-3)": "experimental",
    "Gemini-2.0-Flash-Thinking-Exp-01-21": "experimental",
    "Gemini-2.0-Pro-Exp-02-05": "experimental",
    "Gemini-Exp-1206": "experimental",
    "Gemini-Exp-1121": "experimental",
    "Gemini-2.0-Flash-Thinking-Exp-1219": "experimental",
    "Gemini-2.0-Flash-Exp": "experimental",
    "Gemini-Exp-1114": "experimental",
    "Amazon-Nova-Experimental-Chat-05-14": "experimental",
    "Step-2-16K-Exp": "experimental",
    "Gemini-1.5-Pro-Exp-0827": "experimental",
    "Gemini-1.5-Pro-Exp-0801": "experimental",
    "Gemini-1.5-Flash-Exp-0827": "experimental",
    "Gemini-1.5-Pro-Preview-0409": "experimental",
    "Gemini-1.5-Flash-8B-Exp-0827": "experimental",
    "Yi-Large-preview": "experimental",
    "Mistral-Next": "experimental",
    "Gemini Advanced App (2024-05-14)": "app",
    "Gemini App (2024-01-24)": "app",
    "GPT-3.5-Turbo-0314": "ambiguous",  # OpenAI's March snapshot is -0301, priced separately
    "Gemma-1.1-7B-it": "ambiguous",  # groq/gemma-7b-it does not say whether it is 1.0 or 1.1
    "Gemma-7B-it": "ambiguous",
    "Vicuna-13B": "ambiguous",  # arena ran several v1.x checkpoints; together serves v1.5
    "Vicuna-7B": "ambiguous",
    "Phi-3-Medium-4k-Instruct": "unpriced",  # azure prices the 128k model only
    "Phi-3-Mini-4K-Instruct-June-24": "unpriced",
    "Phi-3-Mini-4k-Instruct": "unpriced",
    "Grok-2-08-13": "unpriced",  # x-ai prices grok-2-1212 only
    "Grok-2-Mini-08-13": "unpriced",
    "Mistral-Large-2402": "unpriced",  # only aws bedrock prices it
    "Claude-Instant-1": "unpriced",
    "Qwen3-235B-A22B-Instruct-2507": "unpriced",
    "Qwen3-235B-A22B-Thinking-2507": "unpriced",
    "Qwen3-30B-A3B-Instruct-2507": "unpriced",
    "Qwen3-Coder-480B-A35B-Instruct": "unpriced",  # cerebras lists it without token prices
    "Qwen2.5-Max": "unpriced",
    "Qwen-Plus-0125": "unpriced",
    "Qwen2.5-plus-1127": "unpriced",
    "Qwen-Max-0919": "unpriced",
    "Qwen-Plus-0828": "unpriced",
    "Qwen-Max-0428": "unpriced",
    "Qwen2-72B-Instruct": "unpriced",
    "Qwen1.5-110B-Chat": "unpriced",
    "Qwen1.5-72B-Chat": "unpriced",  # together lists the base models only
    "Qwen1.5-32B-Chat": "unpriced",
    "Qwen1.5-14B-Chat": "unpriced",
    "Qwen1.5-7B-Chat": "unpriced",
    "Qwen1.5-4B-Chat": "unpriced",
    "Qwen-14B-Chat": "unpriced",
    "QwQ-32B-Preview": "unpriced",
    "Gemma-3n-e4b-it": "unpriced",
    "Gemma-3-4B-it": "unpriced",  # only aws bedrock prices it
    "Gemma-2-2b-it": "unpriced",
    "Gemma-2-9B-it-SimPO": "unpriced",
    "Gemma-1.1-2b-it": "unpriced",
    "Gemma-2B-it": "unpriced",
    "PaLM-Chat-Bison-001": "unpriced",
    "Hunyuan-Turbos-20250416": "unpriced",
    "Hunyuan-TurboS-20250226": "unpriced",
    "Hunyuan-Turbo-0110": "unpriced",
    "Hunyuan-Large-2025-02-10": "unpriced",
    "Hunyuan-Standard-2025-02-10": "unpriced",
    "Hunyuan-Large-Vision": "unpriced",
    "Hunyuan-Standard-256K": "unpriced",
    "Nvidia-Llama-3.3-Nemotron-Super-49B-v1.5": "unpriced",
    "Llama-3.1-Nemotron-Ultra-253B-v1": "unpriced",
    "Llama-3.3-Nemotron-Super-49B-v1": "unpriced",
    "Llama-3.1-Nemotron-70B-Instruct": "unpriced",
    "Llama-3.1-Nemotron-51B-Instruct": "unpriced",
    "Nemotron-4-340B-Instruct": "unpriced",
    "NV-Llama2-70B-SteerLM-Chat": "unpriced",
    "Deepseek-v2.5-1210": "unpriced",
    "Deepseek-v2.5": "unpriced",
    "Deepseek-v2-API-0628": "unpriced",
    "Deepseek-Coder-v2-0724": "unpriced",
    "DeepSeek-Coder-V2-Instruct": "unpriced",
    "DeepSeek-LLM-67B-Chat": "unpriced",
    "GLM-4-0520": "unpriced",
    "GLM-4-0116": "unpriced",
    "ChatGLM3-6B": "unpriced",
    "ChatGLM2-6B": "unpriced",
    "ChatGLM-6B": "unpriced",
    "Yi-Lightning": "unpriced",
    "Yi-Lightning-lite": "unpriced",
    "Yi-Large": "unpriced",
    "Yi-1.5-34B-Chat": "unpriced",
    "Yi-34B-Chat": "unpriced",  # together lists the base model only
    "Athene-v2-Chat-72B": "unpriced",
    "Athene-70B": "unpriced",
    "Llama-3.1-Tulu-3-70B": "unpriced",
    "Llama-3.1-Tulu-3-8B": "unpriced",
    "Tulu-2-DPO-70B": "unpriced",
    "Reka-Core-20240904": "unpriced",
    "Reka-Core-20240722": "unpriced",
    "Reka-Core-20240501": "unpriced",
    "Reka-Flash-20240904": "unpriced",
    "Reka-Flash-20240722": "unpriced",
    "Reka-Flash-Preview-20240611": "unpriced",
    "Reka-Flash-21B-online": "unpriced",
    "Reka-Flash-21B": "unpriced",
    "Jamba-1.5-Large": "unpriced",
    "Jamba-1.5-Mini": "unpriced",
    "OLMo-2-0325-32B-Instruct": "unpriced",
    "OLMo-7B-instruct": "unpriced",  # together lists the base model only
    "InternLM2.5-20B-chat": "unpriced",
    "Granite-3.1-8B-Instruct": "unpriced",
    "Granite-3.1-2B-Instruct": "unpriced",
    "Granite-3.0-8B-Instruct": "unpriced",
    "Granite-3.0-2B-Instruct": "unpriced",
    "Phi-3-Small-8k-Instruct": "unpriced",
    "Vicuna-33B": "unpriced",
    "Zephyr-ORPO-141b-A35b-v0.1": "unpriced",
    "Zephyr-7B-beta": "unpriced",
    "Zephyr-7B-alpha": "unpriced",
    "Starling-LM-7B-beta": "unpriced",
    "Starling-LM-7B-alpha": "unpriced",
    "OpenChat-3.5-0106": "unpriced",
    "OpenChat-3.5": "unpriced",
    "DBRX-Instruct-Preview": "unpriced",
    "Snowflake Arctic Instruct": "unpriced",
    "WizardLM-70B-v1.0": "unpriced",
    "Dolphin-2.2.1-Mistral-7B": "unpriced",
    "MPT-30B-chat": "unpriced",
    "MPT-7B-Chat": "unpriced",
    "pplx-70B-online": "unpriced",
    "pplx-7B-online": "unpriced",
    "SmolLM2-1.7B-Instruct": "unpriced",
    "falcon-180b-chat": "unpriced",
    "Guanaco-33B": "unpriced",
    "Koala-13B": "unpriced",
    "GPT4All-13B-Snoozy": "unpriced",
    "RWKV-4-Raven-14B": "unpriced",
    "Alpaca-13B": "unpriced",
    "OpenAssistant-Pythia-12B": "unpriced",
    "FastChat-T5-3B": "unpriced",
    "StableLM-Tuned-Alpha-7B": "unpriced",
    "Dolly-V2-12B": "unpriced",
    "LLaMA-13B": "unpriced",
}

# --- llm-value-comparison models.json: model `name` -> refs ----------------------------------

VALUE_COMPARISON_ROWS: dict[str, tuple[str, ...]] = {
    "GPT-4o": GPT_4O,
    "o3": ("openai/o3",),
    "GPT-5.2": ("openai/gpt-5.2",),
    "GPT-5.3 Codex (xhigh)": ("openai/gpt-5.3-codex",),
    "GPT-5.4 (xhigh)": ("openai/gpt-5.4",),
    "GPT-5.5 (xhigh)": ("openai/gpt-5.5",),
    "GPT-OSS 120B": GPT_OSS_120B,
    "Claude Opus 4": ("anthropic/claude-opus-4-0",),
    "Claude Sonnet 4": ("anthropic/claude-sonnet-4-0",),
    "Claude Opus 4.5": ("anthropic/claude-opus-4-5",),
    "Claude Opus 4.6 (Non-reasoning, High Effort)": ("anthropic/claude-opus-4-6",),
    "Claude Opus 4.7 (Non-reasoning, High Effort)": ("anthropic/claude-opus-4-7",),
    "Claude Sonnet 4.6 (Non-reasoning, High Effort)": ("anthropic/claude-sonnet-4-6",),
    "Claude 4.5 Sonnet (Non-reasoning)": ("anthropic/claude-sonnet-4-5",),
    "Claude 4.5 Haiku (Non-reasoning)": ("anthropic/claude-haiku-4-5",),
    "Gemini 2.5 Pro": ("google/gemini-2.5-pro",),
    "Gemini 3 Pro": ("google/gemini-3-pro-preview",),
    "Gemini 3 Flash": ("google/gemini-3-flash-preview",),
    "Gemini 3.1 Pro Preview": ("google/gemini-3.1-pro-preview",),
    "Gemma 4 31B": (
        "cerebras/gemma-4-31b",
        "doubleword/google/gemma-4-31B-it",
        "novita/google/gemma-4-31b-it",
    ),
    "Gemma 4 26B A4B": (
        "google/gemma-4-26b-a4b-it-maas",
        "cloudflare/@cf/google/gemma-4-26b-a4b-it",
        "novita/google/gemma-4-26b-a4b-it",
    ),
    "Llama 3.1 70B": LLAMA_3_1_70B,
    "Llama 3.1 8B": LLAMA_3_1_8B,
    "DeepSeek V3.2 (Non-reasoning)": (
        "deepseek/deepseek-v3.2",
        "avian/deepseek/deepseek-v3.2",
    ),
    "GLM-4.7 (Reasoning)": (
        "zai/GLM-4.7",
        "zhipuai/GLM-4.7",
        "avian/z-ai/glm-4.7",
        "baseten/zai-org/GLM-4.7",
        "cerebras/zai-glm-4.7",
        "novita/zai-org/glm-4.7",
    ),
    "GLM-5 (Reasoning)": ("zai/GLM-5", "zhipuai/GLM-5", "avian/z-ai/glm-5", "novita/zai-org/glm-5"),
    "GLM-4.7 Flash": ("cloudflare/@cf/zai-org/glm-4.7-flash", "novita/zai-org/glm-4.7-flash"),
    "Kimi K2.5 (Reasoning)": (
        "moonshotai/kimi-k2.5",
        "avian/moonshotai/kimi-k2.5",
        "cloudflare/@cf/moonshotai/kimi-k2.5",
        "novita/moonshotai/kimi-k2.5",
    ),
    # minimax/MiniMax-M2 prices M2, M2.1 and M2.5 together and is named M2: not scored as M2.5.
    "MiniMax-M2.5": (
        "minimax/MiniMax-M2.5-highspeed",
        "avian/minimax/minimax-m2.5",
        "novita/minimax/minimax-m2.5",
    ),
    "MiniMax-M2.7": (
        "minimax/MiniMax-M2.7",
        "minimax/MiniMax-M2.7-highspeed",
        "novita/minimax/minimax-m2.7",
        "novita/minimax/minimax-m2.7-highspeed",
    ),
    "Qwen3.5 122B A10B (Reasoning)": (
        "databricks/databricks-qwen35-122b-a10b",
        "novita/qwen/qwen3.5-122b-a10b",
    ),
    "Qwen3.5 35B A3B (Reasoning)": (
        "doubleword/Qwen/Qwen3.5-35B-A3B-FP8",
        "novita/qwen/qwen3.5-35b-a3b",
    ),
    "Qwen3.5 27B (Reasoning)": ("novita/qwen/qwen3.5-27b",),
}

SKIPPED_VALUE_COMPARISON: dict[str, str] = {
    "Claude Opus 4.7 (Reasoning, Max Effort)": "variant",  # the non-reasoning row is mapped
    "GPT-5.2 Codex (xhigh)": "unpriced",
    "DeepSeek V3.1": "ambiguous",  # links and Aider score are DeepSeek V3 (Dec 2024)'s
    "Qwen QwQ-32B": "ambiguous",  # QwQ-32B link, Qwen3-32B's Aider score
}

# --- display names, by an entry's first ref -------------------------------------------------

NAMES: dict[str, str] = {
    "anthropic/claude-2": "Claude 2",
    "anthropic/claude-3-5-haiku-latest": "Claude 3.5 Haiku",
    "anthropic/claude-3-5-sonnet": "Claude 3.5 Sonnet",
    "anthropic/claude-3-7-sonnet-latest": "Claude 3.7 Sonnet",
    "anthropic/claude-3-haiku": "Claude 3 Haiku",
    "anthropic/claude-3-opus-latest": "Claude 3 Opus",
    "anthropic/claude-3-sonnet": "Claude 3 Sonnet",
    "anthropic/claude-haiku-4-5": "Claude Haiku 4.5",
    "anthropic/claude-opus-4-0": "Claude Opus 4",
    "anthropic/claude-opus-4-5": "Claude Opus 4.5",
    "anthropic/claude-opus-4-6": "Claude Opus 4.6",
    "anthropic/claude-opus-4-7": "Claude Opus 4.7",
    "anthropic/claude-sonnet-4-0": "Claude Sonnet 4",
    "anthropic/claude-sonnet-4-5": "Claude Sonnet 4.5",
    "anthropic/claude-sonnet-4-6": "Claude Sonnet 4.6",
    "anthropic/claude-v1": "Claude 1",
    "avian/Meta-Llama-3.1-405B-Instruct": "Llama 3.1 405B Instruct",
    "avian/Meta-Llama-3.1-70B-Instruct": "Llama 3.1 70B Instruct",
    "avian/Meta-Llama-3.1-8B-Instruct": "Llama 3.1 8B Instruct",
    "avian/Meta-Llama-3.3-70B-Instruct": "Llama 3.3 70B Instruct",
    "aws/amazon.nova-lite-v1:0": "Amazon Nova Lite",
    "aws/amazon.nova-micro-v1:0": "Amazon Nova Micro",
    "aws/amazon.nova-pro-v1:0": "Amazon Nova Pro",
    "azure/phi-3-mini-128k-instruct": "Phi-3 Mini 128K Instruct",
    "azure/phi-4": "Phi-4",
    "cerebras/gemma-4-31b": "Gemma 4 31B",
    "cerebras/qwen-3-32b": "Qwen3 32B",
    "cloudflare/@cf/google/gemma-3-12b-it": "Gemma 3 12B",
    "cloudflare/@cf/meta/llama-2-7b-chat-fp16": "Llama 2 7B Chat",
    "cloudflare/@cf/meta/llama-3-8b-instruct": "Llama 3 8B Instruct",
    "cloudflare/@cf/meta/llama-3.2-1b-instruct": "Llama 3.2 1B Instruct",
    "cloudflare/@cf/meta/llama-3.2-3b-instruct": "Llama 3.2 3B Instruct",
    "cloudflare/@cf/meta/llama-4-scout-17b-16e-instruct": "Llama 4 Scout",
    "cloudflare/@cf/mistral/mistral-7b-instruct-v0.1": "Mistral 7B Instruct v0.1",
    "cloudflare/@cf/qwen/qwen2.5-coder-32b-instruct": "Qwen2.5 Coder 32B Instruct",
    "cloudflare/@cf/qwen/qwen3-30b-a3b-fp8": "Qwen3 30B A3B",
    "cloudflare/@cf/qwen/qwq-32b": "QwQ 32B",
    "cloudflare/@cf/zai-org/glm-4.7-flash": "GLM-4.7 Flash",
    "cohere/c4ai-aya-expanse-32b": "Aya Expanse 32B",
    "cohere/c4ai-aya-expanse-8b": "Aya Expanse 8B",
    "cohere/command-a": "Command A",
    "cohere/command-r": "Command R",
    "cohere/command-r-plus": "Command R+",
    "databricks/databricks-llama-4-maverick": "Llama 4 Maverick",
    "databricks/databricks-qwen35-122b-a10b": "Qwen3.5 122B A10B",
    "deepseek/deepseek-chat": "DeepSeek V3 (0324)",
    "deepseek/deepseek-reasoner": "DeepSeek R1 (0528)",
    "deepseek/deepseek-v3.2": "DeepSeek V3.2",
    "doubleword/Qwen/Qwen3.5-35B-A3B-FP8": "Qwen3.5 35B A3B",
    "novita/google/gemma-3-27b-it": "Gemma 3 27B",
    "google/gemini-1.5-flash": "Gemini 1.5 Flash",
    "google/gemini-1.5-pro": "Gemini 1.5 Pro",
    "google/gemini-2.0-flash": "Gemini 2.0 Flash",
    "google/gemini-2.0-flash-lite": "Gemini 2.0 Flash-Lite",
    "google/gemini-2.5-flash": "Gemini 2.5 Flash",
    "google/gemini-2.5-flash-preview": "Gemini 2.5 Flash Preview",
    "google/gemini-2.5-pro": "Gemini 2.5 Pro",
    "google/gemini-3-flash-preview": "Gemini 3 Flash",
    "google/gemini-3-pro-preview": "Gemini 3 Pro",
    "google/gemini-3.1-pro-preview": "Gemini 3.1 Pro",
    "google/gemini-flash-1.5-8b": "Gemini 1.5 Flash-8B",
    "google/gemini-pro": "Gemini 1.0 Pro",
    "google/gemma-2-27b-it": "Gemma 2 27B",
    "google/gemma-4-26b-a4b-it-maas": "Gemma 4 26B A4B",
    "groq/gemma2-9b-it": "Gemma 2 9B",
    "groq/llama2-70b-4096": "Llama 2 70B Chat",
    "groq/llama3-70b-8192": "Llama 3 70B Instruct",
    "minimax/MiniMax-M2.5-highspeed": "MiniMax M2.5",
    "minimax/MiniMax-M2.7": "MiniMax M2.7",
    "minimax/minimax-m1": "MiniMax M1",
    "mistral/magistral-medium": "Magistral Medium",
    "mistral/ministral-8b": "Ministral 8B (24.10)",
    "mistral/mistral-large": "Mistral Large 2",
    "mistral/mistral-medium-2312": "Mistral Medium 1",
    "mistral/mistral-small-24b-instruct-2501": "Mistral Small 3",
    "mistral/mistral-small-3.1-24b-instruct": "Mistral Small 3.1",
    "mistral/mistral-small-3.2-24b-instruct": "Mistral Small 3.2",
    "mistral/mixtral-8x22b-instruct": "Mixtral 8x22B Instruct",
    "mistral/mixtral-8x7b": "Mixtral 8x7B Instruct",
    "moonshotai/kimi-k2-0711-preview": "Kimi K2 (0711)",
    "moonshotai/kimi-k2.5": "Kimi K2.5",
    "novita/deepseek/deepseek-r1": "DeepSeek R1",
    "novita/deepseek/deepseek_v3": "DeepSeek V3",
    "novita/qwen/qwen-2.5-72b-instruct": "Qwen2.5 72B Instruct",
    "novita/qwen/qwen3.5-27b": "Qwen3.5 27B",
    "novita/teknium/openhermes-2.5-mistral-7b": "OpenHermes 2.5 Mistral 7B",
    "openai/chatgpt-4o-latest": "ChatGPT-4o",
    "openai/gpt-3.5-turbo": "GPT-3.5 Turbo",
    "openai/gpt-3.5-turbo-0613": "GPT-3.5 Turbo (0613)",
    "openai/gpt-3.5-turbo-1106": "GPT-3.5 Turbo (1106)",
    "openai/gpt-4": "GPT-4",
    "openai/gpt-4-turbo": "GPT-4 Turbo",
    "openai/gpt-4.1": "GPT-4.1",
    "openai/gpt-4.1-mini": "GPT-4.1 mini",
    "openai/gpt-4.1-nano": "GPT-4.1 nano",
    "openai/gpt-4.5-preview": "GPT-4.5 Preview",
    "openai/gpt-4o": "GPT-4o",
    "openai/gpt-4o-2024-05-13": "GPT-4o (2024-05-13)",
    "openai/gpt-4o-mini": "GPT-4o mini",
    "openai/gpt-5.2": "GPT-5.2",
    "openai/gpt-5.3-codex": "GPT-5.3 Codex",
    "openai/gpt-5.4": "GPT-5.4",
    "openai/gpt-5.5": "GPT-5.5",
    "openai/gpt-oss-120b": "gpt-oss-120b",
    "openai/o1": "o1",
    "openai/o1-mini": "o1-mini",
    "openai/o1-preview": "o1-preview",
    "openai/o3": "o3",
    "openai/o3-mini": "o3-mini",
    "openai/o4-mini": "o4-mini",
    "together/NousResearch/Nous-Hermes-2-Mixtral-8x7B-DPO": "Nous Hermes 2 Mixtral 8x7B DPO",
    "together/WizardLM/WizardLM-13B-V1.2": "WizardLM 13B v1.2",
    "together/codellama/CodeLlama-34b-Instruct-hf": "Code Llama 34B Instruct",
    "together/codellama/CodeLlama-70b-Instruct-hf": "Code Llama 70B Instruct",
    "together/meta-llama/Llama-2-13b-chat-hf": "Llama 2 13B Chat",
    "together/mistralai/Mistral-7B-Instruct-v0.2": "Mistral 7B Instruct v0.2",
    "together/togethercomputer/StripedHyena-Nous-7B": "StripedHyena Nous 7B",
    "together/upstage/SOLAR-10.7B-Instruct-v1.0": "SOLAR 10.7B Instruct",
    "x-ai/grok-3": "Grok 3",
    "x-ai/grok-3-mini": "Grok 3 Mini",
    "x-ai/grok-4-0709": "Grok 4",
    "zai/GLM-4.5": "GLM-4.5",
    "zai/GLM-4.5-Air": "GLM-4.5-Air",
    "zai/GLM-4.7": "GLM-4.7",
    "zai/GLM-5": "GLM-5",
    "zhipuai/GLM-4-Plus": "GLM-4-Plus",
}


class BuildError(Exception):
    """The sources and the tables disagree, or a ref does not check out."""


@dataclass
class Entry:
    refs: tuple[str, ...]
    scores: dict[str, dict[str, str]] = field(default_factory=dict)


def _decimal_text(value: object, where: str) -> str:
    """The published number as a string, checked to be a finite decimal."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BuildError(f"{where}: score {value!r} is not a published number")
    text = str(value).strip()
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise BuildError(f"{where}: score {text!r} is not a decimal") from exc
    if not number.is_finite():
        raise BuildError(f"{where}: score {text!r} is not finite")
    return text


def read_arena_rows(path: Path) -> dict[str, dict[str, str]]:
    """CSV rows by model name; identical duplicate rows collapse, conflicting ones fail."""
    rows: dict[str, dict[str, str]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"model", "arena_score", "votes"} - set(reader.fieldnames or ())
        if missing:
            raise BuildError(f"{path.name}: missing columns {sorted(missing)}")
        for row in reader:
            name = row["model"].strip()
            if name in rows and rows[name]["arena_score"] != row["arena_score"]:
                raise BuildError(f"{path.name}: {name!r} listed twice with different scores")
            rows[name] = row
    return rows


def read_value_comparison(models_path: Path, benchmarks_path: Path) -> dict[str, dict[str, Any]]:
    """value-comparison models by display name, numbers kept as their JSON text."""
    benchmarks = json.loads(benchmarks_path.read_text(encoding="utf-8"))
    for key in VC_INDEXES:
        meta = benchmarks.get(key)
        if not meta or meta.get("higherIsBetter") is not True:
            raise BuildError(f"{benchmarks_path.name}: {key!r} missing or not higher-is-better")
    models = json.loads(models_path.read_text(encoding="utf-8"), parse_float=str, parse_int=str)
    by_name: dict[str, dict[str, Any]] = {}
    for key, model in models.items():
        name = model["name"]
        if name in by_name:
            raise BuildError(f"{models_path.name}: name {name!r} used twice (keys {key!r})")
        by_name[name] = model
    return by_name


def check_tables(
    source: str, names: set[str], mapped: Mapping[str, object], skipped: Mapping[str, str]
) -> None:
    """Every source row is mapped or skipped, exactly once, and the tables name no stale rows."""
    errors = []
    both = sorted(set(mapped) & set(skipped))
    if both:
        errors.append(f"mapped and skipped at once: {both}")
    unknown = sorted(names - set(mapped) - set(skipped))
    if unknown:
        errors.append(f"rows neither mapped nor skipped (review them): {unknown}")
    stale = sorted((set(mapped) | set(skipped)) - names)
    if stale:
        errors.append(f"table rows not in the source: {stale}")
    if errors:
        raise BuildError(f"{source}: " + "; ".join(errors))


def collect(
    arena_rows: Mapping[str, Mapping[str, str]], vc_models: Mapping[str, Mapping[str, Any]]
) -> list[Entry]:
    check_tables(LMARENA, set(arena_rows), ARENA_TEXT, SKIPPED_ARENA_TEXT)
    check_tables(VALUE_COMPARISON, set(vc_models), VALUE_COMPARISON_ROWS, SKIPPED_VALUE_COMPARISON)

    entries: dict[str, Entry] = {}  # by first ref
    owner: dict[str, str] = {}  # ref -> first ref of its entry

    def entry_for(refs: tuple[str, ...], where: str) -> Entry:
        if not refs or len(set(refs)) != len(refs):
            raise BuildError(f"{where}: refs empty or repeated: {refs}")
        entry = entries.get(refs[0])
        if entry is None:
            for ref in refs:
                if ref in owner:
                    raise BuildError(f"{where}: {ref} already belongs to the entry of {owner[ref]}")
                owner[ref] = refs[0]
            entry = entries[refs[0]] = Entry(refs)
        elif entry.refs != refs:
            raise BuildError(f"{where}: refs {refs} differ from the entry's {entry.refs}")
        return entry

    def add(entry: Entry, index: str, score: dict[str, str], where: str) -> None:
        if index in entry.scores:
            listed = entry.scores[index]["listed_as"]
            raise BuildError(f"{where}: {entry.refs[0]} already has {index} from {listed!r}")
        entry.scores[index] = score

    for name, refs in ARENA_TEXT.items():
        where = f"{LMARENA} {name!r}"
        score = _decimal_text(arena_rows[name]["arena_score"], where)
        add(
            entry_for(refs, where),
            "arena_text",
            {
                "score": score,
                "source": LMARENA,
                "listed_as": name,
                "url": INDEXES["arena_text"]["url"],
            },
            where,
        )

    for name, refs in VALUE_COMPARISON_ROWS.items():
        where = f"{VALUE_COMPARISON} {name!r}"
        benchmarks = vc_models[name].get("benchmarks") or {}
        found = [key for key in VC_INDEXES if key in benchmarks]
        if not found:
            raise BuildError(f"{where}: no {', '.join(VC_INDEXES)} score")
        entry = entry_for(refs, where)
        for key in found:
            published = benchmarks[key]
            url = published.get("source") or INDEXES[key]["url"]
            add(
                entry,
                key,
                {
                    "score": _decimal_text(published["score"], f"{where} {key}"),
                    "source": VALUE_COMPARISON,
                    "listed_as": name,
                    "url": url,
                },
                where,
            )

    return sorted(entries.values(), key=lambda entry: entry.refs[0])


def verify_refs(entries: list[Entry]) -> None:
    """Each ref resolves to itself in the bundled price data and has input and output token prices."""
    from marginlens.pricing.book import PriceBook  # the product's own resolution rules

    book = PriceBook.baseline()
    now = datetime.now(UTC)
    errors = []
    for entry in entries:
        for ref in entry.refs:
            resolved = book.resolve(ref)
            if resolved is None:
                errors.append(f"{ref}: not in the price database")
                continue
            if resolved.ref != ref:
                errors.append(f"{ref}: resolves to {resolved.ref}")
                continue
            prices = book.upstream_unit_prices(resolved, now)
            if "input" not in prices or "output" not in prices:
                errors.append(f"{ref}: no input/output token prices ({sorted(prices)})")
    if errors:
        raise BuildError("price-database refs:\n  " + "\n  ".join(errors))


def build(directory: Path) -> dict[str, Any]:
    arena_rows = read_arena_rows(directory / ARENA_CSV)
    vc_models = read_value_comparison(directory / VC_MODELS, directory / VC_BENCHMARKS)
    entries = collect(arena_rows, vc_models)
    verify_refs(entries)

    missing_names = sorted(entry.refs[0] for entry in entries if entry.refs[0] not in NAMES)
    stale_names = sorted(set(NAMES) - {entry.refs[0] for entry in entries})
    if missing_names or stale_names:
        raise BuildError(f"NAMES: missing {missing_names}, stale {stale_names}")
    names = [NAMES[entry.refs[0]] for entry in entries]
    if len(set(names)) != len(names):
        raise BuildError(f"NAMES: display names repeat: {sorted(n for n in names if names.count(n) > 1)}")

    return {
        "about": ABOUT,
        "indexes": INDEXES,
        "sources": SOURCES,
        "models": [
            {
                "name": NAMES[entry.refs[0]],
                "refs": list(entry.refs),
                "scores": {index: entry.scores[index] for index in INDEXES if index in entry.scores},
            }
            for entry in entries
        ],
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} <reference directory>  (the quality sources directory)", file=sys.stderr)
        return 2
    directory = Path(argv[1])
    try:
        data = build(directory)
    except (BuildError, OSError, KeyError, ValueError) as exc:
        print(f"build_quality_data: ERROR: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(json.dumps(data, indent=1, sort_keys=False) + "\n")
    models = data["models"]
    per_index = {index: sum(index in model["scores"] for model in models) for index in INDEXES}
    print(
        f"build_quality_data: {len(models)} models, {sum(len(m['refs']) for m in models)} refs, "
        f"scores {per_index}, skipped {len(SKIPPED_ARENA_TEXT)} arena + "
        f"{len(SKIPPED_VALUE_COMPARISON)} value-comparison rows",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
