"""The masked family's dual KV cache: a denoiser that recomputes only the span holding the hole.

``DualCacheDenoiser`` is a ``denoiser.Denoiser`` (tokens, attention, rows -> logits at the rows) for
the models ``stacks.py`` runs (llama-like bidirectional models and ModernBERT masked LMs). The first call
of a request runs the whole canvas once and keeps every position's keys and values; later calls
recompute only the *span* (the hole's positions, and one before it on a shifted model; never
called a block, which names the DiffusionGemma family) and attend to the cached prefix and suffix. That is
Fast-dLLM's DualCache (Wu et al. 2025, "Fast-dLLM: Training-free Acceleration of Diffusion LLM by
Enabling KV Cache and Parallel Decoding", Section 3.2): approximate, because the context's keys do not
see the hole's later tokens, so its effect on the output is measured (``benchmarks/speed``,
``benchmarks/bench_cpu_dual_cache.py``) against ``refresh_every=1``, which recomputes everything at every step and equals the uncached loop.

``share_prefill`` (on by default on the CPU): the rows of a request's batch (candidate hole lengths,
alternatives) hold the same context tokens and differ only in where the suffix sits, so the first call
runs the whole canvas of one row (the shortest hole) and gives every row that row's context keys and
values, the keys rotated to the row's own positions (RoPE keys for position p rotated by the angle of
d are the keys for p + d, exactly); one span step over all rows then writes their holes. It is
approximate in the same way as the cache itself (a row's context saw a hole of another length) and
measured the same way (``benchmarks/bench_cpu_dual_cache.py --compare shared``).

Shapes are static per bucket on CUDA: the context is padded to a context bucket and the span to a
span bucket, padding is masked out of the keys, and each (batch, context bucket, span bucket) span
step is captured once as a CUDA graph and replayed, so typing never recompiles or recaptures. The
CPU has no graphs: there the context takes its exact length (its padding would be work for nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from diffusion_lsp.engine.masked.denoiser import Rows
from diffusion_lsp.engine.masked.stacks import make_stack
from diffusion_lsp.engine.static_shapes import bucket, capture

if TYPE_CHECKING:
    import torch

Progress = Callable[[str, float], None]  # (message, fraction done)

CONTEXT_BUCKETS = (256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192, 12288, 16384)


def span_bucket(n: int) -> int:
    """The static span length for ``n`` tokens: a multiple of 8 up to 64, of 16 up to 128, of 32
    above (at most a quarter wasted; the rows of a skinny matrix product cost little at batch one)."""
    step = 8 if n <= 64 else 16 if n <= 128 else 32
    return -(-max(n, 1) // step) * step


def context_bucket(n: int, buckets: Iterable[int] = CONTEXT_BUCKETS) -> int:
    """The smallest context bucket that holds ``n`` tokens (powers of two and 1.5 times them), or ``n``
    rounded up to a multiple of 4096 past the largest."""
    return bucket(n, buckets, beyond=4096)


def _same_rows(x: torch.Tensor, n: int) -> bool:
    """Whether every row of ``x`` [B, ..., K] holds the same values in its first ``n`` slots."""
    return bool((x[..., :n] == x[:1, ..., :n]).all())


@dataclass
class _Layout:
    """Where each row's context and span sit in the static slots of one request."""

    attention: Any  # the request's attention tensor, held so its identity marks the request
    batch: int
    ctx: int  # context bucket
    span: int  # span bucket
    start: Any  # [B] long, first position of each row's span
    span_index: Any  # [B, span] long, positions gathered into the span slots
    ids: Any  # [B, ctx + span] long, the tokens of every slot at prefill
    positions: Any  # [B, ctx + span] long
    key_bias: Any  # [B, 1, 1, ctx + span], 0 on real slots, -inf on padding
    source: int | None = None  # the row whose prefill every row shares (None: each row its own)
    offset: Any = None  # [B, ctx] long, each row's context positions minus the source row's
    steps_since_prefill: int = 0
    plan: Any = None  # the span steps' attention masks (``stack.attention_plan``), made once


@dataclass
class _Graph:
    graph: Any
    ids: Any  # static [B, span]
    positions: Any  # static [B, span]
    key_bias: Any  # static [B, 1, 1, ctx + span]
    key_positions: Any  # static [B, ctx + span]
    hidden: Any  # static [B, span, H], the span's final hidden states


