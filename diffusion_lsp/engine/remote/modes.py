"""What each remote mode sends and how its answer is read: the path, the JSON body, and the text and
per-token log-probabilities in each streamed event.

- chat: ``/v1/chat/completions`` with one user turn built by ``block.prompt.instruct_message``, the
  builder the local instruct mode uses (a request's preamble ends it, ``block.prompt.preamble_note``);
  the reply's code fence is stripped.
- completions: ``/v1/completions`` with the prefix as the prompt (the suffix is not sent), after the
  request's preamble (as fim's prefix is).
- fim: the prefix and the suffix, as ``{prompt, suffix}`` (OpenAI's legacy ``suffix``, Mercury
  Coder's ``/v1/fim/completions``, llama-cpp-python's ``/v1/completions``) or, where the path ends
  in ``/infill``, as llama.cpp's ``{input_prefix, input_suffix}``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from diffusion_lsp.engine.api import RemoteMode
from diffusion_lsp.engine.block.prompt import instruct_message, preamble_note
from diffusion_lsp.engine.tokens import window

CHARS_PER_TOKEN = 3  # the remote tokenizer is unknown: windows count a token per 3 characters
REFINE_INSTRUCTION = (
    "Rewrite the code between {start} and {end} in the code below so that it is correct and "
    "clean, keeping what it does. Reply with only the code that replaces it, markers excluded: no "
    "explanation, no code fences, nothing from before or after it."
)
START, END = "<REGION>", "</REGION>"


def approx_tokens(texts: list[str] | tuple[str, ...]) -> list[int]:
    """A ``CountTokens`` without the server's tokenizer: about one token per 3 characters."""
    return [math.ceil(len(t) / CHARS_PER_TOKEN) for t in texts]


def windowed(prefix: str, suffix: str, budget: int) -> tuple[str, str]:
    return window(prefix, suffix, approx_tokens, budget)


def infill_call(
    mode: RemoteMode, fim_path: str, prefix: str, suffix: str, budget: int, preamble: str = ""
) -> tuple[str, dict[str, Any]]:
    """(path, body without the sampling fields) that fill the hole between prefix and suffix.
    The ``preamble`` (never windowed) ends the chat message (``instruct_message``) and starts the
    prompt of completions and fim."""
    prefix, suffix = windowed(prefix, suffix, budget)
    if mode == "chat":
        return "/v1/chat/completions", chat_body(instruct_message(prefix, suffix, preamble))
    prefix = _before(preamble) + prefix
    if mode == "completions":
        return "/v1/completions", {"prompt": prefix}
    if fim_path.rstrip("/").endswith("/infill"):
        return fim_path, {"input_prefix": prefix, "input_suffix": suffix}
    return fim_path, {"prompt": prefix, "suffix": suffix}


def refine_call(
    mode: RemoteMode,
    fim_path: str,
    prefix: str,
    text: str,
    suffix: str,
    budget: int,
    preamble: str = "",
) -> tuple[str, dict[str, Any]]:
    """(path, body) that rewrite ``text``. Only chat can show the model the text to rewrite (an
    instruction around it); completions and fim fill the region afresh from its context."""
    if mode != "chat":
        return infill_call(mode, fim_path, prefix, suffix, budget, preamble)
    prefix, suffix = windowed(prefix, suffix, max(budget - approx_tokens([text])[0], 1))
    head = REFINE_INSTRUCTION.format(start=START, end=END) + "\n\n```\n"
    content = head + prefix + START + text + END + suffix + "\n```" + preamble_note(preamble)
    return "/v1/chat/completions", chat_body(content)


def _before(preamble: str) -> str:
    """The preamble as the start of a completion prompt: on lines of its own."""
    if not preamble or preamble.endswith("\n"):
        return preamble
    return preamble + "\n"


def chat_body(content: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": content}]}


def sampling(
    body: dict[str, Any],
    path: str,
    model: str,
    max_tokens: int,
    temperature: float | None,
    seed: int | None,
    single_line: bool,
) -> dict[str, Any]:
    """The body with the model, the sampling fields, streaming and log-probabilities asked for."""
    out = dict(body, stream=True, max_tokens=max_tokens)
    if model:
        out["model"] = model
    if temperature is not None:
        out["temperature"] = temperature
    if seed is not None:
        out["seed"] = seed
    if single_line:
        out["stop"] = ["\n"]
    if path.endswith("/infill"):
        out["n_predict"] = max_tokens
        out["n_probs"] = 1
    elif path.endswith("/chat/completions"):
        out["logprobs"] = True
        out["top_logprobs"] = 1  # some servers (llama-cpp-python) send none without it
    else:
        out["logprobs"] = 1
    return out


@dataclass
class Answer:
    """What the events of one answer added up to: the text, its tokens' probabilities (where the
    server sent log-probabilities), and why it stopped."""

    parts: list[str] = field(default_factory=list)
    probs: list[float] = field(default_factory=list)
    finish: str | None = None
    events: int = 0

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def add(self, event: dict[str, Any]) -> None:
        """One streamed event (or a whole answer) of any of the three endpoints."""
        self.events += 1
        if "content" in event and "choices" not in event:  # llama.cpp /infill
            self.parts.append(str(event.get("content") or ""))
            for p in event.get("completion_probabilities") or []:
                self._prob(p.get("logprob"), p.get("prob"))
            if event.get("stop"):
                self.finish = str(event.get("stop_type") or "stop")
            return
        choices = event.get("choices")
        if not isinstance(choices, list):
            raise ValueError(f"no choices in {str(event)[:80]!r}")
        for choice in choices[:1]:
            delta = choice.get("delta") or choice.get("message") or {}
            piece = delta.get("content") if isinstance(delta, dict) and delta else None
            piece = piece if piece is not None else choice.get("text")
            self.parts.append(str(piece or ""))
            logprobs = choice.get("logprobs") or {}
            if isinstance(logprobs.get("content"), list):  # chat
                for item in logprobs["content"]:
                    self._prob(item.get("logprob"), None)
            for lp in logprobs.get("token_logprobs") or []:  # completions
                self._prob(lp, None)
            if choice.get("finish_reason"):
                self.finish = str(choice["finish_reason"])

    def _prob(self, logprob: Any, prob: Any) -> None:
        if isinstance(logprob, (int, float)) and math.isfinite(logprob):
            self.probs.append(math.exp(min(logprob, 0.0)))
        elif isinstance(prob, (int, float)):
            self.probs.append(float(prob))
