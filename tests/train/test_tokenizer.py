"""Tokenizer: special tokens present, exact round trip of code, loads back with AutoTokenizer."""

from transformers import AutoTokenizer

from diffusion_lsp.train.tokenizer import EOS, MASK, NULL, PAD, special_ids

CODE = "def f(x):\n\tif x:\n        return  x + 1  \n    # ünïcode → ok\n\n\n   \nlast"


def test_special_tokens_are_distinct_and_single_ids(tokenizer):
    ids = special_ids(tokenizer)
    assert len(set(ids.values())) == 4
    for token in (PAD, EOS, MASK, NULL):
        assert len(tokenizer(token, add_special_tokens=False)["input_ids"]) == 1
    assert (
        tokenizer.mask_token == MASK and tokenizer.pad_token == PAD and tokenizer.eos_token == EOS
    )


def test_round_trip_keeps_indentation_and_newlines_exactly(tokenizer):
    ids = tokenizer(CODE, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == CODE
    pieces = tokenizer.convert_ids_to_tokens(ids)
    # each newline is its own piece, never glued to the indentation that follows
    assert all("Ċ" not in p or set(p) == {"Ċ"} for p in pieces)


def test_saved_tokenizer_loads_offline(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert special_ids(loaded) == special_ids(tokenizer)
    assert loaded.decode(loaded(CODE, add_special_tokens=False)["input_ids"]) == CODE
    assert loaded("", add_special_tokens=True)["input_ids"] == []
