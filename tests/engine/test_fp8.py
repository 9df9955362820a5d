"""FP8 weights (``engine.fp8``): row-wise e4m3 quantization, the linear layer, and which layers change.

On the CPU the layer computes the quantized product in float32 (the reference); on a GPU with FP8
matrix units ``torch._scaled_mm`` must give the same numbers up to bf16 rounding.
"""

import pytest
import torch

from diffusion_lsp.engine.api import ModelLoadError, ModelSpec
from diffusion_lsp.engine.fp8 import E4M3_MAX, Fp8Linear, quantize_linears, quantize_rows


def rel(a, b):
    return float((a.float() - b.float()).norm() / b.float().norm())


def test_quantize_rows_keeps_each_row_within_e4m3_precision():
    x = torch.randn(32, 256) * torch.logspace(-3, 3, 32)[:, None]  # rows of very different scale
    q, scale = quantize_rows(x)
    assert q.dtype == torch.float8_e4m3fn and scale.shape == (32, 1)
    assert torch.allclose(q.float().abs().amax(-1), torch.full((32,), E4M3_MAX))
    back = q.float() * scale
    # e4m3 keeps 3 mantissa bits: at most 1/16 relative error per element above the subnormals
    big = x.abs() > scale * 2**-6
    assert ((back - x).abs()[big] <= x.abs()[big] / 16 + 1e-12).all()
    assert rel(back, x) < 0.04


def test_an_fp8_linear_computes_the_quantized_product():
    torch.manual_seed(0)
    linear = torch.nn.Linear(256, 128, bias=True)
    fp8 = Fp8Linear(linear)
    assert fp8.weight.dtype == torch.float8_e4m3fn and fp8.weight_scale.shape == (1, 128)
    x = torch.randn(3, 5, 256)
    out = fp8(x)
    assert out.shape == (3, 5, 128)
    xq, xs = quantize_rows(x.reshape(-1, 256))
    w = fp8.weight.float() * fp8.weight_scale.t()
    expected = (xq.float() * xs) @ w.t() + linear.bias
    torch.testing.assert_close(out.reshape(-1, 128), expected.detach(), atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        assert rel(out, linear(x)) < 0.06  # and close to the float32 layer it replaced


def test_quantize_linears_leaves_heads_embeddings_and_routers_alone(tmp_path):
    from transformers import DiffusionGemmaForBlockDiffusion

    from diffusion_lsp.engine.testing.tiny_gemma import build

    model = DiffusionGemmaForBlockDiffusion.from_pretrained(build(tmp_path / "g")).eval()
    n = quantize_linears(model)
    kinds = {name: type(m).__name__ for name, m in model.named_modules()}
    layer = "model.decoder.layers.0"
    assert n > 0
    assert kinds[f"{layer}.self_attn.q_proj"] == "Fp8Linear"
    assert kinds[f"{layer}.mlp.down_proj"] == "Fp8Linear"
    assert kinds[f"{layer}.router.proj"] == "Linear"  # routing decisions stay exact
    assert kinds["lm_head"] == "Linear"
    assert "Fp8" not in kinds["model.decoder.embed_tokens"]


def test_a_quantized_masked_model_still_infills(masked_dir):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from diffusion_lsp.engine.api import EngineInfo, InfillRequest
    from diffusion_lsp.engine.masked.engine import MaskedDiffusionEngine

    model = AutoModelForMaskedLM.from_pretrained(masked_dir).eval()
    assert quantize_linears(model) > 0
    assert type(model.decoder).__name__ == "Linear"  # ModernBERT's output layer
    engine = MaskedDiffusionEngine(
        model,
        AutoTokenizer.from_pretrained(masked_dir),
        EngineInfo(str(masked_dir), "masked", "cpu", "float32"),
    )
    result = engine.infill(InfillRequest(prefix="def f(x):\n    return ", suffix="\n", seed=1))
    assert result.nfe > 0 and isinstance(result.text, str)


def test_loading_fp8_without_a_capable_gpu_names_the_fix(masked_dir):
    from diffusion_lsp.engine import load_engine

    if torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 9):
        pytest.skip("this machine has FP8 matrix units")
    with pytest.raises(ModelLoadError, match="compute capability 8.9") as err:
        load_engine(ModelSpec(model=str(masked_dir), quantization="fp8"))
    assert "quantization to none" in err.value.fix


@pytest.mark.skipif(
    not torch.cuda.is_available() or torch.cuda.get_device_capability() < (8, 9),
    reason="needs a GPU with FP8 matrix units",
)
def test_scaled_mm_matches_the_reference_on_the_gpu():
    torch.manual_seed(1)
    linear = torch.nn.Linear(1024, 512, bias=False).to("cuda", torch.bfloat16)
    fp8 = Fp8Linear(linear)
    for rows in (1, 7, 16, 40):  # padded to 16 rows inside
        x = torch.randn(rows, 1024, device="cuda", dtype=torch.bfloat16)
        out = fp8(x)
        xq, xs = quantize_rows(x)
        w = fp8.weight.float() * fp8.weight_scale.t()
        expected = (xq.float() * xs) @ w.t()
        assert out.dtype == torch.bfloat16 and out.shape == (rows, 512)
        assert rel(out, expected) < 1e-2
