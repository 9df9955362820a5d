"""Fast path for masked-diffusion denoising: a dual KV cache, static shape buckets and CUDA graphs.

``DualCacheDenoiser`` is a ``masked.Denoiser`` (tokens, attention, rows -> logits at the rows) for
llama-like bidirectional models (Qwen2, Llama, Mistral, Dream, DiffuCoder) and for ModernBERT masked
LMs (global layers plus sliding-window local layers; the window is applied to the cached keys by
position, so a hole token sees exactly the context keys the full forward lets it see). The first call
of a request runs the whole canvas once and keeps every position's keys and values; later calls
recompute only the block that holds the hole and attend to the cached prefix and suffix. That is
Fast-dLLM's DualCache (Wu et al. 2025, "Fast-dLLM: Training-free Acceleration of Diffusion LLM by
Enabling KV Cache and Parallel Decoding", Section 3.2): approximate, because the context's keys do not
see the hole's later tokens, so its effect on the output is measured (``benchmarks/speed``,
``benchmarks/bench_cpu_dual_cache.py``) against ``refresh_every=1``, which recomputes everything at every step and equals the uncached loop.

``share_prefill`` (on by default on the CPU): the rows of a request's batch (candidate hole lengths,
alternatives) hold the same context tokens and differ only in where the suffix sits, so the first call
runs the whole canvas of one row (the shortest hole) and gives every row that row's context keys and
values, the keys rotated to the row's own positions (RoPE keys for position p rotated by the angle of
d are the keys for p + d, exactly); one block step over all rows then writes their holes. It is
approximate in the same way as the cache itself (a row's context saw a hole of another length) and
measured the same way (``benchmarks/bench_cpu_dual_cache.py --compare shared``).

Shapes are static per bucket: the context is padded to a context bucket and the block to a block
bucket, padding is masked out of the keys, and on CUDA each (batch, context bucket, block bucket) block
step is captured once as a CUDA graph and replayed, so typing never recompiles or recaptures.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

Rows = tuple["torch.Tensor", "torch.Tensor"]  # (batch index [N], position [N])
Progress = Callable[[str, float], None]  # (message, fraction done)

CONTEXT_BUCKETS = (256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192, 12288, 16384)


def block_bucket(n: int) -> int:
    """The static block length for ``n`` tokens: a multiple of 8 up to 64, of 16 up to 128, of 32
    above (at most a quarter wasted; the rows of a skinny matrix product cost little at batch one)."""
    step = 8 if n <= 64 else 16 if n <= 128 else 32
    return -(-max(n, 1) // step) * step


def context_bucket(n: int, buckets: Iterable[int] = CONTEXT_BUCKETS) -> int:
    """The smallest context bucket that holds ``n`` tokens (powers of two and 1.5 times them), or ``n``
    rounded up to a multiple of 4096 past the largest."""
    for b in buckets:
        if n <= b:
            return b
    return -(-n // 4096) * 4096


def supports(model: Any) -> bool:
    """Whether ``model`` has a layout a stack below runs: llama-like or ModernBERT."""
    return _layout(model) is not None


def _layout(model: Any) -> str | None:
    """The layout kind: "llama" (decoder layers with ``self_attn.{q,k,v,o}_proj``, ``mlp``, two RMS norms, a rotary
    embedding and an ``lm_head``), "modernbert" (``ModernBertForMaskedLM``: embeddings, layers with
    ``attn.Wqkv``/``attn.Wo``, GeGLU ``mlp``, ``final_norm``, ``head`` and ``decoder``) or None."""
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    config = getattr(model, "config", None)
    if layers is None or len(layers) == 0 or config is None:
        return None
    layer = layers[0]
    if getattr(model, "lm_head", None) is not None:
        if getattr(config, "final_logit_softcapping", None):
            return None
        attn = getattr(layer, "self_attn", None)
        ok = (
            attn is not None
            and all(hasattr(attn, n) for n in ("q_proj", "k_proj", "v_proj", "o_proj"))
            and hasattr(layer, "mlp")
            and hasattr(layer, "input_layernorm")
            and hasattr(layer, "post_attention_layernorm")
            and hasattr(inner, "rotary_emb")
            and hasattr(inner, "embed_tokens")
        )
        return "llama" if ok else None
    attn = getattr(layer, "attn", None)
    ok = (
        getattr(config, "model_type", None) == "modernbert"
        and attn is not None
        and hasattr(attn, "Wqkv")
        and hasattr(attn, "Wo")
        and all(hasattr(layer, n) for n in ("attn_norm", "mlp_norm", "mlp", "attention_type"))
        and all(hasattr(inner, n) for n in ("embeddings", "final_norm", "rotary_emb"))
        and getattr(model, "head", None) is not None
        and getattr(model, "decoder", None) is not None
    )
    return "modernbert" if ok else None


def make_stack(model: Any) -> LlamaLikeStack | ModernBertStack:
    """The stack that runs ``model``'s own modules with caller-owned keys and values."""
    kind = _layout(model)
    if kind == "llama":
        return LlamaLikeStack(model)
    if kind == "modernbert":
        return ModernBertStack(model)
    raise ValueError(f"{type(model).__name__} has no layout the fast path runs")


