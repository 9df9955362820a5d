"""The choice of an edit, without a client: the first candidate that passes the gate."""

from __future__ import annotations

from diffusion_lsp.lsp import edits


def test_fill_and_refine_take_the_first_candidate_that_passes_the_gate():
    from diffusion_lsp.region import Document

    doc = Document("def f():\n    pass\n\ndef g():\n    return 1\n", "python")
    start = doc.text.index("pass")
    end = start + len("pass")
    chosen, _ = edits._first_safe(doc, start, end, ["return (", "return 1", "x = 2"])
    assert chosen == "return 1"  # the first one does not parse
    none, why = edits._first_safe(doc, start, end, ["return (", "(("])
    assert none is None and why == "it does not parse"
