"""Every OpenAI call tracked, with the customer and feature of the surrounding context. Point the
OpenAI client at any OpenAI-compatible server (OPENAI_BASE_URL), or at OpenAI itself.

    MARGINLENS_URL=http://127.0.0.1:8787 MARGINLENS_API_KEY=mla_... OPENAI_API_KEY=sk-... \\
        python sdk/python/examples/openai_wrapped.py
"""

import marginlens_sdk
import openai

marginlens = marginlens_sdk.MarginLens()
client = marginlens_sdk.wrap_openai(openai.OpenAI(), marginlens)

with marginlens_sdk.context(customer_id="acct_123", feature="summarize"):
    if marginlens.guard():  # over budget? then do not pay for the call
        answer = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Summarize: MarginLens joins cost to revenue."}],
        )
        print(answer.choices[0].message.content)

marginlens.close()
print(marginlens.stats())
