"""Held-out holes: SAFIM-style syntax spans and line spans cut out of held-out files.

A hole is the text between ``prefix`` and ``suffix``; ``answer`` is what was there. Kinds:
single-line (one line's code, without its indentation), multi-line (2 to 6 whole lines), expression
and block (tree-sitter nodes).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from diffusion_lsp.eval.spans import BLOCK, EXPRESSION, LINE, MULTILINE, line_spans, syntax_spans

KINDS = {"single-line": LINE, "multi-line": MULTILINE, "expression": EXPRESSION, "block": BLOCK}
MAX_ANSWER_CHARS = {"single-line": 120, "multi-line": 300, "expression": 120, "block": 300}


@dataclass(frozen=True)
class Hole:
    kind: str
    language: str
    path: str
    prefix: str
    answer: str
    suffix: str


def holes_of_file(
    text: str,
    language: str,
    path: str,
    kinds: Sequence[str],
    rng: random.Random,
    per_kind: int = 1,
    context_chars: int = 6000,
) -> list[Hole]:
    """Up to ``per_kind`` holes of each kind from one file; prefix and suffix are cut to
    ``context_chars`` at line boundaries (the model sees at most about 1,000 tokens anyway)."""
    spans = syntax_spans(text, language) + line_spans(text, rng=rng)
    out: list[Hole] = []
    for kind in kinds:
        want = KINDS[kind]
        cands = [
            s
            for s in spans
            if s.kind == want
            and 0 < s.end - s.start <= MAX_ANSWER_CHARS[kind]
            and text[s.start : s.end].strip()
        ]
        if kind == "block":
            cands = [s for s in cands if "\n" in text[s.start : s.end]]
        for s in rng.sample(cands, min(per_kind, len(cands))):
            lo = text.find("\n", max(0, s.start - context_chars))
            lo = 0 if lo < 0 or s.start - context_chars <= 0 else lo + 1
            hi = text.rfind("\n", s.end, s.end + context_chars)
            hi = len(text) if hi < 0 or s.end + context_chars >= len(text) else hi
            out.append(
                Hole(
                    kind,
                    language,
                    path,
                    text[lo : s.start],
                    text[s.start : s.end],
                    text[s.end : hi],
                )
            )
    return out


def make_holes(
    files: Iterable[tuple[str, str, str]], kinds: Sequence[str], n_per_kind: int, seed: int = 0
) -> list[Hole]:
    """``n_per_kind`` holes of each kind from ``files`` ((path, language, text)), one per file and kind
    as long as files last, so that no file dominates."""
    rng = random.Random(seed)
    files = list(files)
    rng.shuffle(files)
    count = {k: 0 for k in kinds}
    holes: list[Hole] = []
    for rounds in range(4):
        for path, language, text in files:
            need = [k for k in kinds if count[k] < n_per_kind]
            if not need:
                return holes
            for hole in holes_of_file(
                text, language, path, need, random.Random(f"{seed}:{rounds}:{path}")
            ):
                if all(hole != h for h in holes[-8:]):
                    holes.append(hole)
                    count[hole.kind] += 1
    return holes


def save_holes(holes: Iterable[Hole], path: str) -> None:
    import gzip

    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as f:
        for h in holes:
            f.write(json.dumps(asdict(h)) + "\n")


def load_holes(path: str) -> list[Hole]:
    import gzip

    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [Hole(**json.loads(line)) for line in f if line.strip()]
