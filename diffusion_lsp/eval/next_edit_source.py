"""One Python file parsed for the next-edit case builders, and a case from an edit in it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from diffusion_lsp.eval.languages import parser_for
from diffusion_lsp.eval.metrics import parses
from diffusion_lsp.eval.next_edit import Case, Site, apply_sites
from diffusion_lsp.region.next_edit import LastEdit

MAX_SPAN_LINES = 120  # every site within this many lines of the user's edit


class Source:
    """One parsed file: text, bytes, tree and a byte-to-str offset map."""

    def __init__(self, text: str, path: str) -> None:
        self.text, self.path = text, path
        self.data = text.encode("utf-8")
        self.tree = parser_for("python").parse(self.data)
        if len(self.data) == len(text):
            self._map = None
        else:
            self._map = [0] * (len(self.data) + 1)
            b = 0
            for i, ch in enumerate(text):
                n = len(ch.encode("utf-8"))
                for k in range(n):
                    self._map[b + k] = i
                b += n
            self._map[b] = len(text)
        self.identifiers = {n.text.decode() for n in self.walk() if n.type == "identifier"}

    def pos(self, byte: int) -> int:
        return byte if self._map is None else self._map[byte]

    def span(self, node: Any) -> tuple[int, int]:
        return self.pos(node.start_byte), self.pos(node.end_byte)

    def walk(self, node: Any = None) -> Iterable[Any]:
        stack = [node or self.tree.root_node]
        while stack:
            n = stack.pop()
            yield n
            stack.extend(reversed(n.children))

    def line(self, offset: int) -> int:
        return self.text.count("\n", 0, offset) + 1


def case_of_edit(
    src: Source,
    kind: str,
    at: int,
    edit: tuple[int, int, str],
    sites: Sequence[tuple[int, int, str]],
) -> Case | None:
    """A case from the user's edit and the expected sites, both in ``src.text``'s offsets; None
    when the edited text or the text with every site applied does not parse."""
    start, end, new = edit
    edited = src.text[:start] + new + src.text[end:]
    shift = len(new) - (end - start)
    moved = tuple(Site(s + shift, e + shift, t) if s >= end else Site(s, e, t) for s, e, t in sites)
    if any(s < end and e > start for s, e, _ in sites):
        return None
    if any(abs(src.line(s) - src.line(start)) > MAX_SPAN_LINES for s, _, _ in sites):
        return None
    if parses(edited, "python") is not True:
        return None
    if moved and parses(apply_sites(edited, moved), "python") is not True:
        return None
    name = f"{kind}:{short_path(src.path)}:{src.line(at)}"
    last = LastEdit(start, src.text[start:end], new)
    return Case(name, kind, src.text, edited, last, tuple(sorted(moved)), "python")


def short_path(path: str) -> str:
    """A path from its package on (what follows site-packages/ or the stdlib's folder)."""
    for marker in ("site-packages/", "dist-packages/", "/lib/python3"):
        if marker in path:
            rest = path.rsplit(marker, 1)[1]
            return rest.split("/", 1)[1] if marker == "/lib/python3" and "/" in rest else rest
    return path
