"""Tiny random models with their own small tokenizers, saved with plain ``save_pretrained``.

For tests and demos: the weights are random, so the text they write is garbage; they prove the
plumbing (loading, special ids, batching, shapes), never quality. Deterministic for a given seed.

    python -m diffusion_lsp.engine.testing.tiny --out DIR [--family masked|shifted|gemma] [--seed N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

VOCAB_SIZE = 600

# The tiny Qwen2's shapes (the shifted stand-in for Dream and DiffuCoder), the one source: the speed
# benchmark's tiny dense model (benchmarks/speed/configs.py) takes them from here.
QWEN2_SMALL = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 4096,
}

# A little code to train the tokenizer on: enough to learn keywords, indentation and punctuation.
CORPUS = [
    "def add(a, b):\n    return a + b\n",
    'def greet(name: str) -> str:\n    return f"Hello, {name}!"\n',
    "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n",
    "for i in range(10):\n    if i % 2 == 0:\n        print(i)\n    else:\n        continue\n",
    "import os\nimport sys\nfrom pathlib import Path\n\nprint(Path(os.getcwd()))\n",
    "while True:\n    line = sys.stdin.readline()\n    if not line:\n        break\n",
    "try:\n    value = int(text)\nexcept ValueError:\n    value = None\nfinally:\n    pass\n",
    "numbers = [x * x for x in range(20) if x > 3]\ntotal = sum(numbers)\n",
    "function add(a, b) {\n  return a + b;\n}\nconst x = add(1, 2);\nconsole.log(x);\n",
    'fn main() {\n    let v: Vec<i32> = vec![1, 2, 3];\n    println!("{:?}", v);\n}\n',
    "int main(void) {\n    int n = 0;\n    for (int i = 0; i < 10; i++) { n += i; }\n    return n;\n}\n",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "with open(path) as f:\n    data = f.read()\n    lines = data.splitlines()\n",
    "async def fetch(url):\n    async with session.get(url) as response:\n        return await response.text()\n",
    "# TODO: handle the empty case\nresult = {key: value for key, value in items.items()}\n",
]


def train_tokenizer(special: list[str], *, bert_style: bool) -> object:
    """A byte-level BPE tokenizer trained on ``CORPUS``, wrapped as a ``PreTrainedTokenizerFast``.

    ``special`` tokens get the first ids in order; the mask token is added last, at the end of
    the vocabulary (as in ModernBERT and Dream), so no id is where a constant would guess it.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    *ordinary, mask = special
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=ordinary,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 4, trainer=trainer)
    tok.add_special_tokens([mask])
    if bert_style:
        cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            pair="[CLS] $A [SEP] $B [SEP]",
            special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
        )
        return PreTrainedTokenizerFast(
            tokenizer_object=tok,
            pad_token="[PAD]",
            unk_token="[UNK]",
            cls_token="[CLS]",
            sep_token="[SEP]",
            mask_token=mask,
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>", mask_token=mask
    )


def build_masked(out_dir: str | Path, seed: int = 0) -> Path:
    """A tiny random ModernBERT masked LM (native ``AutoModelForMaskedLM``) and its tokenizer."""
    import torch
    from transformers import ModernBertConfig, ModernBertForMaskedLM

    tokenizer = train_tokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], bert_style=True)
    config = ModernBertConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=4096,
        local_attention=64,
        layer_types=["full_attention", "sliding_attention"],
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id,
        cls_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
        sep_token_id=tokenizer.sep_token_id,
    )
    torch.manual_seed(seed)
    model = ModernBertForMaskedLM(config).eval()
    return _save(model, tokenizer, out_dir)


def build_shifted(out_dir: str | Path, seed: int = 0) -> Path:
    """A tiny random Qwen2 run bidirectionally (``is_causal: false``) whose head predicts the next
    token, as Dream and DiffuCoder do: the logit for position i sits at position i - 1.

    The config says so with ``diffusion_shift_logits: true`` and names its ``mask_token_id``.
    """
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = train_tokenizer(["<|endoftext|>", "<|mask|>"], bert_style=False)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        **QWEN2_SMALL,
        tie_word_embeddings=False,
        is_causal=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    config.diffusion_shift_logits = True
    config.mask_token_id = tokenizer.mask_token_id
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config).eval()
    return _save(model, tokenizer, out_dir)


def build_gemma(out_dir: str | Path, seed: int = 0) -> Path:
    """A tiny random DiffusionGemma (``diffusion_lsp.engine.testing.tiny_gemma``)."""
    from diffusion_lsp.engine.testing import tiny_gemma

    return Path(tiny_gemma.build(out_dir, seed))


BUILDERS = {"masked": build_masked, "shifted": build_shifted, "gemma": build_gemma}


def _save(model: object, tokenizer: object, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m diffusion_lsp.engine.testing.tiny", description=__doc__
    )
    parser.add_argument("--out", required=True, help="directory to write the model to")
    parser.add_argument("--family", choices=sorted(BUILDERS), default="masked")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = BUILDERS[args.family](args.out, args.seed)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
