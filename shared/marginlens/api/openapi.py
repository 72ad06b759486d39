"""`python -m marginlens.api.openapi`: the OpenAPI document the API serves (docs/openapi.json)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def generate() -> str:
    root = Path(__file__).resolve().parents[2]
    if str(root) not in sys.path:  # `functions/` sits at the project root
        sys.path.insert(0, str(root))
    from functions.api.handler import app

    return json.dumps(json.loads(app.get_openapi_json_schema()), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(generate())
