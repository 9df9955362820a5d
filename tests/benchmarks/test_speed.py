"""The speed benchmark runs end to end in its --tiny mode on the CPU and writes its docs section."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # benchmarks/ is run from a checkout, not installed
    sys.path.insert(0, str(ROOT))

from benchmarks.speed import configs  # noqa: E402
from benchmarks.speed.__main__ import main  # noqa: E402


def test_tiny_run_measures_every_phase_and_writes_the_section(tmp_path, monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)  # the interpreter is far too slow here
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\n## Quality\n\nkept as is\n")
    assert main(["--tiny", "--out", str(tmp_path / "out"), "--docs", str(docs)]) == 0

    res = json.loads((tmp_path / "out" / "speed.json").read_text())
    assert not res.get("failed"), res.get("failed")
    plan = configs.TINY
    dense, gemma = res["dense"], res["gemma"]
    assert len(dense["rows"]) == len(plan.contexts) * len(plan.lengths)
    assert len(gemma["rows"]) == len(plan.contexts) * len(plan.lengths)
    for row in dense["rows"] + gemma["rows"]:
        assert row["engine"]["p50"] > 0 and row["floor_ms"] > 0
    assert 0.0 <= dense["dual_cache"]["token_agreement_with_uncached"] <= 1.0
    # typing: the first request encodes the whole prompt, later ones only what was typed
    encoded = gemma["typing"]["encoded_per_request"]
    assert encoded[0] == plan.typing_context + 1
    assert all(1 <= n <= 6 for n in encoded[1:])
    assert set(res["kernel"]["rows"][0]) >= {"rows", "vocab", "torch_ms"}
    # the static-shape decoder step: every shape prepared at warm-up, none while typing
    assert gemma["warmup"]["shapes"] > 0
    assert dense["fp8"]["layers"] > 0
    for row in dense["fp8"]["rows"]:
        assert row["fp8"]["p50"] > 0 and 0.0 <= row["token_agreement_with_bf16"] <= 1.0
    assert gemma["typing"]["captures_while_typing"] == 0
    assert 0.0 <= gemma["graphed_vs_eager"]["token_agreement"] <= 1.0
    assert set(gemma["profile"]) == {"eager", "graphed"}
    assert gemma["editor_request"]["graphed"]["p50"] > 0
    for row in gemma["rows"]:
        assert row["eager_cached_prompt"]["p50"] > 0 and row["fused_cached_prompt"]["p50"] > 0

    text = docs.read_text()
    assert "## Quality\n\nkept as is" in text
    assert text.count("## Speed (GPU)") == 1
    assert "| context | infill |" in text
    # rendering again replaces the section instead of adding a second one
    assert main(["--render", str(tmp_path / "out" / "speed.json"), "--docs", str(docs)]) == 0
    assert docs.read_text().count("## Speed (GPU)") == 1


def test_build_random_keeps_shared_weights_shared():
    torch = pytest.importorskip("torch")
    from transformers import DiffusionGemmaForBlockDiffusion

    cfg = configs.gemma_config(tiny=True)
    model = configs.build_random(
        DiffusionGemmaForBlockDiffusion, cfg, torch.device("cpu"), torch.float32
    )
    ref = DiffusionGemmaForBlockDiffusion(cfg)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in ref.parameters())
    enc = model.model.encoder.language_model.layers[0].experts.gate_up_proj
    assert enc is model.model.decoder.layers[0].experts.gate_up_proj
    ref_buffers = dict(ref.named_buffers())
    for name, buf in model.named_buffers():
        assert torch.equal(buf, ref_buffers[name]), name
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize(
    "command", [["-m", "benchmarks.speed"], [str(ROOT / "benchmarks" / "bench_speed.py")]]
)
def test_the_command_lines_start(command, tmp_path):
    # gpu_session.sh and the docs run the package; the old script name still works
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, *command, "--help"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "--tiny" in out.stdout and "--render" in out.stdout
