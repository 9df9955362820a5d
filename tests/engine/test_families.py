"""The masked code models load natively, from tiny random checkpoints in their published layouts.

Each checkpoint (``engine/testing/published.py``) has its family's published config keys, tensor names and
special tokens, and no modeling code. They load through ``load_engine`` with no trust flag, their
forward equals a hand-written forward of the same tensors in the family's documented convention
(bidirectional; Dream's logits shifted, LLaDA's not), padded rows equal unpadded ones, and no
special, mask or padding id ever reaches an output.
"""

from __future__ import annotations

import json
import math
import shutil

import pytest

from diffusion_lsp.cli import main
from diffusion_lsp.engine import load_engine
from diffusion_lsp.engine.api import InfillRequest, ModelLoadError, ModelSpec, RefineRequest
from diffusion_lsp.engine.testing.published import FAMILIES, LAYERS, build

# What each published checkpoint is recognised as.
RECOGNISED = {
    "dream": "dream",
    "diffucoder": "dream",
    "dream-coder": "dream",
    "dreamon": "dreamon",
    "llada": "llada",
    "open-dcoder": "open-dcoder",
}
SHIFTED = {f: f != "llada" for f in FAMILIES}

# The published tensor names (dream/weight-names.txt, llada/weight-names.txt), layer by layer.
QWEN2_LAYER = [
    "input_layernorm.weight",
    "mlp.down_proj.weight",
    "mlp.gate_proj.weight",
    "mlp.up_proj.weight",
    "post_attention_layernorm.weight",
    *(f"self_attn.{p}_proj.{t}" for p in "kqv" for t in ("bias", "weight")),
    "self_attn.o_proj.weight",
]
LLADA_LAYER = [
    f"{n}.weight"
    for n in ("attn_norm", "attn_out", "ff_norm", "ff_out", "ff_proj", "k_proj")
    + ("q_proj", "up_proj", "v_proj")
]
PUBLISHED_NAMES = {
    "qwen2": {"lm_head.weight", "model.embed_tokens.weight", "model.norm.weight"}
    | {f"model.layers.{i}.{n}" for i in range(LAYERS) for n in QWEN2_LAYER},
    "llada": {
        "model.transformer.wte.weight",
        "model.transformer.ln_f.weight",
        "model.transformer.ff_out.weight",
    }
    | {f"model.transformer.blocks.{i}.{n}" for i in range(LAYERS) for n in LLADA_LAYER},
}

SOURCE = "def add(a, b):\n    return \n\nprint(add(1, 2))\n"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    return {f: build(tmp_path_factory.mktemp(f), f, seed=1) for f in FAMILIES}


@pytest.fixture(scope="module")
def engines(checkpoints):
    return {f: load_engine(ModelSpec(model=str(d), device="cpu")) for f, d in checkpoints.items()}


def _config(path):
    return json.loads((path / "config.json").read_text())


@pytest.mark.parametrize("family", FAMILIES)
def test_the_checkpoints_have_the_published_layout_and_no_code(checkpoints, family):
    from safetensors import safe_open

    path = checkpoints[family]
    config = _config(path)
    assert not list(path.glob("*.py"))
    with safe_open(str(path / "model.safetensors"), "pt") as f:
        names = set(f.keys())
    assert names == PUBLISHED_NAMES["llada" if family == "llada" else "qwen2"]
    if family == "llada":
        assert config["model_type"] == "llada" and config["architectures"] == ["LLaDAModelLM"]
        assert config["auto_map"]["AutoModel"] == "modeling_llada.LLaDAModelLM"
        assert (path / "tokenizer.json").is_file()
    elif family == "open-dcoder":
        assert config["model_type"] == "qwen2" and "auto_map" not in config
        assert "is_causal" not in config  # bidirectional is the loader's job, not the config's
    else:
        assert config["model_type"] == "Dream" and config["architectures"] == ["DreamModel"]
        assert config["auto_map"]["AutoModel"] == "modeling_dream.DreamModel"
        tok = json.loads((path / "tokenizer_config.json").read_text())
        assert tok["tokenizer_class"] == "DreamTokenizer"
        assert {"vocab.json", "merges.txt", "added_tokens.json"} <= {p.name for p in path.iterdir()}


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_loads_natively_and_is_recognised(engines, family):
    engine = engines[family]
    config = engine.model.config
    base = "LlamaForCausalLM" if family == "llada" else "Qwen2ForCausalLM"
    assert type(engine.model).__name__ == base
    assert type(engine.model).__module__.startswith("transformers.models.")
    assert config.diffusion_family == RECOGNISED[family]
    assert config.is_causal is False and engine.shift is SHIFTED[family]
    assert engine.info.family == "masked"


