"""Track one model call against the local stack (`make run` prints the admin key):

MARGINLENS_URL=http://127.0.0.1:8787 MARGINLENS_API_KEY=mla_... python sdk/python/examples/quickstart.py
"""

import marginlens_sdk

marginlens = marginlens_sdk.MarginLens()  # MARGINLENS_API_KEY, MARGINLENS_URL

with marginlens_sdk.context(customer_id="acct_123", feature="summarize"):
    request_id = marginlens.track(
        model="gpt-4o-mini", prompt_tokens=1200, completion_tokens=180, cached_tokens=1024
    )

marginlens.close()  # sends what is queued (also done at exit)
print("tracked", request_id, marginlens.stats())