def fast_denoiser(
    model: Any, shift: bool, *, enabled: bool | None = None
) -> DualCacheDenoiser | None:
    """The dual-cache denoiser for ``model``, or None where it does not apply. ``enabled=None``:
    on a CUDA device for a supported layout, and on any device for ModernBERT (a small model the CPU
    serves, where re-running the whole canvas every step is what makes it slow); True: wherever the
    layout is supported (the CPU too); False: never. On the CPU the rows share one prefill (the
    prefill is most of a request there; on a GPU a batch of rows costs about what one does)."""
    kind = _layout(model)
    if enabled is False or kind is None:
        return None
    param = next(model.parameters(), None)
    cuda = param is not None and param.device.type == "cuda"
    if enabled is None and kind != "modernbert" and not cuda:
        return None
    return DualCacheDenoiser(model, shift, share_prefill=not cuda)


def _write_kv(
    keys: torch.Tensor, values: torch.Tensor, start: int | torch.Tensor, k: Any, v: Any
) -> None:
    """Write one layer's k, v [B, kvh, T, hd] into slots ``start:start+T`` of keys, values
    [B, kvh, K, hd], or into the slots of a [T] long tensor ``start`` (on the device: a CUDA graph
    replays it at a new position)."""
    if isinstance(start, int):
        t = k.shape[2]
        keys[:, :, start : start + t] = k
        values[:, :, start : start + t] = v
    else:
        keys.index_copy_(2, start, k)
        values.index_copy_(2, start, v)


