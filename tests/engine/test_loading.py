"""Model loading: every failure the user can fix ends in one ModelLoadError naming the fix."""

from __future__ import annotations

import json
import shutil

import pytest

from diffusion_lsp.engine import devices, load_engine, loading
from diffusion_lsp.engine.api import ModelLoadError, ModelSpec


def _copy(src, tmp_path, name="copy"):
    dst = tmp_path / name
    shutil.copytree(src, dst)
    return dst


def _edit_json(path, **changes):
    data = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(json.dumps(data))


def test_importing_the_engine_package_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, diffusion_lsp.engine; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_directory_names_the_setting(tmp_path):
    with pytest.raises(ModelLoadError) as err:
        load_engine(ModelSpec(model=str(tmp_path / "nowhere")))
    assert "no model directory" in err.value.message and "model" in err.value.fix


def test_directory_without_a_config(tmp_path):
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_engine(ModelSpec(model=str(tmp_path)))


def test_missing_embedded_model_says_to_set_a_model(tmp_path, monkeypatch):

    monkeypatch.setattr(loading, "DEFAULT_MODEL_DIR", tmp_path / "code-small")
    with pytest.raises(ModelLoadError) as err:
        load_engine(ModelSpec(model=None))
    assert "embedded default model" in err.value.message and "--model" in err.value.fix


def test_offline_hub_says_so_and_how_to_fix_it(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as err:
        load_engine(ModelSpec(model="nobody-here/no-such-model-xyz"))
    assert "offline" in err.value.message and "local directory" in err.value.fix


def test_remote_code_needs_the_setting(tmp_path):
    # An architecture no native family knows (Dream and LLaDA load without their code).
    (tmp_path / "config.json").write_text(
        json.dumps({"model_type": "mystery", "auto_map": {"AutoModel": "modeling_mystery.Model"}})
    )
    with pytest.raises(ModelLoadError) as err:
        load_engine(ModelSpec(model=str(tmp_path)))
    assert "trust_remote_code" in err.value.fix


def test_causal_lm_is_an_unsupported_architecture(shifted_dir, tmp_path):
    causal = _copy(shifted_dir, tmp_path)
    _edit_json(causal / "config.json", is_causal=None)
    with pytest.raises(ModelLoadError) as err:
        load_engine(ModelSpec(model=str(causal)))
    assert "not a diffusion model" in err.value.message and "masked LM" in err.value.fix


def test_mask_id_falls_back_to_the_config(shifted_dir, tmp_path):
    ckpt = _copy(shifted_dir, tmp_path)
    mask_id = json.loads((ckpt / "config.json").read_text())["mask_token_id"]
    _edit_json(ckpt / "tokenizer_config.json", mask_token=None)
    engine = load_engine(ModelSpec(model=str(ckpt)))
    assert engine.tokenizer.mask_token_id is None
    assert engine.special.mask == mask_id


def test_checkpoint_without_a_mask_token_gets_a_clear_error(shifted_dir, tmp_path):
    ckpt = _copy(shifted_dir, tmp_path)
    _edit_json(ckpt / "tokenizer_config.json", mask_token=None)
    _edit_json(ckpt / "config.json", mask_token_id=None)
    with pytest.raises(ModelLoadError) as err:
        load_engine(ModelSpec(model=str(ckpt)))
    assert "no mask token" in err.value.message and "mask_token_id" in err.value.fix


def test_shift_follows_the_config_override(shifted_dir, tmp_path):
    ckpt = _copy(shifted_dir, tmp_path)
    _edit_json(ckpt / "config.json", diffusion_shift_logits=False)
    assert load_engine(ModelSpec(model=str(ckpt))).shift is False


def test_progress_is_reported_and_info_filled(masked_dir):
    seen = []
    engine = load_engine(ModelSpec(model=str(masked_dir)), lambda m, f: seen.append((m, f)))
    assert seen[-1] == ("ready", 1.0) and len(seen) >= 4
    expected = str(devices.resolve_dtype("auto", "cpu")).removeprefix("torch.")
    assert engine.info.family == "masked" and engine.info.dtype == expected
    assert engine.info.device == "cpu" and engine.info.parameters > 0


def test_trust_remote_code_is_never_passed_for_a_native_model(masked_dir, monkeypatch):
    import transformers

    seen = []
    real = transformers.AutoModelForMaskedLM.from_pretrained

    def spy(*args, **kwargs):
        seen.append(kwargs.get("trust_remote_code"))
        return real(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForMaskedLM, "from_pretrained", spy)
    load_engine(ModelSpec(model=str(masked_dir), trust_remote_code=True))
    assert seen == [False]


def test_tiny_builder_is_deterministic(tmp_path):
    from diffusion_lsp.engine.testing.tiny import build_masked

    a = build_masked(tmp_path / "a", seed=3)
    b = build_masked(tmp_path / "b", seed=3)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes()


ZEN5_FLAGS = "fpu vme sse sse2 avx2 avx512f avx512bw avx512_bf16 avx512_vnni"
SKYLAKE_FLAGS = "fpu vme sse sse2 avx2 avx512f avx512bw avx512_vnni"


def test_native_bf16_is_read_from_the_cpu_flags():
    assert devices.cpu_has_native_bf16(ZEN5_FLAGS)
    assert devices.cpu_has_native_bf16("sse2 avx2 amx_tile amx_bf16 amx_int8")
    assert not devices.cpu_has_native_bf16(SKYLAKE_FLAGS)
    assert not devices.cpu_has_native_bf16("")


@pytest.mark.parametrize(
    ("flags", "device", "expected"),
    [
        (ZEN5_FLAGS, "cpu", "bfloat16"),
        (SKYLAKE_FLAGS, "cpu", "float32"),
        (SKYLAKE_FLAGS, "cuda", "bfloat16"),
        (ZEN5_FLAGS, "mps", "float32"),
    ],
)
def test_auto_dtype_follows_the_cpu(monkeypatch, flags, device, expected):
    import torch

    monkeypatch.setattr(devices, "_cpu_flags", lambda: flags)
    assert devices.resolve_dtype("auto", device) == getattr(torch, expected)
    assert devices.resolve_dtype("float32", device) == torch.float32  # an explicit dtype wins


def test_the_cpu_flags_can_be_set_through_the_environment(monkeypatch):
    monkeypatch.setenv(devices.CPU_FLAGS_VAR, ZEN5_FLAGS)
    assert devices.cpu_has_native_bf16()
    monkeypatch.setenv(devices.CPU_FLAGS_VAR, "")
    assert not devices.cpu_has_native_bf16()
