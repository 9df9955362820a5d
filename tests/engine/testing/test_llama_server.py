"""The test GGUF: printable output only, and the fill-in-the-middle tokens llama.cpp's /infill needs
when asked for (``write_tiny_gguf(..., fim=True)``)."""

from __future__ import annotations

import pytest

gguf = pytest.importorskip("gguf")

from diffusion_lsp.engine.testing.llama_server import FIM_TOKENS, write_tiny_gguf  # noqa: E402


def _fields(path):
    reader = gguf.GGUFReader(str(path))
    tokens = reader.fields["tokenizer.ggml.tokens"]
    names = [bytes(tokens.parts[i]).decode() for i in tokens.data]
    output = next(t for t in reader.tensors if t.name == "output.weight").data
    return reader, names, output


@pytest.mark.parametrize("fim", [False, True])
def test_the_tiny_gguf_writes_printable_text_and_names_its_fim_tokens(tmp_path, fim):
    reader, names, output = _fields(write_tiny_gguf(tmp_path / "t.gguf", fim=fim))
    # byte tokens other than tab and newline, and the controls, have zero output rows
    silent = [i for i, row in enumerate(output) if not row.any()]
    bytes_kept = [i for i in range(3, 3 + 256) if i not in silent]
    assert [names[i] for i in bytes_kept] == ["<0x09>", "<0x0A>"]
    if not fim:
        assert not any(t in names for t in FIM_TOKENS)
        assert "tokenizer.ggml.fim_pre_token_id" not in reader.fields
        return
    first = names.index(FIM_TOKENS[0])
    assert names[first:] == list(FIM_TOKENS) and set(range(first, len(names))) <= set(silent)
    for i, key in enumerate(("fim_pre", "fim_suf", "fim_mid")):
        field = reader.fields[f"tokenizer.ggml.{key}_token_id"]
        assert int(field.parts[field.data[0]][0]) == first + i
