"""The masked family's transformers forwards, re-implemented over the model's own modules so that keys
and values land in caller-owned buffers (what the dual cache in ``masked/cache.py`` needs).

``LlamaLikeStack`` runs llama-like bidirectional models (Qwen2, Llama, Mistral, Dream, DiffuCoder);
``ModernBertStack`` runs ``ModernBertForMaskedLM`` (global layers plus sliding-window local layers,
the window applied to the cached keys by position, so a hole token sees exactly the context keys the
full forward lets it see). Same arithmetic as the Hugging Face forwards (tested against them).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def supports(model: Any) -> bool:
    """Whether ``model`` has a layout a stack below runs: llama-like or ModernBERT."""
    return layout(model) is not None


def layout(model: Any) -> str | None:
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
    kind = layout(model)
    if kind == "llama":
        return LlamaLikeStack(model)
    if kind == "modernbert":
        return ModernBertStack(model)
    raise ValueError(f"{type(model).__name__} has no layout the fast path runs")


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

    path = (
        "lm_head"  # the head applied to the scored rows, named as ``denoiser.MaskedDenoiser.path``
    )

    def __init__(self, model: Any) -> None:
        if layout(model) != "llama":
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
        keep: int = 0,
    ) -> torch.Tensor:
        """Run ``ids`` [B, T] at ``positions`` [B, T]; write their keys and values into slots
        ``start:start+T`` (or the slots in a [T] long tensor ``start``) of ``keys``/``values``
        [layers, B, kvh, K, hd]; attend to all K slots, with ``key_bias`` [B, 1, 1, K] or
        [B, 1, T, K] (0 or -inf) added to the scores. ``key_positions`` [B, K]: unused here (every
        layer is global). ``keep``: the first of the T slots whose final hidden state is wanted;
        the last layer runs only those slots' queries, attention and MLP (a prefill's context slots
        need only their keys and values there: a sixth of a 6-layer model's prefill). Returns final
        hidden [B, T - keep, H]."""
        import torch.nn.functional as F

        b, t = ids.shape
        rep = self.num_heads // self.num_kv_heads
        bias, tq = _grouped(key_bias, rep), t
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
            # the last layer: the slots before ``keep`` give only their keys and values
            if keep and i == len(self.layers) - 1:
                q, h, tq = q[:, :, keep:], h[:, keep:], t - keep
                bias = _grouped(_rows(key_bias, keep), rep)
                if tq == 0:
                    break
            # Grouped-query attention without copying keys: the query heads that share a key head
            # go into the sequence axis (the mask depends on the key only, so this is exact).
            q = q.reshape(b, self.num_kv_heads, rep * tq, self.head_dim)  # [B, kvh, rep*Tq, hd]
            o = F.scaled_dot_product_attention(
                q, keys[i], values[i], attn_mask=bias, scale=self.scaling
            )  # [B, kvh, rep*Tq, hd]
            o = o.reshape(b, self.num_heads, tq, self.head_dim).transpose(1, 2).reshape(b, tq, -1)
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

    path = (
        "head+decoder"  # the head applied to the scored rows, as ``denoiser.MaskedDenoiser.path``
    )

    def __init__(self, model: Any) -> None:
        if layout(model) != "modernbert":
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
        plan: tuple[Any, Any, Any] | None = None,
        keep: int = 0,
    ) -> torch.Tensor:
        """As ``LlamaLikeStack.forward`` (``keep`` too); ``key_positions`` [B, K] are the positions
        of the K key slots (needed by the local layers; None: the queries are all K slots,
        ``positions``). ``plan``: ``attention_plan(positions, key_bias, key_positions)`` made once
        for a request whose positions and bias do not change between steps (None: made here)."""
        import torch
        import torch.nn.functional as F

        b, t = ids.shape
        if plan is None:
            plan = self.attention_plan(positions, key_bias, key_positions)
        global_bias, local_bias, chunks = plan
        h = self.embeddings(ids)  # [B, T, H]
        rope = {typ: self.rotary(h, positions, typ) for typ in set(self.types)}
        tq = t
        for i, layer in enumerate(self.layers):
            attn = layer.attn
            qkv = attn.Wqkv(layer.attn_norm(h)).view(b, t, 3, self.num_heads, self.head_dim)
            q, k = _rope_pair(qkv[:, :, :2], *rope[self.types[i]]).unbind(2)  # [B, T, nh, hd]
            q, k, v = (x.transpose(1, 2) for x in (q, k, qkv[:, :, 2]))  # [B, nh, T, hd]
            _write_kv(keys[i], values[i], start, k, v)
            # the last layer: the slots before ``keep`` give only their keys and values
            if keep and i == len(self.layers) - 1:
                q, h, tq = q[:, :, keep:], h[:, keep:], t - keep
                if tq == 0:
                    break
                # the few queries left attend to every key slot, under a dense local mask
                kpos = positions if key_positions is None else key_positions
                global_bias, chunks = _rows(global_bias, keep), None
                local_bias = self._local_bias(positions[:, keep:], kpos, _rows(key_bias, keep) == 0)
            if self.types[i] != "sliding_attention":
                o = F.scaled_dot_product_attention(
                    q, keys[i], values[i], attn_mask=global_bias, scale=self.scaling
                )  # [B, nh, T, hd]
            elif chunks is None:
                o = F.scaled_dot_product_attention(
                    q, keys[i], values[i], attn_mask=local_bias, scale=self.scaling
                )
            else:
                parts = [
                    F.scaled_dot_product_attention(
                        q[:, :, rows],
                        _keys_at(keys[i], seen),  # [B, nh, S, hd]
                        _keys_at(values[i], seen),
                        attn_mask=bias,
                        scale=self.scaling,
                    )
                    for rows, seen, bias in chunks
                ]
                o = parts[0] if len(parts) == 1 else torch.cat(parts, dim=2)
            h = h + attn.Wo(o.transpose(1, 2).reshape(b, tq, -1))
            h = h + layer.mlp(layer.mlp_norm(h))
        return self.final_norm(h)

    def attention_plan(
        self,
        positions: torch.Tensor,
        key_bias: torch.Tensor,
        key_positions: torch.Tensor | None = None,
    ) -> tuple[Any, Any, Any]:
        """(global bias, local bias, local chunks) for queries at ``positions`` [B, T] against key
        slots at ``key_positions`` [B, K] with ``key_bias`` [B, 1, 1 or T, K] (0 or -inf): the
        global layers' additive mask, and either the local layers' ([B, 1, T, K]; chunks None) or,
        on the CPU, their query chunks, each with the key slots it sees and its own mask
        (``_chunks``; the dense local mask None)."""
        if key_positions is None:
            key_positions = positions
        allowed = key_bias == 0  # [B, 1, 1 or T, K]
        global_bias = self._bias(allowed)
        # On the CPU a local layer attends, chunk of queries by chunk, to the key slots the chunk can
        # see (a few windows' worth, not all K): the same result for a fraction of the work, and no
        # [T, K] mask to build. On CUDA, shapes must not depend on the data (graphs), and the full
        # product is cheap.
        if self.device.type == "cpu":
            chunks = self._chunks(positions, key_positions, allowed)
            if chunks is not None:
                return global_bias, None, chunks
        return global_bias, self._local_bias(positions, key_positions, allowed), None

    def _bias(self, allowed: torch.Tensor) -> torch.Tensor:
        """0 where ``allowed``, the dtype's lowest finite value elsewhere (see the class)."""
        import torch

        zero = torch.zeros((), dtype=self.dtype, device=allowed.device)
        return torch.where(allowed, zero, torch.finfo(self.dtype).min)

    def _local_bias(
        self, positions: torch.Tensor, key_positions: torch.Tensor, allowed: torch.Tensor
    ) -> torch.Tensor:
        """The local layers' mask [B, 1, T, S] for queries at ``positions`` [B, T] and keys at
        ``key_positions`` [B, S]: ``allowed`` [B, 1, 1 or T, S] and within the window."""
        near = (positions[:, :, None] - key_positions[:, None, :]).abs() <= self.window  # [B, T, S]
        return self._bias(allowed & near[:, None])

    def _chunks(
        self, positions: torch.Tensor, key_positions: torch.Tensor, allowed: torch.Tensor
    ) -> list[tuple[slice, Any, Any]] | None:
        """Chunks of ``2 * window`` queries, each (rows, seen, mask [B, 1, rows, S]): ``seen`` the key
        slots allowed (``allowed`` [B, 1, 1 or T, K]) for one of the chunk's queries and within the
        window of the range of its positions (exactly the keys its queries see where the chunk's
        positions are a run, as in a prefill), as a slice where they are one run of slots or nearly
        (a view: no copy; the masked slots between them cost little), else as a [S] long tensor;
        None where that saves little (under a quarter of the keys left out)."""
        t, k = positions.shape[1], key_positions.shape[1]
        size = max(2 * self.window, 1)
        per_query = allowed.shape[-2] > 1
        chunks: list[tuple[slice, Any, Any]] = []
        work = 0
        for c in range(0, t, size):
            rows = slice(c, min(c + size, t))
            p = positions[:, rows]  # [B, r]
            ok = allowed[:, 0, rows] if per_query else allowed[:, 0]  # [B, r or 1, K]
            lo = p.min(dim=1, keepdim=True).values - self.window  # [B, 1]
            hi = p.max(dim=1, keepdim=True).values + self.window
            reach = ok.any(dim=1) & (key_positions >= lo) & (key_positions <= hi)  # [B, K]
            seen = reach.any(dim=0).nonzero().squeeze(1)  # [S]
            if seen.numel() == 0:
                seen = seen.new_zeros(1)
            first, last = int(seen[0]), int(seen[-1]) + 1
            if 4 * (last - first) <= 5 * seen.numel():  # at most a fifth of the run masked out
                seen = slice(first, last)
            mask = self._local_bias(
                p, _keys_at(key_positions, seen, 1), _keys_at(ok[:, None], seen, 3)
            )  # [B, 1, r, S]
            chunks.append((rows, seen, mask))
            work += (rows.stop - rows.start) * mask.shape[-1]
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


