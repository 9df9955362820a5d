"""The open documents: the server's one copy of each file's text, kept in sync incrementally (UTF-16).

pygls' own workspace is bypassed (see ``protocol.DiffusionProtocol``), so this store is the only source
of truth. Each document is a ``region.Document`` (text, line index, tree-sitter tree, updated edit by
edit). A document the features cannot serve (binary, not valid Unicode, too large) is still tracked
exactly, as plain text, and says why in ``problem``; it becomes a full document again when fixed.
Runs on the event loop: each change costs an incremental reparse.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from lsprotocol import types
from pygls.uris import to_fs_path

from diffusion_lsp import textops
from diffusion_lsp.lsp.convert import text_range
from diffusion_lsp.region import Document

log = logging.getLogger(__name__)


def _byte_size(text: str) -> int:
    """UTF-8 size of ``text`` (-1 if it cannot be encoded)."""
    if text.isascii():
        return len(text)
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return -1


def problem_with(text: str, max_bytes: int, size: bool = True) -> str:
    """Why the features cannot serve ``text`` ('' if they can); ``size=False`` skips the size."""
    if "\x00" in text:
        return "the file looks binary (it contains NUL characters)"
    n = _byte_size(text)
    if n < 0:
        return "the file is not valid UTF-8 (it contains unpaired surrogates)"
    if size and n > max_bytes:
        return (
            f"the file is too large ({n} bytes; the limit is the maxFileBytes setting, {max_bytes})"
        )
    return ""


CHANGE_LOG = 512  # changes kept per document, to move an edit computed on an older version


@dataclass
class OpenDocument:
    """One open document. ``doc`` is None while ``problem`` is set; ``text`` is always exact.

    ``changes`` holds the last ``CHANGE_LOG`` content changes (``Change``: offsets and positions in
    the text they applied to); ``change_count`` counts every change since ``didOpen``.
    A reopened document is a new ``OpenDocument``, so identity tells "the same open document".
    """

    uri: str
    language_id: str
    version: int
    doc: Document | None
    plain: str  # the text while ``doc`` is None
    problem: str
    changes: list[Change] = field(default_factory=list)
    change_count: int = 0

    @property
    def text(self) -> str:
        return self.doc.text if self.doc is not None else self.plain

    def _log(self, index: textops.LineIndex, start: int, end: int, new_text: str) -> None:
        start_pos = index.position(start)
        tail = textops.LineIndex(new_text).position(len(new_text))
        new_end = textops.Position(
            start_pos.line + tail.line,
            tail.character + (start_pos.character if tail.line == 0 else 0),
        )
        self.changes.append(
            Change(start, end, len(new_text), self.version, start_pos, index.position(end), new_end)
        )
        self.change_count += 1
        if len(self.changes) > CHANGE_LOG:
            del self.changes[: len(self.changes) - CHANGE_LOG]

    def map_range(self, version: int, rng: textops.Range) -> textops.Range | None:
        """``rng``, given on ``version``, on the text as it is now; None if a change since then
        touched it or the log does not reach back that far."""
        if version == self.version:
            return rng
        later = [c for c in self.changes if c.version > version]
        if not later or later[0] is self.changes[0] and self.change_count > len(self.changes):
            return None  # too old (or a version from the future)
        start, end = rng.start, rng.end
        for c in later:
            if end < c.start_pos or (end == c.start_pos and c.start_pos != c.end_pos):
                continue  # before the change
            if start > c.end_pos or (start == c.end_pos and c.start_pos != c.end_pos):
                start, end = _shifted(start, c), _shifted(end, c)
                continue
            return None
        return textops.Range(start, end)


class Change(NamedTuple):
    """One content change: str offsets and LSP positions in the text it applied to, and where the
    inserted text ends; ``version`` is the document version the change produced."""

    start: int
    end: int
    new_length: int
    version: int
    start_pos: textops.Position
    end_pos: textops.Position
    new_end: textops.Position


def _shifted(pos: textops.Position, change: Change) -> textops.Position:
    """A position at or after ``change``'s end, moved by it."""
    if pos.line == change.end_pos.line:
        return textops.Position(
            change.new_end.line, change.new_end.character + pos.character - change.end_pos.character
        )
    return textops.Position(pos.line + change.new_end.line - change.end_pos.line, pos.character)


@dataclass(frozen=True)
class Snapshot:
    """What an edit is computed on: one open document as it was at one version."""

    entry: OpenDocument
    version: int
    text: str
    change_count: int

    @property
    def uri(self) -> str:
        return self.entry.uri


class Stale(Exception):
    """The document is no longer the one an edit was computed on (the message says how)."""


