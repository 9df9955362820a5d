"""A tiny random DiffusionGemma checkpoint for tests: real architecture, real config, real tokenizer files.

``build(out_dir)`` writes a checkpoint of a few hundred thousand parameters that loads back through
``from_pretrained`` like the released ``google/diffusiongemma-*`` models: the same model class, a
``generation_config.json`` with the diffusion fields, and a byte-level BPE tokenizer trained on the fly
with Gemma-style chat-turn tokens and a chat template (so instruct mode runs too).
"""

from __future__ import annotations

from pathlib import Path

# The vision tower plays no part in text infilling; an explicit tiny one keeps the model small
# (benchmarks use it beside full-size text configs too).
VISION_SMALL = {
    "model_type": "gemma4_vision",
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "head_dim": 8,
    "position_embedding_size": 64,
}

# Special tokens, in id order. EOS ids for generation are <eos> and <end_of_turn>, as in Gemma.
SPECIAL_TOKENS = (
    "<pad>",
    "<eos>",
    "<bos>",
    "<unk>",
    "<mask>",
    "<start_of_turn>",
    "<end_of_turn>",
    "<start_of_image>",
    "<end_of_image>",
    "<image_soft_token>",
)
VOCAB_SIZE = 512
CANVAS_LENGTH = 64
SLIDING_WINDOW = 16  # small, so tests cross it and exercise the sliding-window cache layers
MAX_DENOISING_STEPS = 12  # the released checkpoint says 48; a distinct value shows it is read

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "<start_of_turn>{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{{ message['content'] | trim }}<end_of_turn>\n"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)

_CORPUS = [
    "def add(a, b):\n    return a + b\n",
    "def greet(name):\n    print(f'hello {name}')\n    return None\n",
    "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n",
    "for i in range(10):\n    if i % 2 == 0:\n        continue\n    total += i\n",
    "import os\nimport sys\nfrom pathlib import Path\n\nresult = [x * 2 for x in items]\n",
    "function add(a, b) {\n  return a + b;\n}\nconst x = [1, 2, 3].map((v) => v * 2);\n",
    'fn main() {\n    let v: Vec<i32> = Vec::new();\n    println!("{}", v.len());\n}\n',
    "Fill in the missing code. Output only the missing code.\n",
    "while True:\n    line = f.readline()\n    if not line:\n        break\n",
]


def build(out_dir: str | Path, seed: int = 0) -> Path:
    """Write a tiny random DiffusionGemma (model, generation config, tokenizer) to ``out_dir``."""
    import torch
    from transformers import (
        DiffusionGemmaConfig,
        DiffusionGemmaForBlockDiffusion,
        PreTrainedTokenizerFast,
    )
    from transformers.models.diffusion_gemma.generation_diffusion_gemma import (
        DiffusionGemmaGenerationConfig,
        EntropyBoundSamplerConfig,
    )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = _train_tokenizer()
    ids = {t: tok.token_to_id(t) for t in SPECIAL_TOKENS}
    eos_ids = [ids["<eos>"], ids["<end_of_turn>"]]

    config = DiffusionGemmaConfig(
        text_config={
            "vocab_size": tok.get_vocab_size(),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 4,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 16,
            "global_head_dim": 32,
            "num_global_key_value_heads": 1,
            "sliding_window": SLIDING_WINDOW,
            "layer_types": ["sliding_attention"] * 3 + ["full_attention"],
            "num_experts": 4,
            "top_k_experts": 2,
            "moe_intermediate_size": 32,
            "max_position_embeddings": 4096,
            "pad_token_id": ids["<pad>"],
            "eos_token_id": eos_ids,
            "bos_token_id": ids["<bos>"],
        },
        vision_config=dict(VISION_SMALL),
        canvas_length=CANVAS_LENGTH,
        boi_token_id=ids["<start_of_image>"],
        eoi_token_id=ids["<end_of_image>"],
        image_token_id=ids["<image_soft_token>"],
    )
    torch.manual_seed(seed)
    model = DiffusionGemmaForBlockDiffusion(config).eval()
    model.generation_config = DiffusionGemmaGenerationConfig(
        max_new_tokens=CANVAS_LENGTH,
        max_denoising_steps=MAX_DENOISING_STEPS,
        sampler_config=EntropyBoundSamplerConfig(entropy_bound=0.1),
        t_min=0.4,
        t_max=0.8,
        stability_threshold=1,
        confidence_threshold=0.005,
        pad_token_id=ids["<pad>"],
        bos_token_id=ids["<bos>"],
        eos_token_id=eos_ids,
    )
    model.save_pretrained(out)

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
        additional_special_tokens=["<start_of_turn>", "<end_of_turn>"],
        chat_template=CHAT_TEMPLATE,
    )
    fast.save_pretrained(out)
    return out


def _train_tokenizer():
    """A byte-level BPE trained on a few lines of code; prepends <bos> like Gemma's tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    bos = tok.token_to_id("<bos>")
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", bos)]
    )
    return tok
