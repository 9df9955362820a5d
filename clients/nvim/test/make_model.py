"""Makes the model for the Neovim end-to-end tests: the project's tiny random masked LM, then trained for
a few seconds to give the answers of ``fixtures/rewrite.json`` (a fill of ``pass`` and of ``...``, a
refine of one line) and of ``fixtures/fix.json`` where the model takes part in that repair (a missing
colon, as there now, is a token repair the server makes without the model).

The server applies only edits that parse and keep every definition, and a random model's text never
does, so the real server's fill and fix paths (regions, masked infill, length search, the safety gate,
the edit) need a model that has learned one safe answer for each case. Everything else it writes stays
garbage. (The refine answer is taught too, but the refine's partial re-masking does not reliably give
it back from so small a model; test_e2e.lua accepts the server's "nothing was changed" there.) The holes come from the project's own region code (``fix_regions`` and
the fix's ``error_windows``, ``hole_regions``, ``refine_region``), so the prefix and suffix are the ones
the server will send.

    python clients/nvim/test/make_model.py --out DIR
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MAX_HOLE = 64  # the longest hole taught (longer ones cost training time and no fixture needs them)


def hole_lengths() -> tuple[int, ...]:
    """Every hole length the server may try up to ``MAX_HOLE``: both of the engine's ladders."""
    from diffusion_lsp.engine.candidates import default_lengths

    ladders = (default_lengths(MAX_HOLE, single_line=s) for s in (True, False))
    return tuple(sorted(set().union(*ladders)))


def _split(broken: str, fixed: str, start: int, end: int) -> tuple[str, str, str] | None:
    """(prefix, the middle that turns ``broken`` into ``fixed``, suffix) for the hole ``[start, end)``
    of ``broken``; None when ``fixed`` differs outside the hole."""
    prefix, suffix = broken[:start], broken[end:]
    if not (fixed.startswith(prefix) and fixed.endswith(suffix)):
        return None
    return prefix, fixed[start : len(fixed) - len(suffix)], suffix


def fix_examples(broken: str, fixed: str) -> list[tuple[str, str, str]]:
    """(prefix, repaired middle, suffix) for each window the fix lets the model rewrite
    (``repair.error_windows``; the fix regions on a server without them) that can hold the repair."""
    from diffusion_lsp.region import Document, fix_regions

    assert broken.isascii() and fixed.isascii(), "byte offsets are used as string offsets"
    doc = Document(broken, "python")
    try:
        from diffusion_lsp.region.repair import error_windows
    except ImportError:  # a server that gives the model the whole fix region
        holes = [(r.start_byte, r.end_byte) for r in fix_regions(doc)]
    else:
        holes = error_windows(doc)
    # None when the server repairs it without the model (a token repair, e.g. a missing colon).
    return [e for a, b in holes if (e := _split(broken, fixed, a, b)) is not None]


def rewrite_examples(cases: dict) -> list[tuple[str, str, str]]:
    """(prefix, middle, suffix) for each case of ``fixtures/rewrite.json``: the holes of a fill case,
    the region a refine case's selection becomes."""
    from diffusion_lsp import textops
    from diffusion_lsp.region import Document, hole_regions, refine_region

    examples = []
    for name, case in cases.items():
        broken, fixed = (_text(case[key]) for key in ("broken", "fixed"))
        assert broken.isascii() and fixed.isascii(), "byte offsets are used as string offsets"
        doc = Document(broken, "python")
        if "select" in case:
            line = case["select"]["line"]
            col = case["broken"][line].index(case["select"]["text"])
            rng = textops.Range(
                textops.Position(line, col),
                textops.Position(line, col + len(case["select"]["text"])),
            )
            region = refine_region(doc, rng)
            regions = [region] if region is not None else []
        else:
            regions = hole_regions(doc)
        found = [e for r in regions if (e := _split(broken, fixed, r.start_byte, r.end_byte))]
        if not found:
            raise SystemExit(f"fixtures/rewrite.json: {name}: no region holds the answer")
        examples += found
    return examples


def _text(lines: list[str]) -> str:
    """The lines as Neovim sends them: each ends with a line break."""
    return "".join(line + "\n" for line in lines)


def train(out: Path, examples: list[tuple[str, str, str]], steps: int, seed: int) -> float:
    """Teaches the model at ``out`` to fill each example's hole (any length of ``hole_lengths()``
    that fits) with its middle, then a stop token and padding, from any partly masked hole. Returns
    the last loss."""
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForMaskedLM.from_pretrained(out)
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    pad, mask = tokenizer.pad_token_id, tokenizer.mask_token_id

    def encode(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    lengths = hole_lengths()
    rows = []  # (ids with the answer in the hole, hole start, hole length)
    for prefix, middle, suffix in examples:
        before, answer, after = [cls, *encode(prefix)], encode(middle), [*encode(suffix), sep]
        for n in lengths:
            if n > len(answer):
                hole = [*answer, sep, *[pad] * (n - len(answer) - 1)]
                rows.append(([*before, *hole, *after], len(before), n))
        # And a hole of exactly its length, as a refine sees it (the canvas is the selection's tokens).
        rows.append(([*before, *answer, *after], len(before), len(answer)))
    width = max(len(ids) for ids, _, _ in rows)
    target = torch.full((len(rows), width), pad)  # [B, L]
    attention = torch.zeros((len(rows), width), dtype=torch.long)  # [B, L]
    in_hole = torch.zeros((len(rows), width), dtype=torch.bool)  # [B, L]
    for r, (ids, start, n) in enumerate(rows):
        target[r, : len(ids)] = torch.tensor(ids)
        attention[r, : len(ids)] = 1
        in_hole[r, start : start + n] = True

    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    loss = torch.tensor(0.0)
    for _ in range(steps):
        # Mask a random fraction of each hole (at least one position), as the sampler's steps see it.
        ratio = torch.rand((len(rows), 1))  # [B, 1]
        masked = in_hole & (torch.rand(target.shape) < ratio)  # [B, L]
        first = in_hole.float().argmax(dim=1)  # [B]
        masked[torch.arange(len(rows)), first] = True
        inputs = torch.where(masked, torch.full_like(target, mask), target)
        logits = model(input_ids=inputs, attention_mask=attention).logits  # [B, L, V]
        loss = torch.nn.functional.cross_entropy(logits[masked], target[masked])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    model.save_pretrained(out)
    return float(loss.detach())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "diffusion_lsp.engine.testing.tiny",
            "--out",
            str(args.out),
            "--family",
            "masked",
        ],
        check=True,
    )
    fixture = json.loads((HERE / "fixtures" / "fix.json").read_text())
    examples = fix_examples(_text(fixture["broken"]), _text(fixture["fixed"]))
    examples += rewrite_examples(json.loads((HERE / "fixtures" / "rewrite.json").read_text()))
    loss = train(args.out, examples, args.steps, args.seed)
    print(f"trained on {len(examples)} hole(s), {args.steps} steps, last loss {loss:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