def _rope_pair(qk: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Queries and keys qk [B, T, 2, nh, hd] turned by cos, sin [B, T, hd]: the arithmetic of the
    Hugging Face models' ``apply_rotary_pos_emb`` (rotate-half convention, in float32, the result
    in qk's dtype) in three passes over both at once instead of five over each."""
    half = qk.shape[-1] // 2
    x = qk.float()
    c, s = cos[:, :, None, None].float(), sin[:, :, None, None].float()  # [B, T, 1, 1, hd]
    out = x * c
    out[..., :half].addcmul_(x[..., half:], s[..., :half], value=-1)  # x1 c - x2 s
    out[..., half:].addcmul_(x[..., :half], s[..., half:])  # x2 c + x1 s
    return out.to(qk.dtype)


def _grouped(bias: torch.Tensor, rep: int) -> torch.Tensor:
    """A per-query key bias [B, 1, T, K] (a causal prefill) repeated for the ``rep`` query heads
    that share a key head ([B, 1, rep * T, K]); a bias [B, 1, 1, K] as it is."""
    return bias if bias.shape[-2] == 1 else bias.repeat(1, 1, rep, 1)


def _rows(bias: torch.Tensor, keep: int) -> torch.Tensor:
    """A key bias [B, 1, 1 or T, K] for the queries from slot ``keep`` on: per-query rows sliced."""
    return bias if bias.shape[-2] == 1 else bias[:, :, keep:]


def _keys_at(x: torch.Tensor, seen: Any, dim: int = 2) -> torch.Tensor:
    """The slots ``seen`` (a slice: a view; a [S] long tensor: a gathered copy) of ``x`` along
    ``dim``."""
    if isinstance(seen, slice):
        return x.narrow(dim, seen.start, seen.stop - seen.start)
    return x.index_select(dim, seen)


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