def test_a_known_family_never_runs_its_code_even_when_allowed(checkpoints, monkeypatch):
    import transformers

    seen = []
    real = transformers.Qwen2ForCausalLM.from_pretrained

    def spy(*args, **kwargs):
        seen.append(kwargs.get("trust_remote_code"))
        return real(*args, **kwargs)

    monkeypatch.setattr(transformers.Qwen2ForCausalLM, "from_pretrained", spy)
    spec = ModelSpec(model=str(checkpoints["dream"]), device="cpu", trust_remote_code=True)
    engine = load_engine(spec)
    assert seen == [False] and engine.model.config.diffusion_family == "dream"


def test_special_ids_come_from_each_checkpoint(checkpoints, engines):
    def ids(family):
        tok = json.loads((checkpoints[family] / "tokenizer_config.json").read_text())
        return {t["content"]: int(i) for i, t in tok["added_tokens_decoder"].items()}

    dream, s = ids("dream"), engines["dream"].special
    assert s.mask == dream["<|mask|>"] == _config(checkpoints["dream"])["mask_token_id"]
    assert {dream["<|endoftext|>"], dream["<|im_end|>"]} <= s.stop
    assert {dream["<|fim_prefix|>"], dream["<|im_start|>"], dream["<|beginoftext|>"]} <= s.banned
    assert engines["dream"]._lead == (dream["<|beginoftext|>"],)  # shifted: a first token
    assert engines["dream"].default_steps is None  # not the generation config's 512
    diffucoder = ids("diffucoder")
    assert diffucoder["<|dlm_pad|>"] in engines["diffucoder"].special.filler
    dreamon = ids("dreamon")
    assert engines["dreamon"].special.expand == dreamon["<|expand|>"] == dreamon["<|mask|>"] + 1
    llada, s = ids("llada"), engines["llada"].special
    assert engines["llada"].tokenizer.mask_token is None  # LLaDA's mask is in its config only
    assert s.mask == llada["<|mdm_mask|>"] == _config(checkpoints["llada"])["mask_token_id"]
    assert s.lead == (llada["<|startoftext|>"],)
    assert {llada["<|endoftext|>"], llada["<|eot_id|>"]} <= s.stop
    assert {llada["<|reserved_token_7|>"], llada["[gMASK]"], llada["<|start_header_id|>"]} <= (
        s.banned
    )
    rows = _config(checkpoints["llada"])["embedding_size"]
    assert set(range(len(engines["llada"].tokenizer), rows)) <= s.banned
    assert engines["open-dcoder"].special.mask == ids("open-dcoder")["<M>"]


# -- the reference forward: the raw published tensors, in each family's documented convention --


