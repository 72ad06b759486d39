"""How the dashboard's files are served: names confined to static/, types, caching, policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from marginlens.dashboard import site
from marginlens.usage.latency import BUCKET_BOUNDS_MS, LatencySummary, bucket_counter, counter_name, summarise


@pytest.fixture
def static(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_text("<!doctype html><title>MarginLens</title>")
    (tmp_path / "app-5F2KQ3ZL.js").write_text("console.log(1)")
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n")
    (tmp_path / ".secret").write_text("no")
    (tmp_path.parent / "outside.txt").write_text("no")
    return tmp_path


def test_index_is_revalidated_and_hashed_files_are_immutable(static: Path) -> None:
    index = site.asset("index.html", static)
    bundle = site.asset("app-5F2KQ3ZL.js", static)
    assert index is not None and bundle is not None
    assert index.content_type == "text/html; charset=utf-8" and index.headers["Cache-Control"] == "no-cache"
    assert bundle.content_type == "text/javascript; charset=utf-8"
    assert bundle.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    for asset in (index, bundle):
        policy = asset.headers["Content-Security-Policy"]
        assert (
            "script-src 'self'" in policy
            and "connect-src 'self'" in policy
            and "frame-ancestors 'none'" in policy
        )
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert asset.headers["Referrer-Policy"] == "no-referrer"  # no page address leaves the origin
    png = site.asset("logo.png", static)
    assert png is not None and png.content_type == "image/png" and not png.is_text


@pytest.mark.parametrize(
    "name", ["../outside.txt", ".secret", "a/b.js", "", "..", "%2e%2e", "index.html\x00"]
)
def test_a_name_outside_the_bundle_is_not_served(static: Path, name: str) -> None:
    assert site.asset(name, static) is None


def test_a_rebuilt_index_is_served_at_once(static: Path) -> None:
    assert site.asset("index.html", static).body.endswith(b"MarginLens</title>")  # type: ignore[union-attr]
    (static / "index.html").write_text("<!doctype html><title>v2</title>")
    assert site.asset("index.html", static).body.endswith(b"v2</title>")  # type: ignore[union-attr]
    assert site.is_built(static) and not site.is_built(static / "missing")


def test_latency_buckets_and_the_median_read_off_them() -> None:
    assert bucket_counter(0) == counter_name(50) and bucket_counter(50) == counter_name(50)
    assert bucket_counter(51) == counter_name(100) and bucket_counter(10_001) == "lat_over"
    assert summarise([]).median_at_most_ms is None
    rows = [{counter_name(100): 3, counter_name(2500): 2}, {counter_name(2500): 1, "lat_over": 1}]
    summary = summarise(rows)
    assert summary.events == 7 and summary.median_at_most_ms == 2500  # 3 of 7 within 100 ms: not half
    assert LatencySummary(4, {counter_name(100): 2, counter_name(5000): 2}).median_at_most_ms == 100
    assert LatencySummary(2, {"lat_over": 2}).median_at_most_ms is None
    buckets = summary.as_dict()["buckets"]
    assert [bucket["le_ms"] for bucket in buckets] == [*BUCKET_BOUNDS_MS, None]
    assert sum(bucket["events"] for bucket in buckets) == 7
