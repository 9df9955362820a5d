"""Next-edit cases from before/after file pairs a user supplies (``eval next-edit --pairs DIR``).

The directory holds, per case NAME (any extension the server knows, e.g. ``.py``):

- ``NAME.before.EXT``: the file before the change;
- ``NAME.after.EXT``: the file once the whole change is made;
- ``NAME.edit.EXT`` (optional): the file after the user's first edit. The user's edit is then the
  difference between before and edit (one span: from the first to the last changed character), and
  the expected sites are the hunks of edit -> after.

Without ``NAME.edit.EXT`` the hunks of before -> after (``hunks``: changed lines, each cut to the
characters that differ; n lines replaced by n lines are n hunks) are split: the first is the user's edit, the others are the expected
sites. A pair whose expected sites come out empty is a no-edit case (the kind ``no-edit``); the
others have the kind ``pair``.
"""

from __future__ import annotations

import difflib
import os

from diffusion_lsp.eval.languages import language_of
from diffusion_lsp.eval.next_edit import NO_EDIT, Case, Site
from diffusion_lsp.region.next_edit import LastEdit
from diffusion_lsp.textops import changed_span

PAIR = "pair"


def hunks(old: str, new: str) -> list[Site]:
    """The changes old -> new as sites in ``old``'s offsets: one per group of changed lines
    (difflib's opcodes; a group that replaces n lines by n lines is n hunks, one a line), each
    narrowed to the characters that differ."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    a_at = [0]
    for line in a:
        a_at.append(a_at[-1] + len(line))
    b_at = [0]
    for line in b:
        b_at.append(b_at[-1] + len(line))
    out = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    groups = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "replace" and i2 - i1 == j2 - j1:
            groups.extend((i, i + 1, j, j + 1) for i, j in zip(range(i1, i2), range(j1, j2)))
        elif tag != "equal":
            groups.append((i1, i2, j1, j2))
    for i1, i2, j1, j2 in groups:
        old_part, new_part = old[a_at[i1] : a_at[i2]], new[b_at[j1] : b_at[j2]]
        p, old_end, new_end = changed_span(old_part, new_part)
        out.append(Site(a_at[i1] + p, a_at[i1] + old_end, new_part[p:new_end]))
    return out


def case_of_pair(name: str, before: str, after: str, edit: str | None, language: str) -> Case:
    """One case from a pair (and the optional text after the user's edit)."""
    if edit is not None:
        start, old_end, new_end = changed_span(before, edit)
        old, new = before[start:old_end], edit[start:new_end]
        if old == new:
            raise ValueError(f"{name}: the edit file equals the before file")
        edited, expected = edit, hunks(edit, after)
    else:
        changes = hunks(before, after)
        if not changes:
            raise ValueError(f"{name}: before and after are the same")
        first, rest = changes[0], changes[1:]
        start, old, new = first.start, before[first.start : first.end], first.new_text
        edited = before[:start] + new + before[first.end :]
        shift = len(new) - len(old)
        expected = [Site(s.start + shift, s.end + shift, s.new_text) for s in rest]
    kind = PAIR if expected else NO_EDIT
    return Case(name, kind, before, edited, LastEdit(start, old, new), tuple(expected), language)


def load_pairs(directory: str) -> list[Case]:
    """Every ``NAME.before.EXT`` / ``NAME.after.EXT`` pair of ``directory``, by name."""
    names = sorted(os.listdir(directory))
    out = []
    for file in names:
        stem, dot, ext = file.rpartition(".")
        if not dot or not stem.endswith(".before"):
            continue
        name = stem[: -len(".before")]
        after_path = os.path.join(directory, f"{name}.after.{ext}")
        if not os.path.exists(after_path):
            raise ValueError(f"{file}: no {name}.after.{ext} beside it")
        language = language_of(file)
        if language is None:
            raise ValueError(f"{file}: no language for the extension .{ext}")
        edit_path = os.path.join(directory, f"{name}.edit.{ext}")
        texts = []
        for path in (os.path.join(directory, file), after_path, edit_path):
            if os.path.exists(path):
                with open(path, encoding="utf-8") as f:
                    texts.append(f.read())
            else:
                texts.append(None)
        out.append(case_of_pair(name, texts[0], texts[1], texts[2], language))
    return out
