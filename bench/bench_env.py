"""Imported first by each benchmark: the repo on sys.path, and an environment in which nothing
reaches AWS or prints metrics (before any import can build a boto3 client or a Powertools object)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "shared", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}.items():
    os.environ.setdefault(_name, _value)