def _reference_logits(path, family, tokens):
    """Logits [L, V] of one unpadded row, from the safetensors file alone: a bidirectional
    Qwen2 (q/k/v biases, rope theta 1e6) or Llama (LLaDA's names, no biases) forward."""
    import torch
    from safetensors.torch import load_file

    config = _config(path)
    w = load_file(str(path / "model.safetensors"))
    if family == "llada":
        hidden, heads, kv = config["d_model"], config["n_heads"], config["n_kv_heads"]
        eps, layers = config["rms_norm_eps"], config["n_layers"]

        def t(i, name):
            return w[f"model.transformer.blocks.{i}.{name}.weight"]

        names = dict(
            embed=w["model.transformer.wte.weight"],
            norm=w["model.transformer.ln_f.weight"],
            head=w["model.transformer.ff_out.weight"],
        )
        layer = {
            "in": "attn_norm",
            "post": "ff_norm",
            "q": "q_proj",
            "k": "k_proj",
            "v": "v_proj",
            "o": "attn_out",
            "gate": "ff_proj",
            "up": "up_proj",
            "down": "ff_out",
        }

        def get(i, key):
            return t(i, layer[key]), None
    else:
        hidden, heads = config["hidden_size"], config["num_attention_heads"]
        kv, eps, layers = (
            config["num_key_value_heads"],
            config["rms_norm_eps"],
            config["num_hidden_layers"],
        )
        names = dict(
            embed=w["model.embed_tokens.weight"],
            norm=w["model.norm.weight"],
            head=w["lm_head.weight"],
        )
        layer = {
            "in": "input_layernorm",
            "post": "post_attention_layernorm",
            "q": "self_attn.q_proj",
            "k": "self_attn.k_proj",
            "v": "self_attn.v_proj",
            "o": "self_attn.o_proj",
            "gate": "mlp.gate_proj",
            "up": "mlp.up_proj",
            "down": "mlp.down_proj",
        }

        def get(i, key):
            p = f"model.layers.{i}.{layer[key]}"
            return w[p + ".weight"], w.get(p + ".bias")

    dim = hidden // heads
    theta = config["rope_theta"]

    def rms(x, g):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * g

    def lin(x, i, key):
        weight, bias = get(i, key)
        y = x @ weight.T
        return y if bias is None else y + bias

    n = len(tokens)
    inv = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    ang = torch.arange(n, dtype=torch.float64)[:, None] * inv[None]  # [L, dim/2]
    cos, sin = torch.cat([ang.cos()] * 2, -1).float(), torch.cat([ang.sin()] * 2, -1).float()

    def rope(x):  # [h, L, dim]
        half = torch.cat([-x[..., dim // 2 :], x[..., : dim // 2]], -1)
        return x * cos + half * sin

    x = names["embed"][torch.tensor(tokens)]
    for i in range(layers):
        h = rms(x, get(i, "in")[0])
        q = lin(h, i, "q").view(n, heads, dim).transpose(0, 1)
        k = lin(h, i, "k").view(n, kv, dim).transpose(0, 1)
        v = lin(h, i, "v").view(n, kv, dim).transpose(0, 1)
        q, k = rope(q), rope(k)
        k, v = k.repeat_interleave(heads // kv, 0), v.repeat_interleave(heads // kv, 0)
        att = (q @ k.transpose(1, 2) / math.sqrt(dim)).softmax(-1)  # no causal mask
        x = x + lin((att @ v).transpose(0, 1).reshape(n, hidden), i, "o")
        h = rms(x, get(i, "post")[0])
        gate, up = lin(h, i, "gate"), lin(h, i, "up")
        x = x + lin(torch.nn.functional.silu(gate) * up, i, "down")
    return rms(x, names["norm"]) @ names["head"].T


@pytest.mark.parametrize("family", FAMILIES)
def test_the_native_forward_equals_the_reference_forward(checkpoints, engines, family):
    import torch

    engine = engines[family]
    gen = torch.Generator().manual_seed(3)
    tokens = torch.randint(0, len(engine.tokenizer), (1, 12), generator=gen)
    positions = torch.arange(1, 12)
    rows = (torch.zeros_like(positions), positions)
    got = engine.denoiser(tokens, torch.ones_like(tokens, dtype=torch.bool), rows)
    ref = _reference_logits(checkpoints[family], family, tokens[0].tolist())
    # Shifted families read token i's logits at position i - 1.
    expected = ref[positions - 1] if SHIFTED[family] else ref[positions]
    assert torch.allclose(got, expected, atol=2e-4, rtol=1e-4), (got - expected).abs().max()
    # And the other convention does not match: the test can tell them apart.
    other = ref[positions] if SHIFTED[family] else ref[positions - 1]
    assert not torch.allclose(got, other, atol=1e-2)


@pytest.mark.parametrize("family", FAMILIES)
def test_padded_rows_equal_unpadded_runs(engines, family):
    import torch

    engine = engines[family]
    gen = torch.Generator().manual_seed(4)
    long = torch.randint(0, len(engine.tokenizer), (12,), generator=gen)
    short = long[:7].clone()
    short[6] = engine.special.mask
    batch = torch.full((2, 12), engine.special.pad)
    batch[0], batch[1, :7] = long, short
    attention = batch != -1
    attention[1, 7:] = False
    rows = (torch.tensor([0, 0, 1, 1]), torch.tensor([5, 11, 3, 6]))
    padded = engine.denoiser(batch, attention, rows)
    alone_long = engine.denoiser(
        long[None],
        torch.ones(1, 12, dtype=torch.bool),
        (
            torch.tensor([0, 0]),
            torch.tensor([5, 11]),
        ),
    )
    alone_short = engine.denoiser(
        short[None],
        torch.ones(1, 7, dtype=torch.bool),
        (
            torch.tensor([0, 0]),
            torch.tensor([3, 6]),
        ),
    )
    assert torch.allclose(padded[:2], alone_long, atol=1e-4)
    assert torch.allclose(padded[2:], alone_short, atol=1e-4)
    # An infill batches several hole lengths as padded rows: each equals its run alone. (Lengths
    # given: DreamOn's default infill is the expanding loop, one row per alternative.)
    request = InfillRequest(
        prefix="def add(a, b):\n    return ", suffix="\n", max_tokens=6, lengths=(2, 4, 6)
    )
    batched = engine.infill(request)
    for candidate in batched.alternatives[:1]:
        alone = engine.infill(
            InfillRequest(
                prefix=request.prefix, suffix="\n", max_tokens=6, lengths=(candidate.length,)
            )
        )
        assert alone.text == candidate.text


class _DecodeSpy:
    """The engine's tokenizer, recording every id list it decodes (what reaches the output)."""

    def __init__(self, tokenizer):
        self._tokenizer, self.decoded = tokenizer, []

    def __call__(self, *args, **kwargs):
        return self._tokenizer(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._tokenizer, name)

    def decode(self, ids, *args, **kwargs):
        self.decoded.append(list(ids))
        return self._tokenizer.decode(ids, *args, **kwargs)


@pytest.mark.parametrize("family", FAMILIES)
def test_no_special_or_padding_id_reaches_the_output(tmp_path, family):
    import torch

    path = build(tmp_path / family, family, seed=2, favour="banned")
    engine = load_engine(ModelSpec(model=str(path), device="cpu"))
    banned = engine.special.banned
    assert engine.special.mask in banned and len(engine.tokenizer) in banned
    # The model does favour the banned ids: without the ban they would be written.
    tokens = torch.tensor([[*engine._lead, 5, 6, engine.special.mask, 7]])
    pos = torch.tensor([len(engine._lead) + 2])
    logits = engine.denoiser(tokens, torch.ones_like(tokens, dtype=torch.bool), (pos * 0, pos))
    assert int(logits.argmax()) in banned
    spy = _DecodeSpy(engine.tokenizer)
    engine.tokenizer = spy
    engine.infill(InfillRequest(prefix="def add(a, b):\n    return ", suffix="\n", max_tokens=8))
    engine.refine(RefineRequest(prefix="x = ", text="add(1, 2)", suffix="\n", fraction=1.0))
    written = {i for ids in spy.decoded for i in ids}
    assert written, "nothing was decoded; the test would prove nothing"
    assert not written & banned
    assert all(i < len(spy._tokenizer) for i in written)


# -- the commands users run --------------------------------------------------------------------


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "demo.py"
    path.write_text(SOURCE)
    return path


@pytest.mark.parametrize("family", FAMILIES)
def test_infill_and_refine_through_the_cli(checkpoints, source, capsys, family):
    model = str(checkpoints[family])
    common = ["--model", model, "--device", "cpu", "--json"]
    assert main(["infill", str(source), "--at", "2:12", *common, "--max-tokens", "6"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert isinstance(out["text"], str) and 1 <= out["nfe"] <= 6
    assert main(["refine", str(source), "--range", "4:7-4:16", *common, "--steps", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["range"] == {"start": {"line": 4, "column": 7}, "end": {"line": 4, "column": 16}}
    assert out["nfe"] == 3  # the scoring forward and two steps


def test_the_family_flag_overrides_what_the_checkpoint_says(checkpoints, source, capsys):
    import argparse

    from diffusion_lsp.cli.common import add_model_arguments, spec_from_args

    parser = argparse.ArgumentParser()
    add_model_arguments(parser)
    args = parser.parse_args(["--model", str(checkpoints["dreamon"]), "--family", "dream"])
    assert spec_from_args(args).family == "dream"
    engine = load_engine(spec_from_args(args))
    assert engine.model.config.diffusion_family == "dream"  # not dreamon: the override wins
    argv = ["infill", str(source), "--at", "2:12", "--model", str(checkpoints["llada"])]
    assert main([*argv, "--family", "open-dcoder", "--max-tokens", "4"]) == 1  # not a Qwen2
    assert "diffusion-lsp:" in capsys.readouterr().err


def test_a_plain_qwen2_without_a_mask_token_is_still_no_diffusion_model(checkpoints, tmp_path):
    path = tmp_path / "qwen2"
    shutil.copytree(checkpoints["open-dcoder"], path)
    tok = json.loads((path / "tokenizer_config.json").read_text())
    mask = next(int(i) for i, t in tok["added_tokens_decoder"].items() if t["content"] == "<M>")
    tok.pop("mask_token")
    (path / "tokenizer_config.json").write_text(json.dumps(tok))
    config = _config(path)
    (path / "config.json").write_text(json.dumps({**config, "mask_token_id": mask}))
    with pytest.raises(ModelLoadError) as err:
        load_engine(ModelSpec(model=str(path), device="cpu"))
    assert "not a diffusion model" in err.value.message
    # Told the family, it loads: bidirectional, shifted, the mask from the config.
    engine = load_engine(ModelSpec(model=str(path), device="cpu", family="open-dcoder"))
    assert engine.shift is True and engine.model.config.is_causal is False
    assert engine.special.mask == mask


MYSTERY_CONFIG = """
from transformers import PretrainedConfig


class MysteryConfig(PretrainedConfig):
    model_type = "mystery"
"""
MYSTERY_MODEL = """
from transformers import PreTrainedModel

from .configuration_mystery import MysteryConfig


class MysteryModel(PreTrainedModel):
    config_class = MysteryConfig

    def __init__(self, config):
        raise KeyError("default")  # as Dream's rotary lookup fails under transformers 5
"""


def test_an_error_in_remote_code_is_one_message_naming_both_versions(checkpoints, tmp_path):
    import transformers

    path = tmp_path / "mystery"
    shutil.copytree(checkpoints["llada"], path)
    config = _config(path)
    config.update(
        model_type="mystery",
        architectures=["MysteryModel"],
        auto_map={
            "AutoConfig": "configuration_mystery.MysteryConfig",
            "AutoModel": "modeling_mystery.MysteryModel",
        },
    )
    (path / "config.json").write_text(json.dumps(config))
    (path / "configuration_mystery.py").write_text(MYSTERY_CONFIG)
    (path / "modeling_mystery.py").write_text(MYSTERY_MODEL)
    with pytest.raises(ModelLoadError) as err:
        load_engine(ModelSpec(model=str(path), device="cpu"))
    assert "trust_remote_code" in err.value.fix  # off by default
    with pytest.raises(ModelLoadError) as err:
        load_engine(ModelSpec(model=str(path), device="cpu", trust_remote_code=True))
    message = err.value.message
    assert "KeyError" in message and "4.46.3" in message and transformers.__version__ in message
    assert "--family" in err.value.fix


@pytest.mark.parametrize("family", FAMILIES)
def test_the_dual_cache_fast_path_runs_each_family_exactly_on_its_first_step(engines, family):
    """The fast path (on by default on CUDA for these layouts) on the CPU: its first step over a
    fresh canvas equals the plain forward (which equals the reference, above)."""
    import torch

    from diffusion_lsp.engine.masked.cache import DualCacheDenoiser
    from diffusion_lsp.engine.masked.denoiser import pick_denoiser
    from diffusion_lsp.engine.tokens import build_canvas

    engine = engines[family]
    picked = pick_denoiser(engine.model, engine.shift, fast_path=True)
    assert isinstance(picked, DualCacheDenoiser)  # layout supported
    # As on CUDA: each row its own prefill (the CPU's shared prefill is an approximation).
    fast = DualCacheDenoiser(engine.model, engine.shift, share_prefill=False)
    mask = engine.special.mask
    rows = [([*engine._lead, 11, 12, 13], [mask] * n, [14, 15]) for n in (2, 5)]
    canvas = build_canvas(rows, [[True] * n for n in (2, 5)], engine.special.pad, "cpu")
    sel = (canvas.tokens == mask).nonzero(as_tuple=True)
    expected = engine.denoiser(canvas.tokens, canvas.attention, sel)
    got = fast(canvas.tokens, canvas.attention, sel)
    assert torch.allclose(got, expected, atol=2e-4, rtol=1e-4), (got - expected).abs().max()
