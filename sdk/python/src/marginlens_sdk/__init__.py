"""MarginLens for Python: send each model call's usage, priced per customer, without slowing or
breaking the app.

    import marginlens_sdk
    marginlens = marginlens_sdk.MarginLens()  # MARGINLENS_API_KEY, MARGINLENS_URL
    marginlens.track("acct_123", "gpt-4o-mini", prompt_tokens=120, completion_tokens=80)
"""

from marginlens_sdk._async import AsyncMarginLens
from marginlens_sdk._client import BudgetExceeded, MarginLens, Stats, build_event
from marginlens_sdk._context import context, current_context
from marginlens_sdk.providers import (
    from_anthropic,
    from_bedrock_converse,
    from_gemini,
    from_openai_chat,
    from_openai_responses,
    from_openai_stream,
    usage_of,
)
from marginlens_sdk.wrappers import wrap_anthropic, wrap_openai

__version__ = "0.1.0"
__all__ = [
    "AsyncMarginLens",
    "BudgetExceeded",
    "MarginLens",
    "Stats",
    "build_event",
    "context",
    "current_context",
    "from_anthropic",
    "from_bedrock_converse",
    "from_gemini",
    "from_openai_chat",
    "from_openai_responses",
    "from_openai_stream",
    "usage_of",
    "wrap_anthropic",
    "wrap_openai",
]
