"""The memory table in docs/models.md comes from bench_masked_models: the native classes built at the
published shapes have the published parameter counts."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from benchmarks.bench_masked_models import memory  # noqa: E402


def test_the_published_shapes_have_the_published_sizes():
    rows = {row["model"].split()[0]: row for row in memory()}
    # Qwen2.5-7B (Dream's base): 7.62 B; LLaDA-8B: 8.02 B; Qwen2.5-Coder-0.5B (tied head): 0.49 B.
    assert round(rows["Dream-v0"]["parameters"] / 1e9, 2) == 7.62
    assert round(rows["LLaDA-8B"]["parameters"] / 1e9, 2) == 8.02
    assert round(rows["Open-dCoder-0.5B"]["parameters"] / 1e9, 2) == 0.49
    for row in rows.values():
        assert row["fp32_gb"] == pytest.approx(2 * row["bf16_gb"])
