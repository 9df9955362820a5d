"""A real OpenAI-compatible server for the remote backend's tests and benchmark: llama-cpp-python's
server on loopback, serving a tiny random llama-architecture GGUF written here with ``gguf``.

The model is random but deterministic (a fixed seed), greedy decoding never picks its end-of-text
token or a byte token other than tab and newline (their output rows are zero while the others are
large), so its text is printable, and it has a chat template, so each mode
(chat, completions, fim via ``suffix``) runs end to end and long answers can be cancelled midway.
Needs the ``remote-test`` extra (``llama-cpp-python[server]``, ``gguf``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
WORDS = ["def", "return", "self", "print", "import", "for", "in", "if", "else", "None"]


def vocabulary() -> tuple[list[str], list[float], list[int]]:
    """SentencePiece-style tokens, scores and types: control, 256 byte tokens, ASCII, some words."""
    from gguf import TokenType

    tokens = ["<unk>", "<s>", "</s>"]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [TokenType.BYTE] * 256
    pieces = ["\u2581"] + [chr(c) for c in range(0x21, 0x7F)] + [f"\u2581{w}" for w in WORDS]
    tokens += pieces
    types += [TokenType.NORMAL] * len(pieces)
    scores = [0.0] * (3 + 256) + [-float(10 - min(len(p), 9)) for p in pieces]
    return tokens, scores, [int(t) for t in types]


FIM_TOKENS = ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>")


def write_tiny_gguf(
    path: str | Path,
    dim: int = 64,
    layers: int = 2,
    heads: int = 4,
    ff: int = 128,
    seed: int = 0,
    fim: bool = False,
) -> Path:
    """A random llama model of ``dim`` width and ``layers`` blocks at ``path`` (float32).

    ``fim``: the vocabulary ends in Qwen-style fill-in-the-middle tokens, named in the metadata, as
    llama.cpp's own server needs for ``/infill``."""
    import numpy as np
    from gguf import GGUFWriter, TokenType

    tokens, scores, types = vocabulary()
    if fim:
        tokens, scores = [*tokens, *FIM_TOKENS], [*scores, 0.0, 0.0, 0.0]
        types = [*types, *[int(TokenType.CONTROL)] * len(FIM_TOKENS)]
    vocab = len(tokens)
    rng = np.random.default_rng(seed)

    def weight(*shape: int, scale: float = 0.5) -> np.ndarray:
        return (rng.standard_normal(shape) * scale / np.sqrt(shape[-1])).astype(np.float32)

    path = Path(path)
    w = GGUFWriter(str(path), "llama")
    w.add_context_length(4096)
    w.add_embedding_length(dim)
    w.add_block_count(layers)
    w.add_feed_forward_length(ff)
    w.add_head_count(heads)
    w.add_head_count_kv(heads)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(dim // heads)
    w.add_vocab_size(vocab)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    if fim:
        first = len(tokens) - len(FIM_TOKENS)
        for i, key in enumerate(("fim_pre", "fim_suf", "fim_mid")):
            w.add_uint32(f"tokenizer.ggml.{key}_token_id", first + i)
    w.add_chat_template(CHAT_TEMPLATE)
    w.add_tensor("token_embd.weight", weight(vocab, dim, scale=1.0 * np.sqrt(dim)))
    for i in range(layers):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(dim, np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            w.add_tensor(f"blk.{i}.{name}.weight", weight(dim, dim))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(dim, np.float32))
        w.add_tensor(f"blk.{i}.ffn_gate.weight", weight(ff, dim))
        w.add_tensor(f"blk.{i}.ffn_up.weight", weight(ff, dim))
        w.add_tensor(f"blk.{i}.ffn_down.weight", weight(dim, ff))
    w.add_tensor("output_norm.weight", np.ones(dim, np.float32))
    output = weight(vocab, dim, scale=8.0)
    output[:3] = 0.0  # <unk>, <s>, </s>: logit 0, below the best of the other tokens
    # Byte tokens too, but for tab and newline: the text is printable (the server refuses control
    # characters in an edit, and a lone byte of 0x80 or above is not UTF-8).
    output[[3 + b for b in range(256) if b not in (0x09, 0x0A)]] = 0.0
    if fim:
        output[len(tokens) - len(FIM_TOKENS) :] = 0.0
    w.add_tensor("output.weight", output)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """``python -m llama_cpp.server`` on 127.0.0.1 serving ``model`` as ``alias``; its output goes
    to ``log`` (the tests read it to see the server notice a closed connection)."""

    def __init__(
        self, model: Path, log: Path, alias: str = "tiny", api_key: str | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.alias, self.log = alias, log
        args = [sys.executable, "-m", "llama_cpp.server", "--model", str(model)]
        args += ["--host", "127.0.0.1", "--port", str(self.port), "--model_alias", alias]
        args += ["--n_ctx", "4096", "--n_threads", "1", "--verbose", "False"]
        if api_key:
            args += ["--api_key", api_key]
        self._out = open(log, "w")  # noqa: SIM115 - closed in stop()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(args, stdout=self._out, stderr=subprocess.STDOUT, env=env)

    def wait_ready(self, timeout_s: float = 120.0, api_key: str | None = None) -> None:
        deadline = time.monotonic() + timeout_s
        request = urllib.request.Request(f"{self.url}/v1/models")
        if api_key:
            request.add_header("Authorization", f"Bearer {api_key}")
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the llama.cpp server exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the llama.cpp server did not start: {self.log.read_text()[-2000:]}")

    def log_text(self) -> str:
        self._out.flush()
        return self.log.read_text()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._out.close()
