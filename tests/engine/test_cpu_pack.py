"""Linear layers packed for the CPU's matrix kernels, and GeGLU MLPs fused into them: the same model,
the same numbers, faster."""

from __future__ import annotations

import pytest
import torch

from diffusion_lsp.engine import cpu_pack
from diffusion_lsp.engine.api import InfillRequest, ModelSpec
from diffusion_lsp.engine.cpu_pack import (
    PackedGeGLU,
    PackedLinear,
    can_pack,
    fuse_geglu,
    pack_linears,
)

pytestmark = pytest.mark.skipif(not can_pack(torch.float32), reason="this torch has no oneDNN")


def _load(path, dtype):
    from transformers import AutoModelForMaskedLM

    return AutoModelForMaskedLM.from_pretrained(path, dtype=dtype).eval()


def _same_logits(plain, other, dtype, seed):
    """Whether ``other`` gives ``plain``'s logits on random ids, within the dtype's rounding."""
    ids = torch.randint(5, 100, (2, 24), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        want, got = plain(input_ids=ids).logits.float(), other(input_ids=ids).logits.float()
    tol = 1e-4 if dtype == torch.float32 else 2e-2
    return torch.allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_packed_model_computes_what_the_plain_one_does(masked_dir, dtype):
    plain, packed = _load(masked_dir, dtype), _load(masked_dir, dtype)
    linears = sum(type(m) is torch.nn.Linear for m in packed.modules())
    assert pack_linears(packed) == linears > 0
    assert not any(type(m) is torch.nn.Linear for m in packed.modules())
    assert _same_logits(plain, packed, dtype, seed=0)


def test_counts_and_tied_weights_stay_as_they_were(masked_dir):
    from diffusion_lsp.train.model import count_parameters

    plain, packed = _load(masked_dir, torch.float32), _load(masked_dir, torch.float32)
    pack_linears(packed)
    assert count_parameters(packed) == count_parameters(plain)
    head = packed.get_output_embeddings()
    assert isinstance(head, PackedLinear)
    assert head.weight is packed.get_input_embeddings().weight  # still tied, counted once


def test_the_masked_engine_on_the_cpu_runs_packed(masked_dir, monkeypatch):
    from diffusion_lsp.engine import load_engine

    engine = load_engine(ModelSpec(model=str(masked_dir), device="cpu", dtype="float32"))
    assert isinstance(engine.model.get_output_embeddings(), PackedLinear)
    assert all(isinstance(layer.mlp, PackedGeGLU) for layer in engine.model.model.layers)
    monkeypatch.setattr(cpu_pack, "pack_linears", lambda model: 0)
    monkeypatch.setattr(cpu_pack, "fuse_geglu", lambda model: 0)
    plain = load_engine(ModelSpec(model=str(masked_dir), device="cpu", dtype="float32"))
    assert type(plain.model.get_output_embeddings()) is torch.nn.Linear
    assert not any(isinstance(m, PackedGeGLU) for m in plain.model.modules())
    request = InfillRequest("def add(a, b):\n    ", "\n", lengths=(4, 8), steps=4, alternatives=2)
    got, want = engine.infill(request).alternatives, plain.infill(request).alternatives
    assert [(c.text, c.length) for c in got] == [(c.text, c.length) for c in want]
    for a, b in zip(got, want):
        assert a.confidence == pytest.approx(b.confidence, rel=1e-4)


def test_without_onednn_or_in_an_unpacked_dtype_nothing_is_swapped(masked_dir, monkeypatch):
    assert not can_pack(torch.float16)
    assert can_pack("bfloat16") == can_pack(torch.bfloat16)  # a name as doctor passes it
    model = _load(masked_dir, torch.float32)
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    assert pack_linears(model) == 0
    assert any(type(m) is torch.nn.Linear for m in model.modules())


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_fused_geglu_computes_what_the_mlp_does(masked_dir, dtype):
    from diffusion_lsp.train.model import count_parameters

    plain, fused = _load(masked_dir, dtype), _load(masked_dir, dtype)
    layers = len(fused.model.layers)
    assert fuse_geglu(fused) == layers > 0
    assert pack_linears(fused) > 0
    assert all(isinstance(layer.mlp, PackedGeGLU) for layer in fused.model.layers)
    assert all(isinstance(layer.mlp.Wo, PackedLinear) for layer in fused.model.layers)
    assert count_parameters(fused) == count_parameters(plain)
    assert _same_logits(plain, fused, dtype, seed=1)


def test_a_geglu_with_another_activation_is_left_alone(masked_dir):
    from transformers import AutoConfig, AutoModelForMaskedLM

    for act, fused in (("gelu_pytorch_tanh", True), ("silu", False)):
        config = AutoConfig.from_pretrained(masked_dir, hidden_activation=act)
        model = AutoModelForMaskedLM.from_pretrained(masked_dir, config=config).eval()
        assert (fuse_geglu(model) > 0) is fused
        if fused:
            assert model.model.layers[0].mlp.approximate == "tanh"
