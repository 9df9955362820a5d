"""The tokenizers of the published layouts (see ``published.py``) and their tiny sizes: a small
byte-level BPE vocabulary trained on a few lines of code, then each family's special tokens in their
published order, so the published ids and conventions hold at a tiny size."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CORPUS = [
    "def add(a, b):\n    return a + b\n",
    "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n",
    "for i in range(10):\n    if i % 2 == 0:\n        print(i)\n",
    "import os\nfrom pathlib import Path\n\nprint(Path(os.getcwd()))\n",
    "function add(a, b) {\n  return a + b;\n}\nconst x = add(1, 2);\n",
    "numbers = [x * x for x in range(20) if x > 3]\ntotal = sum(numbers)\n",
]
BASE_VOCAB = 320
HIDDEN, LAYERS, HEADS, KV_HEADS, FFN = 64, 2, 4, 2, 128
PADDING_ROWS = 13  # embedding rows past the tokenizer, as the published vocab_size has

# The special tokens in their published order (FACTS.md, dream/added_tokens.json): Qwen2's.
QWEN_SPECIALS = [
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
]
DREAM_SPECIALS = [*QWEN_SPECIALS, ("<|beginoftext|>", True), ("<|mask|>", True)]
# LLaDA's (llada/tokenizer_config.json): 126080 onwards, 252 reserved tokens, the mask at 126336.
LLADA_SPECIALS = [
    ("<|startoftext|>", True),
    ("<|endoftext|>", True),
    ("[CLS]", True),
    ("[gMASK]", True),
    *((f"<|reserved_token_{i}|>", True) for i in range(252)),
    ("<|mdm_mask|>", True),
    *((f"<|reserved_token_{i}|>", True) for i in range(253, 256)),
    ("<role>", True),
    ("</role>", True),
    ("<|arithmetic_start|>", True),
    ("<|arithmetic_end|>", True),
    ("<|number_start|>", True),
    ("<|number_end|>", True),
    ("<|start_header_id|>", True),
    ("<|end_header_id|>", True),
    ("<|eot_id|>", True),
]
DREAM_GENERATION = {
    "_from_model_config": True,
    "alg": "origin",
    "alg_temp": None,
    "eps": 0.001,
    "mask_token_id": None,
    "output_history": False,
    "steps": 512,
    "temperature": 0.0,
    "top_k": None,
    "top_p": None,
    "transformers_version": "4.46.2",
}

# Each family's variants: (hub id written as _name_or_path, extra special tokens after the mask).
DREAM_VARIANTS = {
    "dream": ("Dream-org/Dream-v0-Instruct-7B", []),
    "diffucoder": ("apple/DiffuCoder-7B-Instruct", [("<|dlm_pad|>", True)]),
    "dream-coder": ("Dream-org/Dream-Coder-v0-Instruct-7B", []),
    "dreamon": ("Dream-org/DreamOn-v0-7B", [("<|expand|>", True)]),
}
FAMILIES = (*DREAM_VARIANTS, "llada", "open-dcoder")


def bpe(specials: list[tuple[str, bool]]) -> Any:
    """A byte-level BPE of ``BASE_VOCAB`` tokens, then ``specials`` in order (ids BASE_VOCAB, ...)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=BASE_VOCAB,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 4, trainer=trainer)
    assert tok.get_vocab_size() == BASE_VOCAB, tok.get_vocab_size()
    for content, special in specials:
        tok.add_tokens([AddedToken(content, special=special, normalized=False)])
    return tok


def decoder_json(specials: list[tuple[str, bool]]) -> dict[str, Any]:
    return {
        str(BASE_VOCAB + i): {
            "content": content,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": special,
        }
        for i, (content, special) in enumerate(specials)
    }


def token_json(content: str) -> dict[str, Any]:
    return {
        "content": content,
        "lstrip": False,
        "normalized": False,
        "rstrip": False,
        "single_word": False,
    }


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n")


def qwen_tokenizer(out: Path, specials: list[tuple[str, bool]], config: dict[str, Any]) -> None:
    """Qwen2's slow-tokenizer files, as Dream's repository holds them (no tokenizer.json)."""
    tok = bpe(specials)
    tok.model.save(str(out))  # vocab.json, merges.txt
    write_json(out / "added_tokens.json", {c: BASE_VOCAB + i for i, (c, _) in enumerate(specials)})
    write_json(
        out / "tokenizer_config.json", {**config, "added_tokens_decoder": decoder_json(specials)}
    )


def special_ids_of(specials: list[tuple[str, bool]]) -> dict[str, int]:
    return {c: BASE_VOCAB + i for i, (c, _) in enumerate(specials)}
