"""A damaged checkpoint or a path that is not there: one ``ModelLoadError`` that names the model and
says what to do, never a library's bare exception, and never a hub lookup for a local path.

Each case copies the tiny masked checkpoint and breaks one file the way a failed download, a full
disk or a hand edit does.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from diffusion_lsp.engine import load_engine
from diffusion_lsp.engine.api import ModelLoadError, ModelSpec


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def remove_tokenizer(model: Path) -> None:
    for name in os.listdir(model):
        if name.startswith("tokenizer") or name in ("vocab.txt", "special_tokens_map.json"):
            os.remove(model / name)


# case -> (how to break the copy, a word the message must contain, a word the fix must contain)
CORRUPTIONS: dict[str, tuple[Callable[[Path], object], str, str]] = {
    "config-a-list": (lambda m: (m / "config.json").write_text("[]"), "config.json", "save"),
    "config-a-string": (lambda m: (m / "config.json").write_text('"x"'), "config.json", "save"),
    "config-a-number": (lambda m: (m / "config.json").write_text("3"), "config.json", "save"),
    "config-not-json": (lambda m: (m / "config.json").write_text("{model_"), "JSON", "save"),
    "config-not-utf8": (lambda m: (m / "config.json").write_bytes(b"\xff\xfe{"), "JSON", "save"),
    "weights-truncated": (lambda m: truncate(m / "model.safetensors"), "weights", "download"),
    "weights-garbage": (
        lambda m: (m / "model.safetensors").write_bytes(b"not a checkpoint" * 64),
        "weights",
        "download",
    ),
    "weights-empty": (lambda m: (m / "model.safetensors").write_bytes(b""), "weights", "download"),
    "weights-missing": (lambda m: (m / "model.safetensors").unlink(), "weights", "download"),
    "tokenizer-missing": (remove_tokenizer, "tokenizer", "tokenizer"),
    "tokenizer-garbage": (
        lambda m: (m / "tokenizer.json").write_text("{broken"),
        "tokenizer",
        "tokenizer",
    ),
}


@pytest.fixture
def offline(monkeypatch):
    """No test here may reach for the network; a hub lookup would say "offline" instead."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_a_damaged_checkpoint_gets_one_message_with_the_model_and_a_fix(
    case, masked_dir, tmp_path, offline
):
    corrupt, in_message, in_fix = CORRUPTIONS[case]
    model = tmp_path / case
    shutil.copytree(masked_dir, model)
    corrupt(model)
    with pytest.raises(ModelLoadError) as err:
        load_engine(ModelSpec(model=str(model), device="cpu"))
    assert str(model) in err.value.message
    assert in_message in err.value.message
    assert in_fix in err.value.fix
    assert "offline" not in err.value.message and "Hugging Face cache" not in err.value.message


@pytest.mark.parametrize("relative", ["./models/foo", "models/foo", "../x", "models/a/b", "~/nope"])
def test_a_relative_path_that_does_not_exist_is_a_missing_directory(
    relative, tmp_path, monkeypatch, offline
):
    def no_hub(*args, **kwargs):
        raise AssertionError("a local path went to the hub resolver")

    monkeypatch.setattr("transformers.PretrainedConfig.get_config_dict", no_hub)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelLoadError) as err:
        load_engine(ModelSpec(model=relative, device="cpu"))
    assert err.value.message.startswith("no model directory at")
    assert relative.removeprefix("~") in err.value.message
    assert str(tmp_path) in err.value.message  # where it looked
    assert "absolute path" in err.value.fix


def test_org_name_beside_a_directory_of_that_name_is_a_path(tmp_path, monkeypatch, offline):
    def no_hub(*args, **kwargs):
        raise AssertionError("a local path went to the hub resolver")

    monkeypatch.setattr("transformers.PretrainedConfig.get_config_dict", no_hub)
    (tmp_path / "checkpoints").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelLoadError, match="no model directory at checkpoints/run-3"):
        load_engine(ModelSpec(model="checkpoints/run-3", device="cpu"))


def test_an_org_name_id_that_is_not_found_also_names_the_directory_it_is_not(
    tmp_path, monkeypatch, offline
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelLoadError) as err:
        load_engine(ModelSpec(model="some-org/some-model", device="cpu"))
    assert "some-org/some-model" in err.value.message and "offline" in err.value.message
    assert str(tmp_path / "some-org" / "some-model") in err.value.message


def test_an_unexpected_error_still_names_the_model_and_a_fix(masked_dir, monkeypatch, offline):
    def broken(*args, **kwargs):
        raise KeyError("vocab_size")

    monkeypatch.setattr("diffusion_lsp.engine.families.family_of", broken)
    with pytest.raises(ModelLoadError) as err:
        load_engine(ModelSpec(model=str(masked_dir), device="cpu"))
    assert str(masked_dir) in err.value.message and "KeyError" in err.value.message
    assert "doctor" in err.value.fix


def test_an_error_without_the_model_in_it_gets_the_model_prefixed(masked_dir, offline):
    with pytest.raises(ModelLoadError) as err:
        load_engine(ModelSpec(model=str(masked_dir), device="cpu", dtype="float8"))
    assert err.value.message.startswith(f"{masked_dir}: unknown dtype")
    assert "float32" in err.value.fix


async def test_the_server_stays_up_and_reports_the_message(masked_dir, tmp_path):
    """Over LSP: the status says error with the same message, and requests are still answered."""
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "lsp"))
    from lsp_support import make_client, server_command, server_env
    from lsprotocol import types
    from pytest_lsp import ClientServerConfig, client_capabilities

    model = tmp_path / "broken"
    shutil.copytree(masked_dir, model)
    (model / "config.json").write_text("[]")
    config = ClientServerConfig(
        server_command=server_command(fake=False),
        client_factory=make_client,
        server_env={**server_env(), "HF_HUB_OFFLINE": "1"},
    )
    client = await config.start()
    try:
        await client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities("neovim@v0.11.0"),
                initialization_options={"model": str(model)},
            )
        )
        status = await client.wait_for_status("error")
        assert str(model) in status["message"] and "config.json" in status["message"]
        assert "Fix:" in status["message"]
        answer = await client.status()
        assert answer["state"] == "error" and answer["message"] == status["message"]
        await client.shutdown_session()
    finally:
        await client.stop()
