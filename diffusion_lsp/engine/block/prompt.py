"""DiffusionGemma prompts and canvases for infill and refine, in the two infill modes.

- inpaint: the prompt is the windowed prefix; the canvas is the hole's free slots followed by the
  suffix's first tokens, clamped. The suffix the model sees is bounded by the canvas.
- instruct: the prompt is a chat turn holding prefix and suffix around a hole marker, asking for only
  the missing code; the canvas is all free. For instruction-tuned checkpoints.

Each prompt also says where its *stable* part ends: the tokens before the line being typed, which the
prompt cache keeps for the next request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from diffusion_lsp.engine.tokens import window

HOLE = "<HOLE>"
INSTRUCTION = (
    "Fill in the missing code at {hole} in the code below. Reply with only the code that replaces "
    "{hole}: no explanation, no code fences, nothing repeated from before or after it."
)
PREAMBLE_HEADING = (
    "The user's recent edits:"  # before a request's preamble in an instruction prompt
)
STICKY_SLACK = 1.25  # a sticky prefix window may exceed its token budget by this factor
HEAD_CHARS = 160  # characters of a window's start that identify it in the next request's prefix
BOUNDARY_MARGIN = 2  # tokens before the stable boundary that a change after it may still re-merge
_INSTRUCT_NAME = re.compile(r"(^|[-_/.])(it|instruct|chat)($|[-_/.])", re.IGNORECASE)
_FENCE = re.compile(r"^\s*```[\w+.-]*[ \t]*\n(.*?)\n?```\s*$", re.DOTALL)


@dataclass(frozen=True)
class Prompt:
    """Prompt token ids, how many of them are stable, the clamped suffix ids for the canvas, and
    the first characters of the prefix window (where the next request's window may stay)."""

    ids: list[int]
    stable: int
    suffix_ids: list[int]
    head: str = ""


def resolve_mode(setting: str, tokenizer: Any, names: Sequence[str | None]) -> str:
    """``auto`` picks instruct when the tokenizer has a chat template and a name of the checkpoint
    looks instruction-tuned (``-it``, ``instruct``, ``chat``); inpaint otherwise."""
    if setting in ("inpaint", "instruct"):
        return setting
    has_template = bool(getattr(tokenizer, "chat_template", None))
    tuned = any(n and _INSTRUCT_NAME.search(str(n).rstrip("/").rsplit("/", 1)[-1]) for n in names)
    return "instruct" if has_template and tuned else "inpaint"


def count_tokens(tokenizer: Any):
    """A ``CountTokens`` for ``context.window`` backed by the tokenizer's batch encode."""

    def count(texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        return [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False).input_ids]

    return count


def inpaint_suffix(tokenizer: Any, suffix: str, cap: int) -> list[int]:
    """The suffix's first lines as token ids, at most ``cap`` (the part of the canvas left to it)."""
    if not suffix or cap <= 0:
        return []
    _, text = window("", suffix, count_tokens(tokenizer), cap)
    return list(tokenizer(text, add_special_tokens=False).input_ids[:cap])


def sticky_window(
    prefix: str, prefix_text: str, head: str | None, fits: Callable[[str], bool]
) -> str:
    """Keep the prefix window starting where the last one did (at ``head``, its first characters)
    while ``fits`` says the longer window is still within the slack over the budget.

    The window grows outward from the hole, so each new line typed would move its start and change
    the prompt's first tokens, and no cached prompt could be extended. A sticky start keeps the
    prompt's head fixed; it moves (one full encode) only once the window has grown past the slack.
    """
    if not head:
        return prefix_text
    start = len(prefix) - len(prefix_text)
    at = prefix.rfind(head, 0, start + len(head))
    if 0 <= at < start and (at == 0 or prefix[at - 1] == "\n") and fits(prefix[at:]):
        return prefix[at:]
    return prefix_text


def inpaint_prompt(
    tokenizer: Any,
    prefix: str,
    suffix_ids: list[int],
    budget: int,
    bos_id: int | None,
    head: str | None = None,
    preamble: str = "",
) -> Prompt:
    """Prompt = the prefix window (nearest lines, within ``budget`` less the clamped suffix), after
    the ``preamble`` (the user's recent edits; never windowed, as in the masked engine: there is no
    instruction to put it in), which goes right after the BOS."""
    count = count_tokens(tokenizer)
    room = max(budget - len(suffix_ids), 1)
    prefix_text, _ = window(prefix, "", count, room)
    prefix_text = sticky_window(
        prefix, prefix_text, head, lambda text: count([text])[0] <= room * STICKY_SLACK
    )
    ids, stable = _encode_with_boundary(tokenizer, prefix_text, _last_line_start(prefix_text), True)
    if bos_id is not None and ids and ids[0] == bos_id:
        ids, stable = ids[1:], max(0, stable - 1)
    if preamble:
        extra = list(tokenizer(preamble, add_special_tokens=False).input_ids)
        ids, stable = [*extra, *ids], stable + len(extra)
    if bos_id is not None:
        ids, stable = [bos_id, *ids], stable + 1
    return Prompt(ids, stable, suffix_ids, prefix_text[:HEAD_CHARS])


def instruct_prompt(
    tokenizer: Any,
    prefix: str,
    suffix: str,
    budget: int,
    head: str | None = None,
    preamble: str = "",
) -> Prompt:
    """Prompt = a user turn with the instruction and the windowed code around the hole marker (and
    the ``preamble`` after it, ``instruct_message``), then the start of the model's turn; nothing
    goes to the canvas but free slots."""
    count = count_tokens(tokenizer)
    prefix_text, suffix_text = window(prefix, suffix, count, budget)
    prefix_text = sticky_window(
        prefix,
        prefix_text,
        head,
        lambda text: sum(count([text, suffix_text])) <= budget * STICKY_SLACK,
    )
    head = instruct_head()
    content = instruct_message(prefix_text, suffix_text, preamble)
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True
    )
    at = text.find(head)
    if at < 0:  # a template that rewrote the message: nothing is reliably stable
        boundary = 0
    else:
        boundary = at + len(head) + _last_line_start(prefix_text)
    ids, stable = _encode_with_boundary(tokenizer, text, boundary, False)
    return Prompt(ids, stable, [], prefix_text[:HEAD_CHARS])


