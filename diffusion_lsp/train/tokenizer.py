"""A byte-level BPE tokenizer for code, trained with `tokenizers`, saved as a PreTrainedTokenizerFast.

Pre-tokenization is code-aware: every newline is its own piece, a run of indentation (two or more
spaces or tabs) is one piece, identifiers keep one leading space, and punctuation runs stay
together. Byte-level encoding makes decoding exact for any text (indentation, tabs, unicode).

Special tokens: ``<|pad|>``, ``<|endoftext|>`` (end of a file, also the stop token), ``<|mask|>``
(the absorbing state of masked diffusion) and ``<|null|>`` (fills the slots of a hole beyond its
answer, so a hole longer than the answer needs no oracle length).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

PAD = "<|pad|>"
EOS = "<|endoftext|>"
MASK = "<|mask|>"
NULL = "<|null|>"
SPECIAL_TOKENS = [PAD, EOS, MASK, NULL]  # ids 0, 1, 2, 3

# One piece per newline; indentation runs; identifiers (with one leading space); numbers; punctuation
# runs (with one leading space); any other whitespace one character at a time.
PRETOKENIZE_PATTERN = (
    r"\r?\n|[ \t]{2,}(?=\S|$)|[ ]?[\p{L}_][\p{L}\p{N}_]*|[ ]?\p{N}{1,4}"
    r"|[ ]?[^\s\p{L}\p{N}_]{1,4}|\s"
)


def _backend(vocab_size: int) -> Any:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    return tok


def train_tokenizer(texts: Iterable[str], vocab_size: int = 16384, min_frequency: int = 2) -> Any:
    """Train the BPE on ``texts`` and wrap it as a ``PreTrainedTokenizerFast`` with the special tokens."""
    from tokenizers import pre_tokenizers, trainers

    tok = _backend(vocab_size)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return wrap(tok)


def wrap(tok: Any) -> Any:
    """A ``PreTrainedTokenizerFast`` around a trained ``tokenizers.Tokenizer``."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD,
        eos_token=EOS,
        mask_token=MASK,
        additional_special_tokens=[NULL],
        clean_up_tokenization_spaces=False,
        model_max_length=1024,
    )
    fast.null_token = NULL
    return fast


def special_ids(tokenizer: Any) -> dict[str, int]:
    """The ids of the special tokens, read from the tokenizer (never assumed)."""
    return {
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "mask_token_id": tokenizer.mask_token_id,
        "null_token_id": tokenizer.convert_tokens_to_ids(NULL),
    }
