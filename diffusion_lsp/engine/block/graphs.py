"""DiffusionGemma's canvas decoder step on static shapes, replayed as CUDA graphs.

transformers' decoder is launch-bound at batch one: one step of the 26B-A4B model issues thousands of
small kernels (30 layers of norms, attention, a dense MLP, a router and grouped expert products), so a
step took about 80 ms on an H100 whatever the canvas length, four to seven times the time to read the
weights it touches. A CUDA graph replays the whole step as one launch.

The graph needs fixed shapes and addresses, and the prompt cache grows as the user types. So every
request's prompt cache (read only by the decoder) is copied into per-layer key/value pools of a fixed
capacity: a context bucket for the global layers, the sliding window for the sliding layers (their
cache never holds more). Slots past the prompt, canvas slots past a row's length and the rows that pad
the batch to its bucket are masked out of the keys; the canvas is padded to a width bucket. Each
(batch bucket, width bucket, context bucket) step is captured once, at model load (``warmup``) or at
its first use, and replayed after that: typing never recaptures.

The step itself is transformers' own ``DiffusionGemmaDecoderModel.forward`` (the same modules and
arithmetic), called with a 4-D mask per layer type and a cache whose layers are views of the pools;
the first step's "no self-conditioning" is ``self_conditioning_mask=False``, which the decoder defines
as equal to passing no logits. Off CUDA the same static-shape step runs eagerly (for tests).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from diffusion_lsp.engine.block.cache import cache_kwarg
from diffusion_lsp.engine.static_shapes import bucket, capture

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]  # (message, fraction done)

CONTEXT_BUCKETS = (512, 1024, 2048, 4096, 8192, 16384, 32768)  # prompt tokens, global layers
WIDTH_BUCKETS = (32, 64, 128, 256)  # canvas slots
BATCH_BUCKETS = (1, 2, 4, 8)  # canvas rows


@dataclass
class _Graph:
    """One captured step and its static inputs and output."""

    graph: Any  # torch.cuda.CUDAGraph, or None off CUDA
    ids: Any  # [B, W] long
    positions: Any  # [B, W] long
    sc_logits: Any  # [B, W, V], a view of the shared self-conditioning pool
    sc_on: Any  # [B] bool: False at the first step (no self-conditioning)
    masks: dict[str, Any]  # layer type -> [B, 1, W, capacity + W] bool, True where a key is seen
    hidden: Any = None  # [B, W, H], the last hidden states (written by each replay)


@dataclass
class GraphStats:
    """Counters for tests and benchmarks."""

    captures: int = 0
    replays: int = 0
    loads: int = 0  # prompt caches copied into the pools
    shapes: list[tuple[int, int, int]] = field(default_factory=list)  # (batch, width, context)
    error: str | None = None  # why capturing failed, if it did (the step then runs eagerly)


class GraphedCanvasDecoder:
    """A canvas-decoder step for ``block.loop.denoise`` with static shapes and CUDA graphs.

    The loop calls ``start(cache, batch)`` once per request, then ``step(...)`` once per denoising
    step, as with ``block.loop.EagerCanvasDecoder``.
    """

    def __init__(
        self,
        model: Any,
        *,
        cuda_graphs: bool = True,
        context_buckets: Iterable[int] = CONTEXT_BUCKETS,
        width_buckets: Iterable[int] = WIDTH_BUCKETS,
    ) -> None:
        import torch

        text = model.config.get_text_config()
        self.model = model
        self.decoder = model.model.decoder
        self.cache_name = cache_kwarg(self.decoder)  # "cache", or "past_key_values" before 5.2x
        self.types = list(text.layer_types)
        self.window = int(text.sliding_window)
        self.vocab = int(text.vocab_size)
        self.pad = text.pad_token_id if text.pad_token_id is not None else 0
        param = self.decoder.embed_tokens.weight
        self.dtype, self.device = param.dtype, param.device
        self.use_graphs = cuda_graphs and self.device.type == "cuda"
        self.context_buckets = tuple(sorted(context_buckets))
        self.width_buckets = tuple(sorted(width_buckets))
        self.batch_buckets = BATCH_BUCKETS
        self.stats = GraphStats()
        self._graphs: dict[tuple[int, int, int], _Graph] = {}
        self._pools: list[tuple[Any, Any]] = []  # per layer: keys, values [1, kvh, capacity, hd]
        self._pool_context = 0  # global-layer capacity of the pools
        self._sc_pool = torch.zeros(0, dtype=self.dtype, device=self.device)
        self._loaded: list[Any] = []  # the key tensors of the cache that is in the pools
        self._lengths: list[int] = []  # per layer: cached keys in the pools
        self._context = 0  # the context bucket of the loaded cache
        self._batch = 0  # the batch bucket of the loaded request (rows that finish keep their slot)
        self._fork: Any = None  # the cache object the decoder reads: layers are pool views

    # -- the loop's step --------------------------------------------------------------------------

    def start(self, cache: Any, batch: int) -> None:
        """Begin a request of ``batch`` rows on the batch-1 prompt ``cache``: its keys and values go
        into the pools (unless they are there already), and the request keeps one batch bucket
        (rows that finish early keep their slot, so the request never switches graphs)."""
        keys = [layer.keys for layer in cache.layers]
        if len(keys) != len(self._loaded) or any(a is not b for a, b in zip(keys, self._loaded)):
            self._load(cache)
        self._batch = bucket(batch, self.batch_buckets)

    def step(
        self, canvas: Any, sc_logits: Any | None, lengths: Sequence[int], positions: Any
    ) -> Any:
        """One decoder pass over the canvas [B, L] (B at most the batch given to ``start``), with
        the previous step's self-conditioning logits [B, L, V] or None, each row's real length and
        the canvas positions [B, L]. Returns the last hidden states [B, L, H]."""
        batch, width = canvas.shape
        g = self._graph(
            max(self._batch, bucket(batch, self.batch_buckets)),
            bucket(width, self.width_buckets),
            self._context,
        )
        self._fill(g, canvas, sc_logits, lengths, positions)
        if g.graph is not None:
            g.graph.replay()
            self.stats.replays += 1
        else:
            g.hidden = self._forward(g, self._context)
        return g.hidden[:batch, :width]

    def warmup(
        self,
        batch_sizes: Iterable[int],
        widths: Iterable[int],
        contexts: Iterable[int],
        progress: Progress | None = None,
    ) -> None:
        """Capture every (batch, width, context) bucket the given sizes fall in now, at load."""
        combos = sorted(
            {
                (
                    bucket(b, self.batch_buckets),
                    bucket(w, self.width_buckets),
                    bucket(c, self.context_buckets),
                )
                for b in batch_sizes
                for w in widths
                for c in contexts
            }
        )
        self._ensure_pools(max(c for _, _, c in combos))
        self._ensure_sc(max(b * w for b, w, _ in combos))
        for done, (b, w, c) in enumerate(combos):
            if progress is not None:
                progress(
                    f"capturing the decoder step: {b} rows, {w} slots, {c} context",
                    done / len(combos),
                )
            self._graph(b, w, c)
        if progress is not None:
            progress("decoder steps captured", 1.0)

    # -- internals --------------------------------------------------------------------------------

    def _capacity(self, layer_type: str, context: int) -> int:
        return min(context, self.window) if layer_type == "sliding_attention" else context

    def _ensure_pools(self, context: int) -> None:
        """Key/value pools per layer for ``context`` prompt tokens (grown, which drops the graphs
        captured on the old pools)."""
        import torch

        if context <= self._pool_context:
            return
        pools = []
        for layer, t in zip(self.decoder.layers, self.types):
            attn = layer.self_attn
            kvh = attn.k_proj.out_features // attn.head_dim
            shape = (1, kvh, self._capacity(t, context), attn.head_dim)
            pools.append(
                (
                    torch.zeros(shape, dtype=self.dtype, device=self.device),
                    torch.zeros(shape, dtype=self.dtype, device=self.device),
                )
            )
        self._pools, self._pool_context = pools, context
        self._graphs.clear()
        self._loaded = []

    def _ensure_sc(self, rows_times_width: int) -> None:
        """The self-conditioning pool shared by later graphs, for ``rows_times_width`` canvas
        slots. Graphs captured on a smaller pool keep theirs (their inputs are filled through their
        own view), so growing it drops nothing."""
        import torch

        need = rows_times_width * self.vocab
        if self._sc_pool.numel() < need:
            self._sc_pool = torch.zeros(need, dtype=self.dtype, device=self.device)

    def _load(self, cache: Any) -> None:
        """Copy the prompt ``cache`` (batch 1) into the pools."""
        lengths = [layer.keys.shape[2] for layer in cache.layers]
        full = [n for n, t in zip(lengths, self.types) if t != "sliding_attention"]
        context = bucket(max(full or lengths), self.context_buckets)
        self._ensure_pools(context)
        self._context = context
        for (keys, values), layer, n in zip(self._pools, cache.layers, lengths):
            if n > keys.shape[2]:
                raise ValueError(
                    f"a cache layer holds {n} keys, more than its pool's {keys.shape[2]}"
                )
            keys[:, :, :n].copy_(layer.keys)  # [1, kvh, n, hd]
            values[:, :, :n].copy_(layer.values)
        # Holding the cached tensors keeps their identity meaningful: a cache that grows rebinds them.
        self._loaded, self._lengths = [layer.keys for layer in cache.layers], lengths
        self.stats.loads += 1

    def _view_cache(self, batch: int, context: int) -> Any:
        """A cache object whose layers are views of the pools at ``context`` capacity, expanded
        (not copied) to ``batch`` rows."""
        import copy

        from transformers import DynamicCache

        if self._fork is None:
            self._fork = DynamicCache(config=self.model.config.get_text_config(decoder=True))
        out = copy.copy(self._fork)
        layers = []
        for (keys, values), t, base in zip(self._pools, self.types, self._fork.layers):
            cap = self._capacity(t, context)
            layer = copy.copy(base)
            layer.keys = keys[:, :, :cap].expand(batch, -1, -1, -1)  # [B, kvh, cap, hd]
            layer.values = values[:, :, :cap].expand(batch, -1, -1, -1)
            layer.is_initialized = True
            layers.append(layer)
        out.layers = layers
        return out

    def _graph(self, batch: int, width: int, context: int) -> _Graph:
        import torch

        key = (batch, width, context)
        g = self._graphs.get(key)
        if g is not None:
            return g
        self._ensure_pools(context)
        self._ensure_sc(batch * width)
        dev = self.device
        masks = {
            t: torch.ones(
                (batch, 1, width, self._capacity(t, context) + width), dtype=torch.bool, device=dev
            )
            for t in set(self.types)
        }
        g = _Graph(
            graph=None,
            ids=torch.full((batch, width), self.pad, dtype=torch.long, device=dev),
            positions=torch.arange(width, device=dev).expand(batch, width).contiguous(),
            sc_logits=self._sc_pool[: batch * width * self.vocab].view(batch, width, self.vocab),
            sc_on=torch.zeros(batch, dtype=torch.bool, device=dev),
            masks=masks,
        )
        self.stats.shapes.append(key)
        if self.use_graphs:
            try:
                g.graph, g.hidden = self._capture(g, context)
                self.stats.captures += 1
            except RuntimeError as exc:  # serve eagerly rather than fail the request
                log.warning("capturing the decoder step failed; running it eagerly", exc_info=True)
                torch.cuda.synchronize()
                self.stats.error = repr(exc)
                self.use_graphs = False
                for other in self._graphs.values():
                    other.graph = None
        self._graphs[key] = g
        return g

    def _capture(self, g: _Graph, context: int) -> tuple[Any, Any]:
        """Capture one step as a CUDA graph; returns the graph and its output tensor."""
        import torch

        with torch.no_grad():
            # One memory pool for every graph: only one replays at a time.
            live = [o.graph for o in self._graphs.values() if o.graph is not None]
            graph, hidden = capture(lambda: self._forward(g, context), live[0] if live else None)
        return graph, hidden

    def _forward(self, g: _Graph, context: int) -> Any:
        import torch

        with torch.no_grad():
            return self.decoder(
                decoder_input_ids=g.ids,
                **{self.cache_name: self._view_cache(g.ids.shape[0], context)},
                self_conditioning_logits=g.sc_logits,
                self_conditioning_mask=g.sc_on,
                decoder_attention_mask=g.masks,
                decoder_position_ids=g.positions,
            ).last_hidden_state  # [B, W, H]

    def _fill(
        self, g: _Graph, canvas: Any, sc_logits: Any | None, lengths: Sequence[int], positions: Any
    ) -> None:
        """Write one step's inputs into the graph's static tensors. Pad rows repeat row 0 (finite
        values, never read); pad slots hold the pad token and are masked out of every row's keys."""
        batch, width = canvas.shape
        bb, wb = g.ids.shape
        g.ids.fill_(self.pad)
        g.ids[:batch, :width] = canvas
        g.ids[batch:, :width] = canvas[:1]
        g.positions[:batch, :width] = positions
        g.positions[:, width:] = positions[:1, -1:] + 1 + self._arange(wb - width)
        g.positions[batch:] = g.positions[:1]
        g.sc_on.fill_(sc_logits is not None)
        if sc_logits is not None:
            g.sc_logits[:batch, :width] = sc_logits
        for t, mask in g.masks.items():
            n_cache = max((n for n, lt in zip(self._lengths, self.types) if lt == t), default=0)
            cap = mask.shape[-1] - wb
            mask.fill_(False)
            mask[:, :, :, :n_cache] = True
            for b, n in enumerate(lengths):
                mask[b, :, :, cap : cap + n] = True
            mask[batch:] = mask[:1]

    def _arange(self, n: int) -> Any:
        import torch

        return torch.arange(n, device=self.device)
