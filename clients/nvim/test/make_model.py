"""Makes the model for the Neovim end-to-end tests: the project's tiny random masked LM, then trained for
a few seconds to fill the fix region of ``fixtures/fix.json`` with its repair.

A random model's fix never parses, so the server (rightly) applies none; this one has learned one
answer, and the real server's fix path (region, masked infill, length search, parse check, edit) has
something to deliver. Everything else it writes stays garbage. The region comes from the project's own
``fix_regions``, so the prefix and suffix are the ones the server will send.

    python clients/nvim/test/make_model.py --out DIR
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LENGTHS = (4, 8, 16, 32, 64)  # every hole length the server may try (engine.candidates ladders)


def fix_examples(broken: str, fixed: str) -> list[tuple[str, str, str]]:
    """(prefix, repaired middle, suffix) for each fix region of ``broken``."""
    from diffusion_lsp.region import Document, fix_regions

    assert broken.isascii() and fixed.isascii(), "byte offsets are used as string offsets"
    examples = []
    for region in fix_regions(Document(broken, "python")):
        start, end = region.start_byte, region.end_byte
        tail = len(broken) - end
        prefix, suffix = broken[:start], broken[end:]
        assert fixed.startswith(prefix) and fixed.endswith(suffix), (
            "the fix lies outside the region"
        )
        examples.append((prefix, fixed[start : len(fixed) - tail], suffix))
    if not examples:
        raise SystemExit("fixtures/fix.json: the broken text has no fix region")
    return examples


def train(out: Path, examples: list[tuple[str, str, str]], steps: int, seed: int) -> float:
    """Teaches the model at ``out`` to fill each example's hole (any length in LENGTHS that fits) with
    its middle, then a stop token and padding, from any partly masked hole. Returns the last loss."""
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForMaskedLM.from_pretrained(out)
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    pad, mask = tokenizer.pad_token_id, tokenizer.mask_token_id

    def encode(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    rows = []  # (ids with the answer in the hole, hole start, hole length)
    for prefix, middle, suffix in examples:
        before, answer, after = [cls, *encode(prefix)], encode(middle), [*encode(suffix), sep]
        for n in LENGTHS:
            if n > len(answer):
                hole = [*answer, sep, *[pad] * (n - len(answer) - 1)]
                rows.append(([*before, *hole, *after], len(before), n))
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
            "diffusion_lsp.engine.tiny",
            "--out",
            str(args.out),
            "--family",
            "masked",
        ],
        check=True,
    )
    fixture = json.loads((HERE / "fixtures" / "fix.json").read_text())
    # The lines as Neovim sends them: each ends with a line break.
    text = {key: "".join(line + "\n" for line in fixture[key]) for key in ("broken", "fixed")}
    examples = fix_examples(text["broken"], text["fixed"])
    loss = train(args.out, examples, args.steps, args.seed)
    print(f"trained on {len(examples)} fix region(s), {args.steps} steps, last loss {loss:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