def instruct_head() -> str:
    """The user turn's fixed start: the instruction, then the opening code fence."""
    return INSTRUCTION.format(hole=HOLE) + "\n\n```\n"


def instruct_message(prefix_text: str, suffix_text: str, preamble: str = "") -> str:
    """The instruct-mode user message for an already windowed prefix and suffix, in plain strings:
    the one builder of the local instruct mode and the remote backend's chat mode."""
    return instruct_head() + prefix_text + HOLE + suffix_text + "\n```" + preamble_note(preamble)


def preamble_note(preamble: str) -> str:
    """A request's preamble (the user's recent edits) as the end of an instruction message, after
    the code, so that the cached start of the prompt stays as it was; empty for no preamble."""
    if not preamble.strip():
        return ""
    return f"\n\n{PREAMBLE_HEADING}\n{preamble.rstrip()}"


def strip_fences(text: str) -> str:
    """The code inside a reply wrapped in one Markdown code fence; other text unchanged."""
    m = _FENCE.match(text)
    return m.group(1) if m else text


def _last_line_start(text: str) -> int:
    return text.rfind("\n") + 1


def _encode_with_boundary(
    tokenizer: Any, text: str, boundary: int, special: bool
) -> tuple[list[int], int]:
    """Token ids of ``text`` and how many of them end at or before char ``boundary``, less a margin."""
    enc = tokenizer(text, add_special_tokens=special, return_offsets_mapping=True)
    ids = list(enc.input_ids)
    offsets = enc.get("offset_mapping")
    if offsets is None:
        return ids, 0
    before = sum(1 for start, end in offsets if end <= boundary)
    return ids, max(0, before - BOUNDARY_MARGIN)