class LlamaLikeStack:
    """A bidirectional forward over a llama-like model's own modules, writing keys and values into
    caller-owned buffers. Same arithmetic as the Hugging Face forward with a full attention mask."""

    path = "lm_head"  # the head applied to the scored rows, named as ``masked.MaskedDenoiser.path``

    def __init__(self, model: Any) -> None:
        if _layout(model) != "llama":
            raise ValueError(f"{type(model).__name__} does not have a llama-like layout")
        inner = model.model
        self.model = model
        self.embed = inner.embed_tokens
        self.layers = list(inner.layers)
        self.norm = inner.norm
        self.rotary = inner.rotary_emb
        self.lm_head = model.lm_head
        attn = self.layers[0].self_attn
        cfg = model.config
        self.num_heads = cfg.num_attention_heads
        self.num_kv_heads = cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        self.scaling = getattr(attn, "scaling", self.head_dim**-0.5)
        module = sys.modules[type(attn).__module__]
        rope = getattr(module, "apply_rotary_pos_emb", None)
        if rope is None:
            from transformers.models.llama.modeling_llama import apply_rotary_pos_emb as rope
        self.apply_rope = rope
        param = next(model.parameters())
        self.dtype, self.device = param.dtype, param.device

    def new_kv(self, batch: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Key and value buffers [layers, B, kv_heads, length, head_dim]."""
        import torch

        shape = (len(self.layers), batch, self.num_kv_heads, length, self.head_dim)
        return (
            torch.zeros(shape, dtype=self.dtype, device=self.device),
            torch.zeros(shape, dtype=self.dtype, device=self.device),
        )

    def forward(
        self,
        ids: torch.Tensor,
        positions: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        start: int | torch.Tensor,
        key_bias: torch.Tensor,
        key_positions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Run ``ids`` [B, T] at ``positions`` [B, T]; write their keys and values into slots
        ``start:start+T`` (or the slots in a [T] long tensor ``start``) of ``keys``/``values``
        [layers, B, kvh, K, hd]; attend to all K slots, with ``key_bias`` [B, 1, 1, K] or
        [B, 1, T, K] (0 or -inf) added to the scores. ``key_positions`` [B, K]: unused here (every
        layer is global). Returns final hidden [B, T, H]."""
        import torch.nn.functional as F

        b, t = ids.shape
        rep = self.num_heads // self.num_kv_heads
        # a per-query mask [B, 1, T, K] (causal prefill) repeats for each grouped query head
        bias = key_bias if key_bias.shape[-2] == 1 else key_bias.repeat(1, 1, rep, 1)
        h = self.embed(ids)  # [B, T, H]
        cos, sin = self.rotary(h, positions)
        for i, layer in enumerate(self.layers):
            attn = layer.self_attn
            x = layer.input_layernorm(h)
            q = attn.q_proj(x).view(b, t, -1, self.head_dim)  # [B, T, nh, hd]
            k = attn.k_proj(x).view(b, t, -1, self.head_dim)  # [B, T, kvh, hd]
            v = attn.v_proj(x).view(b, t, -1, self.head_dim)
            if hasattr(attn, "q_norm"):  # Qwen3-style per-head norms
                q, k = attn.q_norm(q), attn.k_norm(k)
            q, k = self.apply_rope(q.transpose(1, 2), k.transpose(1, 2), cos, sin)
            _write_kv(keys[i], values[i], start, k, v.transpose(1, 2))  # [B, kvh, T, hd]
            # Grouped-query attention without copying keys: the query heads that share a key head
            # go into the sequence axis (the mask depends on the key only, so this is exact).
            q = q.reshape(b, self.num_kv_heads, rep * t, self.head_dim)  # [B, kvh, rep*T, hd]
            o = F.scaled_dot_product_attention(
                q, keys[i], values[i], attn_mask=bias, scale=self.scaling
            )  # [B, kvh, rep*T, hd]
            o = o.reshape(b, self.num_heads, t, self.head_dim).transpose(1, 2).reshape(b, t, -1)
            h = h + attn.o_proj(o)
            h = h + layer.mlp(layer.post_attention_layernorm(h))
        return self.norm(h)

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """Logits in float32 for hidden states [..., H]."""
        return self.lm_head(hidden).float()

    def rotate(self, keys: torch.Tensor, offset: torch.Tensor, out: torch.Tensor) -> None:
        """Write into ``out`` [layers, B, kvh, S, hd] the keys [layers, 1 or B, kvh, S, hd], already
        rotated for their positions, rotated further by ``offset`` [B, S] positions: the keys for
        positions + offset."""
        cos, sin = _rotation(self.rotary, keys, offset)  # [B, S, hd]
        for i in range(len(self.layers)):
            out[i] = _rotate(keys[i], cos, sin)


class ModernBertStack:
    """A bidirectional forward over a ``ModernBertForMaskedLM``'s own modules, writing keys and values
    into caller-owned buffers; same interface as ``LlamaLikeStack``. Global layers attend to every
    real key; local layers only to keys within ``local_attention // 2`` positions of the query (by
    position, not slot, so a block step over cached context keys sees what the full forward sees;
    on the CPU each chunk of queries reads only the key slots it can see). Masked keys get the dtype's lowest finite score, not -inf, so a query with no key left in its
    window (a padding slot) yields finite garbage that is never read rather than NaNs that would leak
    into the cache through 0 * NaN."""

    path = "head+decoder"  # the head applied to the scored rows, as ``masked.MaskedDenoiser.path``

    def __init__(self, model: Any) -> None:
        if _layout(model) != "modernbert":
            raise ValueError(f"{type(model).__name__} is not a ModernBERT masked LM")
        inner = model.model
        cfg = model.config
        self.model = model
        self.embeddings = inner.embeddings
        self.layers = list(inner.layers)
        self.final_norm = inner.final_norm
        self.rotary = inner.rotary_emb
        self.mlm_head = model.head
        self.decoder = model.decoder
        self.num_heads = cfg.num_attention_heads
        self.num_kv_heads = cfg.num_attention_heads
        self.head_dim = cfg.hidden_size // cfg.num_attention_heads
        self.scaling = self.head_dim**-0.5
        self.window = int(cfg.local_attention) // 2  # |query - key| <= window in local layers
        self.types = [layer.attention_type for layer in self.layers]
        self.apply_rope = sys.modules[type(self.layers[0].attn).__module__].apply_rotary_pos_emb
        param = next(model.parameters())
        self.dtype, self.device = param.dtype, param.device

    new_kv = LlamaLikeStack.new_kv  # [layers, B, heads, length, head_dim]: no grouped heads

    def forward(
        self,
        ids: torch.Tensor,
        positions: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        start: int | torch.Tensor,
        key_bias: torch.Tensor,
        key_positions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """As ``LlamaLikeStack.forward``; ``key_positions`` [B, K] are the positions of the K key
        slots (needed by the local layers; None: the queries are all K slots, ``positions``)."""
        import torch
        import torch.nn.functional as F

        b, t = ids.shape
        if key_positions is None:
            key_positions = positions
        low = torch.finfo(self.dtype).min
        allowed = key_bias == 0  # [B, 1, 1 or T, K]
        zero = torch.zeros((), dtype=self.dtype, device=ids.device)
        global_bias = torch.where(allowed, zero, low)
        near = (positions[:, :, None] - key_positions[:, None, :]).abs() <= self.window  # [B, T, K]
        local_bias = torch.where(allowed & near[:, None], zero, low)  # [B, 1, T, K]
        # On the CPU a local layer attends, chunk of queries by chunk, to the key slots the chunk can
        # see (a few windows' worth, not all K): the same result for a fraction of the work. On
        # CUDA, shapes must not depend on the data (graphs), and the full product is cheap.
        chunks = self._chunks(allowed & near[:, None]) if self.device.type == "cpu" else None
        h = self.embeddings(ids)  # [B, T, H]
        rope = {typ: self.rotary(h, positions, typ) for typ in set(self.types)}
        for i, layer in enumerate(self.layers):
            attn = layer.attn
            qkv = attn.Wqkv(layer.attn_norm(h)).view(b, t, 3, self.num_heads, self.head_dim)
            q, k, v = qkv.unbind(2)  # [B, T, nh, hd]
            cos, sin = rope[self.types[i]]
            q, k = self.apply_rope(q.transpose(1, 2), k.transpose(1, 2), cos, sin)  # [B, nh, T, hd]
            _write_kv(keys[i], values[i], start, k, v.transpose(1, 2))  # [B, nh, T, hd]
            if self.types[i] != "sliding_attention":
                o = F.scaled_dot_product_attention(
                    q, keys[i], values[i], attn_mask=global_bias, scale=self.scaling
                )  # [B, nh, T, hd]
            elif chunks is None:
                o = F.scaled_dot_product_attention(
                    q, keys[i], values[i], attn_mask=local_bias, scale=self.scaling
                )
            else:
                o = torch.cat(
                    [
                        F.scaled_dot_product_attention(
                            q[:, :, rows],
                            keys[i].index_select(2, seen),  # [B, nh, S, hd]
                            values[i].index_select(2, seen),
                            attn_mask=local_bias[:, :, rows].index_select(3, seen),
                            scale=self.scaling,
                        )
                        for rows, seen in chunks
                    ],
                    dim=2,
                )
            h = h + attn.Wo(o.transpose(1, 2).reshape(b, t, -1))
            h = h + layer.mlp(layer.mlp_norm(h))
        return self.final_norm(h)

    def _chunks(self, visible: torch.Tensor) -> list[tuple[slice, torch.Tensor]] | None:
        """For ``visible`` [B, 1, T, K] (which key each query may see in a local layer): chunks of
        ``2 * window`` queries, each with the key slots [S] any of its queries sees; None where that
        saves little (under a quarter of the keys left out)."""
        t, k = visible.shape[-2:]
        size = max(2 * self.window, 1)
        chunks = []
        for c in range(0, t, size):
            rows = slice(c, min(c + size, t))
            seen = visible[:, 0, rows].any(dim=1).any(dim=0).nonzero().squeeze(1)  # [S]
            chunks.append((rows, seen if seen.numel() else seen.new_zeros(1)))
        work = sum((rows.stop - rows.start) * int(seen.numel()) for rows, seen in chunks)
        return chunks if 4 * work < 3 * t * k else None

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """Logits in float32 for hidden states [..., H]: prediction head, then the decoder."""
        return self.decoder(self.mlm_head(hidden)).float()

    def rotate(self, keys: torch.Tensor, offset: torch.Tensor, out: torch.Tensor) -> None:
        """As ``LlamaLikeStack.rotate``, with each layer's own rotary (global and local layers
        differ in theta)."""
        rot = {typ: _rotation(self.rotary, keys, offset, typ) for typ in set(self.types)}
        for i, typ in enumerate(self.types):
            out[i] = _rotate(keys[i], *rot[typ])


def _rotation(
    rotary: Any, keys: torch.Tensor, offset: torch.Tensor, *typ: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, sin) [B, S, hd] of the angles for ``offset`` [B, S], without the rotary's attention
    scaling (the keys carry it once already). Exact for RoPE whose frequencies do not depend on the
    sequence length (not dynamic NTK scaling)."""
    cos, sin = rotary(keys, offset, *typ)
    scale = getattr(rotary, f"{typ[0]}_attention_scaling" if typ else "attention_scaling", 1.0)
    return cos / scale, sin / scale


def _rotate(k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Keys k [1 or B, kvh, S, hd] turned by the angles in cos, sin [B, S, hd], in the rotate-half
    convention of the Hugging Face models' ``apply_rotary_pos_emb``. Returns [B, kvh, S, hd]."""
    import torch

    half = k.shape[-1] // 2
    turned = torch.cat((-k[..., half:], k[..., :half]), dim=-1)
    return k * cos[:, None] + turned * sin[:, None]


def _same_rows(x: torch.Tensor, n: int) -> bool:
    """Whether every row of ``x`` [B, ..., K] holds the same values in its first ``n`` slots."""
    return bool((x[..., :n] == x[:1, ..., :n]).all())


@dataclass
class _Layout:
    """Where each row's context and block sit in the static slots of one request."""

    attention: Any  # the request's attention tensor, held so its identity marks the request
    batch: int
    ctx: int  # context bucket
    blk: int  # block bucket
    start: Any  # [B] long, first position of each row's block
    block_index: Any  # [B, blk] long, positions gathered into the block slots
    ids: Any  # [B, ctx + blk] long, the tokens of every slot at prefill
    positions: Any  # [B, ctx + blk] long
    key_bias: Any  # [B, 1, 1, ctx + blk], 0 on real slots, -inf on padding
    source: int | None = None  # the row whose prefill every row shares (None: each row its own)
    offset: Any = None  # [B, ctx] long, each row's context positions minus the source row's
    steps_since_prefill: int = 0


@dataclass
class _Graph:
    graph: Any
    ids: Any  # static [B, blk]
    positions: Any  # static [B, blk]
    key_bias: Any  # static [B, 1, 1, ctx + blk]
    key_positions: Any  # static [B, ctx + blk]
    hidden: Any  # static [B, blk, H], the block's final hidden states


@dataclass
class FastPathStats:
    """Counters for tests and benchmarks."""

    prefills: int = 0
    shared_prefills: int = 0  # of the prefills, those that ran one row and rotated its keys
    block_steps: int = 0
    captures: int = 0
    tokens_encoded: list[int] = field(default_factory=list)  # slots run per call


class DualCacheDenoiser:
    """A ``masked.Denoiser`` with a dual KV cache, shape buckets and CUDA-graphed block steps.

    ``shift``: the logit for position i comes from position i - 1 (Dream, DiffuCoder); the block then
    starts one position before the hole. ``refresh_every``: recompute the whole canvas every that many
    block steps (1 = every step: exact, the uncached loop; None = only at the start of a request).
    ``cuda_graphs``: capture block steps on CUDA (ignored on the CPU). ``share_prefill``: rows whose
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
                hidden = self._block_step(lay, tokens)
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
        block_lengths: Iterable[int],
        context_lengths: Iterable[int],
        progress: Progress | None = None,
    ) -> None:
        """Capture the block step of every (batch, block bucket, context bucket) combination now,
        at model load, so that no request pays for a capture. ``progress(message, fraction)``."""
        import torch

        combos = sorted(
            {
                (b, context_bucket(c, self.context_buckets), block_bucket(n + self.shift))
                for b in batch_sizes
                for n in block_lengths
                for c in context_lengths
            }
        )
        # One key/value pool per batch size, at the longest length first: growing a pool later
        # would drop the graphs captured on it.
        for b in {c[0] for c in combos}:
            self._kv_for(b, max(ctx + blk for bb, ctx, blk in combos if bb == b))
        for done, (b, ctx, blk) in enumerate(combos):
            if progress is not None:
                progress(f"warming up batch {b}, context {ctx}, block {blk}", done / len(combos))
            keys, values = self._kv_for(b, ctx + blk)
            with torch.no_grad():
                ids = torch.zeros((b, blk), dtype=torch.long, device=self.stack.device)
                pos = torch.arange(blk, device=self.stack.device).expand(b, blk).contiguous()
                bias = torch.zeros((b, 1, 1, ctx + blk), dtype=self.stack.dtype, device=ids.device)
                kpos = torch.arange(ctx + blk, device=ids.device).expand(b, -1)
                if self.use_graphs:
                    self._graph(b, ctx, blk, keys, values)
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
        return bool(((off >= 0) & (off < lay.blk)).all())

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
        blk = block_bucket(max(e - s for s, e in zip(starts, ends)))
        ctx_pos = []
        for b in range(bsz):
            keep = attention[b].clone()
            keep[starts[b] : ends[b]] = False
            ctx_pos.append(keep.nonzero().squeeze(1))
        ctx = context_bucket(max(int(p.numel()) for p in ctx_pos), self.context_buckets)
        total = ctx + blk
        ids = torch.zeros((bsz, total), dtype=torch.long, device=dev)
        positions = torch.zeros((bsz, total), dtype=torch.long, device=dev)
        key_bias = torch.full((bsz, 1, 1, total), float("-inf"), dtype=self.stack.dtype, device=dev)
        start = torch.tensor(starts, dtype=torch.long, device=dev)
        j = torch.arange(blk, device=dev)
        block_index = (start[:, None] + j[None, :]).clamp(max=length - 1)  # [B, blk]
        for b in range(bsz):
            n = int(ctx_pos[b].numel())
            positions[b, :n] = ctx_pos[b]
            ids[b, :n] = tokens[b, ctx_pos[b]]
            key_bias[b, 0, 0, :n] = 0
            key_bias[b, 0, 0, ctx : ctx + ends[b] - starts[b]] = 0
        positions[:, ctx:] = block_index
        lay = _Layout(attention, bsz, ctx, blk, start, block_index, ids, positions, key_bias)
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
        slots, its context keys and values given to every row, and a block pass over all rows."""
        ids = lay.ids.clone()
        ids[:, lay.ctx :] = tokens.gather(1, lay.block_index)  # [B, ctx + blk]
        keys, values = self._kv_for(lay.batch, lay.ctx + lay.blk)
        self.stats.prefills += 1
        self.stats.tokens_encoded.append(lay.ctx + lay.blk)
        lay.steps_since_prefill = 0
        if lay.source is None:
            hidden = self.stack.forward(
                ids, lay.positions, keys, values, 0, lay.key_bias, lay.positions
            )
            return hidden[:, lay.ctx :]  # [B, blk, H]
        one, ctx = slice(lay.source, lay.source + 1), lay.ctx
        self.stack.forward(
            ids[one], lay.positions[one], keys[:, one], values[:, one], 0, lay.key_bias[one]
        )  # writes the source row's keys and values [layers, 1, kvh, ctx + blk, hd]
        self.stack.rotate(keys[:, one, :, :ctx].clone(), lay.offset, keys[:, :, :, :ctx])
        values[:, :, :, :ctx] = values[:, one, :, :ctx].clone()  # [layers, 1 -> B, kvh, ctx, hd]
        self.stats.shared_prefills += 1
        return self._block(lay, tokens, keys, values)  # [B, blk, H]

    def _block_step(self, lay: _Layout, tokens: torch.Tensor) -> torch.Tensor:
        keys, values = self._kv_for(lay.batch, lay.ctx + lay.blk)
        self.stats.block_steps += 1
        self.stats.tokens_encoded.append(lay.blk)
        lay.steps_since_prefill += 1
        return self._block(lay, tokens, keys, values)

    def _block(self, lay: _Layout, tokens: torch.Tensor, keys: Any, values: Any) -> torch.Tensor:
        """Run every row's block against the cached context; returns its hidden [B, blk, H]."""
        block_ids = tokens.gather(1, lay.block_index)  # [B, blk]
        block_pos = lay.positions[:, lay.ctx :]
        if not self.use_graphs:
            return self.stack.forward(
                block_ids, block_pos, keys, values, lay.ctx, lay.key_bias, lay.positions
            )
        g = self._graph(lay.batch, lay.ctx, lay.blk, keys, values)
        g.ids.copy_(block_ids)
        g.positions.copy_(block_pos)
        g.key_bias.copy_(lay.key_bias)
        g.key_positions.copy_(lay.positions)
        g.graph.replay()
        return g.hidden

    def _graph(self, batch: int, ctx: int, blk: int, keys: Any, values: Any) -> _Graph:
        import torch

        key = (batch, ctx, blk)
        g = self._graphs.get(key)
        if g is not None:
            return g
        dev = self.stack.device
        ids = torch.zeros((batch, blk), dtype=torch.long, device=dev)
        pos = torch.arange(ctx, ctx + blk, device=dev).expand(batch, blk).contiguous()
        bias = torch.zeros((batch, 1, 1, ctx + blk), dtype=self.stack.dtype, device=dev)
        kpos = torch.arange(ctx + blk, device=dev).expand(batch, -1).contiguous()

        def step() -> torch.Tensor:
            return self.stack.forward(ids, pos, keys, values, ctx, bias, kpos)  # [B, blk, H]

        # Warm up on a side stream (cuBLAS handles, autotuning), then capture.
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            step()
        torch.cuda.current_stream().wait_stream(side)
        # Share one memory pool among the graphs: take it from a live graph, which keeps it alive.
        pool = next(iter(self._graphs.values())).graph.pool() if self._graphs else None
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=pool):
            hidden = step()
        self.stats.captures += 1
        g = self._graphs[key] = _Graph(graph, ids, pos, bias, kpos, hidden)
        return g
