"""`python -m marginlens.api.openapi`: the OpenAPI document the API serves (docs/openapi.json)."""

from __future__ import annotations

import json
import sys

from marginlens.api.public import public_api


def generate() -> str:
    return json.dumps(json.loads(public_api().openapi_document), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(generate())
