"""Exact prompt reuse for DiffusionGemma: the causal encoder's KV cache, kept per document, only appended.

The encoder is causal, so the keys and values of a prompt's first ``m`` tokens depend on those tokens
alone: a request whose prompt ids start with a cached entry's ids reuses the entry and encodes only the
difference. Entries are never cropped (cropping a sliding-window layer that has already dropped its
oldest tokens gives wrong results); a prompt that diverges inside an entry is encoded afresh.

Each entry holds the *stable* part of a prompt (everything before the line being typed). A request
forks the entry (a shallow copy whose layers share the entry's tensors; appending to the fork rebinds
the fork's tensors and leaves the entry's untouched), appends its own tail, and hands the fork to the
decoder, which only reads it.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_ENTRIES = 4


@dataclass(frozen=True)
class PrefillStats:
    """What one request's prefill did: tokens found in a cached entry, and tokens run through the encoder."""

    reused: int
    encoded: int


@dataclass
class _Entry:
    key: str | None
    ids: list[int]
    cache: Any  # transformers DynamicCache, batch 1
    stamp: int = 0


@dataclass
class PromptCache:
    """Encoder caches of recent prompts, at most ``max_entries``, one per ``key`` (a document URI).

    ``encode(model, ids, stable=..., key=...)`` returns a cache for ``ids`` (batch 1) that the caller
    may read or extend; the entries themselves only ever grow by appending.
    """

    max_entries: int = DEFAULT_ENTRIES
    _entries: list[_Entry] = field(default_factory=list)
    _clock: int = 0

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self, key: str | None = None) -> None:
        """Forget every entry, or only the one kept for ``key``."""
        self._entries = [e for e in self._entries if key is not None and e.key != key]

    def cached_ids(self, key: str | None = None) -> list[list[int]]:
        """The token ids each entry holds (for diagnostics and tests)."""
        return [list(e.ids) for e in self._entries if key is None or e.key == key]

    def encode(
        self, model: Any, ids: Sequence[int], *, stable: int | None = None, key: str | None = None
    ) -> tuple[Any, PrefillStats]:
        """A cache holding ``ids``. The first ``stable`` ids (default: all) are kept in an entry for
        later requests; the rest are appended to a fork the caller owns."""
        ids = list(ids)
        if not ids:
            raise ValueError("a prompt needs at least one token")
        stable = len(ids) if stable is None else max(1, min(stable, len(ids)))
        self._clock += 1
        entry = self._longest_prefix(ids, key)
        reused = len(entry.ids) if entry is not None else 0
        encoded = 0
        if entry is None:
            entry = _Entry(
                key, ids[:stable], encode_tokens(model, None, ids[:stable], 0), self._clock
            )
            encoded = stable
            self._store(entry)
        elif len(entry.ids) < stable:
            if entry.key != key:  # another document's entry: extend a fork of it, keep theirs
                entry = _Entry(key, entry.ids, fork(entry.cache), self._clock)
                self._store(entry)
            grow = ids[len(entry.ids) : stable]
            entry.cache = encode_tokens(model, entry.cache, grow, len(entry.ids))
            entry.ids = ids[:stable]
            encoded = len(grow)
        # (an entry longer than `stable` is used as it is: entries are never cropped)
        entry.stamp = self._clock
        cache = fork(entry.cache)
        tail = ids[len(entry.ids) :]
        if tail:
            cache = encode_tokens(model, cache, tail, len(entry.ids))
            encoded += len(tail)
        return cache, PrefillStats(reused=reused, encoded=encoded)

    def _longest_prefix(self, ids: list[int], key: str | None) -> _Entry | None:
        """The entry holding the most of ``ids``; on a tie, the one kept for ``key``."""
        best: _Entry | None = None
        for e in self._entries:
            n = len(e.ids)
            if n > len(ids) or ids[:n] != e.ids:
                continue
            if best is None or (n, e.key == key) > (len(best.ids), best.key == key):
                best = e
        return best

    def _store(self, entry: _Entry) -> None:
        if entry.key is not None:
            self._entries = [e for e in self._entries if e.key != entry.key]
        self._entries.append(entry)
        while len(self._entries) > self.max_entries:
            oldest = min(self._entries, key=lambda e: e.stamp)
            self._entries.remove(oldest)


def encode_tokens(model: Any, cache: Any, ids: Sequence[int], start: int) -> Any:
    """Run the causal encoder on ``ids`` at positions ``start..``, appending to ``cache`` (or a new one).

    Returns the cache (the same object when one was given: the encoder appends in place).
    """
    import torch

    device = model.device
    input_ids = torch.tensor([list(ids)], dtype=torch.long, device=device)  # [1, n]
    positions = torch.arange(start, start + len(ids), device=device).unsqueeze(0)  # [1, n]
    if cache is None:
        from transformers import DynamicCache

        cache = DynamicCache(config=model.config.get_text_config(decoder=True))
    with torch.no_grad():
        kwargs = {cache_kwarg(model.model.encoder): cache}
        model.model.encoder(input_ids=input_ids, position_ids=positions, **kwargs)  # appends
    return cache


def cache_kwarg(module: Any) -> str:
    """The name ``module.forward`` takes the cache by: ``cache`` in recent transformers,
    ``past_key_values`` before the rename."""
    params = inspect.signature(module.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def fork(cache: Any) -> Any:
    """A cache sharing ``cache``'s tensors; appending to it rebinds its own tensors only.

    Every cache layer's ``update`` builds new tensors with ``torch.cat`` and rebinds them; nothing
    writes into an existing tensor, so the original is never modified through the fork.
    """
    out = copy.copy(cache)
    out.layers = [copy.copy(layer) for layer in cache.layers]
    return out


def expand(cache: Any, batch: int) -> Any:
    """A read-only view of a batch-1 ``cache`` for ``batch`` rows, without copying memory."""
    out = fork(cache)
    for layer in out.layers:
        if getattr(layer, "keys", None) is not None and layer.keys.numel():
            layer.keys = layer.keys.expand(batch, *layer.keys.shape[1:])  # [B, heads, S, dim]
            layer.values = layer.values.expand(batch, *layer.values.shape[1:])
    return out