@dataclass
class FastPathStats:
    """Counters for tests and benchmarks."""

    prefills: int = 0
    shared_prefills: int = 0  # of the prefills, those that ran one row and rotated its keys
    span_steps: int = 0
    captures: int = 0
    tokens_encoded: list[int] = field(default_factory=list)  # slots run per call


class DualCacheDenoiser:
    """A ``denoiser.Denoiser`` with a dual KV cache, shape buckets and CUDA-graphed span steps.

    ``shift``: the logit for position i comes from position i - 1 (Dream, DiffuCoder); the span then
    starts one position before the hole. ``refresh_every``: recompute the whole canvas every that many
    span steps (1 = every step: exact, the uncached loop; None = only at the start of a request).
    ``cuda_graphs``: capture span steps on CUDA (ignored on the CPU). ``share_prefill``: rows whose
    context tokens are the same share one row's prefill, its keys rotated to each row's positions
    (every prefill, refreshes too: ``refresh_every=1`` is the uncached loop only without it).
    """

    def __init__(
        self,
        model: Any,
        shift: bool,
        *,
        refresh_every: int | None = None,
        cuda_graphs: bool = True,
        context_buckets: Iterable[int] = CONTEXT_BUCKETS,
        share_prefill: bool = False,
    ) -> None:
        self.stack = make_stack(model)
        self.path = self.stack.path
        self.shift = shift
        self.refresh_every = refresh_every
        self.share_prefill = share_prefill
        self.context_buckets = tuple(sorted(context_buckets))
        self.use_graphs = cuda_graphs and self.stack.device.type == "cuda"
        self.stats = FastPathStats()
        self._layout: _Layout | None = None
        self._kv: dict[int, tuple[Any, Any]] = {}  # batch -> (keys, values) at the largest length
        self._graphs: dict[tuple[int, int, int], _Graph] = {}

    # -- the Denoiser protocol -------------------------------------------------------------------

    def __call__(self, tokens: torch.Tensor, attention: torch.Tensor, rows: Rows) -> torch.Tensor:
        """tokens, attention: [B, L]; rows: ([N], [N]). Returns logits [N, V] (float32)."""
        import torch

        with torch.no_grad():
            lay = self._layout
            if lay is None or lay.attention is not attention or not self._inside(lay, rows):
                lay = self._layout = self._plan(tokens, attention, rows)
                hidden = self._prefill(lay, tokens)
            elif self.refresh_every and lay.steps_since_prefill + 1 >= self.refresh_every:
                hidden = self._prefill(lay, tokens)
            else:
                hidden = self._span_step(lay, tokens)
            b, pos = rows
            slot = pos - lay.start[b] - (1 if self.shift else 0)  # [N]
            # the head, the largest matrix product of a step, runs on the still-masked rows only
            return self.stack.head(hidden[b, slot])  # [N, H] -> [N, V]

    def reset(self) -> None:
        """Forget the current request (the next call prefills)."""
        self._layout = None

    def warmup(
        self,
        batch_sizes: Iterable[int],
        span_lengths: Iterable[int],
        context_lengths: Iterable[int],
        progress: Progress | None = None,
    ) -> None:
        """Capture the span step of every (batch, span bucket, context bucket) combination now,
        at model load, so that no request pays for a capture. ``progress(message, fraction)``."""
        import torch

        combos = sorted(
            {
                (b, context_bucket(c, self.context_buckets), span_bucket(n + self.shift))
                for b in batch_sizes
                for n in span_lengths
                for c in context_lengths
            }
        )
        # One key/value pool per batch size, at the longest length first: growing a pool later
        # would drop the graphs captured on it.
        for b in {c[0] for c in combos}:
            self._kv_for(b, max(ctx + span for bb, ctx, span in combos if bb == b))
        for done, (b, ctx, span) in enumerate(combos):
            if progress is not None:
                progress(f"warming up batch {b}, context {ctx}, span {span}", done / len(combos))
            keys, values = self._kv_for(b, ctx + span)
            with torch.no_grad():
                ids = torch.zeros((b, span), dtype=torch.long, device=self.stack.device)
                pos = torch.arange(span, device=self.stack.device).expand(b, span).contiguous()
                bias = torch.zeros((b, 1, 1, ctx + span), dtype=self.stack.dtype, device=ids.device)
                kpos = torch.arange(ctx + span, device=ids.device).expand(b, -1)
                if self.use_graphs:
                    self._graph(b, ctx, span, keys, values)
                else:
                    self.stack.forward(ids, pos, keys, values, ctx, bias, kpos)
        self._layout = None  # the warm-up wrote into the caches
        if progress is not None:
            progress("warm-up done", 1.0)

    # -- internals --------------------------------------------------------------------------------

    def _inside(self, lay: _Layout, rows: Rows) -> bool:
        b, pos = rows
        if pos.numel() == 0:
            return True
        off = pos - lay.start[b] - (1 if self.shift else 0)
        return bool(((off >= 0) & (off < lay.span)).all())

    def _plan(self, tokens: torch.Tensor, attention: torch.Tensor, rows: Rows) -> _Layout:
        import torch

        dev = tokens.device
        bsz, length = tokens.shape
        b_idx, pos = rows
        shift = 1 if self.shift else 0
        starts, ends = [], []
        for b in range(bsz):
            p = pos[b_idx == b]
            if p.numel() == 0:
                starts.append(0)
                ends.append(0)
                continue
            lo, hi = int(p.min()) - shift, int(p.max()) + 1
            if lo < 0:
                raise ValueError("a shifted model needs one token before the hole")
            starts.append(lo)
            ends.append(hi)
        span = span_bucket(max(e - s for s, e in zip(starts, ends)))
        ctx_pos = []
        for b in range(bsz):
            keep = attention[b].clone()
            keep[starts[b] : ends[b]] = False
            ctx_pos.append(keep.nonzero().squeeze(1))
        n_ctx = max(int(p.numel()) for p in ctx_pos)
        # Buckets keep CUDA graphs' shapes few. The CPU has no graphs, and a bucket's padding is work
        # for nothing there (docs/benchmarks.md, "CPU FLOP floor": up to half a prefill).
        ctx = context_bucket(n_ctx, self.context_buckets) if self.use_graphs else max(n_ctx, 1)
        total = ctx + span
        ids = torch.zeros((bsz, total), dtype=torch.long, device=dev)
        positions = torch.zeros((bsz, total), dtype=torch.long, device=dev)
        key_bias = torch.full((bsz, 1, 1, total), float("-inf"), dtype=self.stack.dtype, device=dev)
        start = torch.tensor(starts, dtype=torch.long, device=dev)
        j = torch.arange(span, device=dev)
        span_index = (start[:, None] + j[None, :]).clamp(max=length - 1)  # [B, span]
        for b in range(bsz):
            n = int(ctx_pos[b].numel())
            positions[b, :n] = ctx_pos[b]
            ids[b, :n] = tokens[b, ctx_pos[b]]
            key_bias[b, 0, 0, :n] = 0
            key_bias[b, 0, 0, ctx : ctx + ends[b] - starts[b]] = 0
        positions[:, ctx:] = span_index
        lay = _Layout(attention, bsz, ctx, span, start, span_index, ids, positions, key_bias)
        if self.share_prefill and bsz > 1 and _same_rows(ids, ctx) and _same_rows(key_bias, ctx):
            # The context slots hold the same tokens in every row (the candidates differ only in the
            # hole's length): share the prefill of the row with the shortest hole. Measured on the
            # embedded model (docs/benchmarks.md), a context that saw the shortest hole agrees with
            # the uncached loop best (52 of 60 holes the same text; the longest: 43).
            lay.source = min(range(bsz), key=lambda b: ends[b] - starts[b])
            lay.offset = positions[:, :ctx] - positions[lay.source, :ctx]  # [B, ctx]
        return lay

    def _kv_for(self, batch: int, length: int) -> tuple[Any, Any]:
        """Views of length ``length`` into this batch size's key/value pool (grown when needed)."""
        have = self._kv.get(batch)
        if have is None or have[0].shape[3] < length:
            self._graphs = {k: g for k, g in self._graphs.items() if k[0] != batch}
            self._kv[batch] = have = self.stack.new_kv(batch, length)
        return have[0][:, :, :, :length], have[1][:, :, :, :length]

    def _prefill(self, lay: _Layout, tokens: torch.Tensor) -> torch.Tensor:
        """Every slot of every row at once; or, where the rows share the prefill, the source row's
        slots, its context keys and values given to every row, and a span pass over all rows."""
        ids = lay.ids.clone()
        ids[:, lay.ctx :] = tokens.gather(1, lay.span_index)  # [B, ctx + span]
        keys, values = self._kv_for(lay.batch, lay.ctx + lay.span)
        self.stats.prefills += 1
        self.stats.tokens_encoded.append(lay.ctx + lay.span)
        lay.steps_since_prefill = 0
        # Only the span's final hidden states are read: the last layer runs the context slots'
        # keys and values, not their queries and MLP (``keep``).
        if lay.source is None:
            return self.stack.forward(
                ids, lay.positions, keys, values, 0, lay.key_bias, lay.positions, keep=lay.ctx
            )  # [B, span, H]
        one, ctx = slice(lay.source, lay.source + 1), lay.ctx
        self.stack.forward(
            ids[one],
            lay.positions[one],
            keys[:, one],
            values[:, one],
            0,
            lay.key_bias[one],
            keep=ctx + lay.span,
        )  # writes the source row's keys and values [layers, 1, kvh, ctx + span, hd]
        self.stack.rotate(keys[:, one, :, :ctx].clone(), lay.offset, keys[:, :, :, :ctx])
        values[:, :, :, :ctx] = values[:, one, :, :ctx].clone()  # [layers, 1 -> B, kvh, ctx, hd]
        self.stats.shared_prefills += 1
        return self._span(lay, tokens, keys, values)  # [B, span, H]

    def _span_step(self, lay: _Layout, tokens: torch.Tensor) -> torch.Tensor:
        keys, values = self._kv_for(lay.batch, lay.ctx + lay.span)
        self.stats.span_steps += 1
        self.stats.tokens_encoded.append(lay.span)
        lay.steps_since_prefill += 1
        return self._span(lay, tokens, keys, values)

    def _span(self, lay: _Layout, tokens: torch.Tensor, keys: Any, values: Any) -> torch.Tensor:
        """Run every row's span against the cached context; returns its hidden [B, span, H]."""
        span_ids = tokens.gather(1, lay.span_index)  # [B, span]
        span_pos = lay.positions[:, lay.ctx :]
        if not self.use_graphs:
            make_plan = getattr(self.stack, "attention_plan", None)
            if make_plan is None:
                return self.stack.forward(
                    span_ids, span_pos, keys, values, lay.ctx, lay.key_bias, lay.positions
                )
            if lay.plan is None:  # the span's positions and the masks hold for the whole request
                lay.plan = make_plan(span_pos, lay.key_bias, lay.positions)
            return self.stack.forward(
                span_ids, span_pos, keys, values, lay.ctx, lay.key_bias, lay.positions, lay.plan
            )
        g = self._graph(lay.batch, lay.ctx, lay.span, keys, values)
        g.ids.copy_(span_ids)
        g.positions.copy_(span_pos)
        g.key_bias.copy_(lay.key_bias)
        g.key_positions.copy_(lay.positions)
        g.graph.replay()
        return g.hidden

    def _graph(self, batch: int, ctx: int, span: int, keys: Any, values: Any) -> _Graph:
        import torch

        key = (batch, ctx, span)
        g = self._graphs.get(key)
        if g is not None:
            return g
        dev = self.stack.device
        ids = torch.zeros((batch, span), dtype=torch.long, device=dev)
        pos = torch.arange(ctx, ctx + span, device=dev).expand(batch, span).contiguous()
        bias = torch.zeros((batch, 1, 1, ctx + span), dtype=self.stack.dtype, device=dev)
        kpos = torch.arange(ctx + span, device=dev).expand(batch, -1).contiguous()

        def step() -> torch.Tensor:
            return self.stack.forward(ids, pos, keys, values, ctx, bias, kpos)  # [B, span, H]

        # One memory pool among the graphs: take it from a live graph, which keeps it alive.
        live = next(iter(self._graphs.values())).graph if self._graphs else None
        graph, hidden = capture(step, pool_from=live)
        self.stats.captures += 1
        g = self._graphs[key] = _Graph(graph, ids, pos, bias, kpos, hidden)
        return g