def rebase(
    current: OpenDocument | None, snap: Snapshot, hunks: Sequence[textops.Hunk]
) -> list[textops.Hunk]:
    """``hunks`` (against ``snap.text``) moved onto ``current``'s text.

    Raises ``Stale`` if the document was closed or reopened, or if a change since the snapshot
    touched the span the hunks cover; changes elsewhere only shift the hunks.
    """
    if current is not snap.entry:
        raise Stale("the document was closed or reopened while the model worked")
    missed = current.change_count - snap.change_count
    if missed == 0 or not hunks:
        return list(hunks)
    if missed > len(current.changes):
        raise Stale("the document changed too much while the model worked")
    lo, hi = hunks[0].start, hunks[-1].end
    shift = 0
    for start, end, new_length, *_ in current.changes[len(current.changes) - missed :]:
        if end <= lo + shift and not start == end == lo + shift:
            shift += new_length - (end - start)  # before the span: it moves
        elif start >= hi + shift and not start == end == hi + shift:
            continue  # after the span
        else:
            raise Stale("the text under the edit changed while the model worked")
    if current.text[lo + shift : hi + shift] != snap.text[lo:hi]:
        raise Stale("the text under the edit changed while the model worked")
    return [textops.Hunk(h.start + shift, h.end + shift, h.new_text) for h in hunks]


class DocumentStore:
    """Open documents by URI. ``max_bytes`` is read at each change (it is a setting)."""

    def __init__(self, max_bytes: Callable[[], int]) -> None:
        self._docs: dict[str, OpenDocument] = {}
        self._max_bytes = max_bytes

    def __contains__(self, uri: str) -> bool:
        return uri in self._docs

    def __iter__(self):
        return iter(list(self._docs.values()))

    def get(self, uri: str) -> OpenDocument | None:
        """The document, whatever its state (None if it is not open)."""
        return self._docs.get(uri)

    def usable(self, uri: str) -> OpenDocument | None:
        """The document if the features can serve it, else None (not open, binary, too large...)."""
        entry = self._docs.get(uri)
        if entry is None or entry.doc is None:
            return None
        return entry

    def open(self, uri: str, language_id: str, version: int, text: str) -> OpenDocument:
        entry = OpenDocument(uri, language_id, version, None, text, "")
        self._settle(entry, text)
        self._docs[uri] = entry
        return entry

    def snapshot(self, uri: str) -> Snapshot | None:
        """The document as it is now, for an edit to be computed on; None if it is not open."""
        entry = self._docs.get(uri)
        if entry is None:
            return None
        return Snapshot(entry, entry.version, entry.text, entry.change_count)

    def close(self, uri: str) -> None:
        self._docs.pop(uri, None)

    def change(
        self,
        uri: str,
        version: int,
        changes: Sequence[
            types.TextDocumentContentChangePartial | types.TextDocumentContentChangeWholeDocument
        ],
    ) -> OpenDocument | None:
        """Apply the content changes in order; None (and nothing changes) if ``uri`` is not open."""
        entry = self._docs.get(uri)
        if entry is None:
            log.warning("didChange for a document that is not open: %s", uri)
            return None
        if version <= entry.version:
            log.warning("didChange for %s goes from version %s to %s", uri, entry.version, version)
        entry.version = version
        for change in changes:
            rng = getattr(change, "range", None)
            index = entry.doc.index if entry.doc is not None else textops.LineIndex(entry.text)
            if rng is None:
                entry._log(index, 0, len(entry.text), change.text)
            else:
                entry._log(index, *index.range_offsets(text_range(rng)), change.text)
            if entry.doc is not None and not problem_with(change.text, max_bytes=-1, size=False):
                # The common case: an incremental edit and reparse; only the size can go wrong.
                before = entry.doc.text
                try:
                    entry.doc.apply_change(
                        text_range(rng) if rng is not None else None, change.text
                    )
                except Exception:  # keep the text exact even if the incremental parse fails
                    log.exception("incremental update of %s failed; rebuilding it", uri)
                    entry.doc = None
                    self._settle(entry, _apply_plain(before, rng, change.text))
                    continue
                text, limit = entry.doc.text, self._max_bytes()
                if 4 * len(text) > limit and _byte_size(text) > limit:
                    self._settle(entry, text)
            else:
                self._settle(entry, _apply_plain(entry.text, rng, change.text))
        return entry

    def _settle(self, entry: OpenDocument, text: str) -> None:
        """Put ``text`` in ``entry``: a full document, or plain text with its problem."""
        entry.problem = problem_with(text, self._max_bytes())
        if entry.problem:
            entry.doc, entry.plain = None, text
            log.info("%s: %s; no completions or diagnostics for it", entry.uri, entry.problem)
        elif entry.doc is None:
            entry.doc, entry.plain = Document(text, entry.language_id, _path(entry.uri)), ""
        else:
            entry.doc.set_text(text)


def _apply_plain(text: str, rng: types.Range | None, new_text: str) -> str:
    if rng is None:
        return new_text
    start, end = textops.LineIndex(text).range_offsets(text_range(rng))
    return text[:start] + new_text + text[end:]


def _path(uri: str) -> str | None:
    try:
        return to_fs_path(uri)
    except Exception:  # a URI pygls cannot map to a path (untitled:, vscode-notebook-cell:, ...)
        return None
