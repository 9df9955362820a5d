"""The masked-diffusion denoisers: ``pick_denoiser`` is the one place that chooses eager or cached.

``MaskedDenoiser`` (eager) runs one bidirectional forward over a canvas, logits at masked rows only;
``cache.DualCacheDenoiser`` (the fast path) recomputes only the span that holds the hole.

The network runs over ``prefix + hole + suffix`` once per step; the LM head, the largest matrix of a
small model, is applied only to the hidden states of the positions still masked. Models whose head
predicts the next token (Dream, DiffuCoder) read the logit for position i from position i - 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch

Rows = tuple["torch.Tensor", "torch.Tensor"]  # (batch index [N], position [N]) of the rows to score


class Denoiser(Protocol):
    """Tokens in, logits at the requested rows out."""

    def __call__(self, tokens: torch.Tensor, attention: torch.Tensor, rows: Rows) -> torch.Tensor:
        """tokens: [B, L] long; attention: [B, L] bool (False = padding); rows: ([N], [N]).

        Returns logits [N, V] (float32) for the token at each row.
        """
        ...


def pick_denoiser(
    model: Any, shift: bool, *, fast_path: bool | None = None, remote_code: bool = False
) -> Denoiser:
    """The denoiser that runs ``model``: the dual cache (``cache.DualCacheDenoiser``) where it applies,
    else one full forward per step (``MaskedDenoiser``).

    ``fast_path=None``: the cache on a CUDA device for a layout ``stacks.py`` runs, and on any device
    for ModernBERT (a small model the CPU serves, where re-running the whole canvas every step is what
    makes it slow); True: wherever the layout is supported (the CPU too); False: never. On the CPU the
    rows share one prefill (the prefill is most of a request there; on a GPU a batch of rows costs
    about what one does). ``shift`` and ``remote_code`` as for ``MaskedDenoiser``.
    """
    from diffusion_lsp.engine.masked.stacks import layout

    kind = layout(model)
    if fast_path is not False and kind is not None:
        param = next(model.parameters(), None)
        cuda = param is not None and param.device.type == "cuda"
        if fast_path or kind == "modernbert" or cuda:
            from diffusion_lsp.engine.masked.cache import DualCacheDenoiser

            return DualCacheDenoiser(model, shift, share_prefill=not cuda)
    return MaskedDenoiser(model, shift, remote_code=remote_code)


class MaskedDenoiser:
    """A Hugging Face masked-diffusion model as a ``Denoiser``.

    ``shift``: the logit for position i comes from position i - 1. ``remote_code``: the model's own
    code expects a 4-D boolean attention mask [B, 1, L, L] (Dream's and LLaDA's generate do that)
    rather than the 2-D padding mask native transformers models take.
    """

    def __init__(self, model: Any, shift: bool, remote_code: bool = False) -> None:
        self.model = model
        self.shift = shift
        self.remote_code = remote_code
        self.body, self.head, self.path = _split_head(model)

    def __call__(self, tokens: torch.Tensor, attention: torch.Tensor, rows: Rows) -> torch.Tensor:
        import torch

        b, pos = rows
        if self.shift:
            pos = pos - 1  # position i - 1 predicts token i; the canvas never starts with a hole
        mask = self._attention_mask(attention)
        with torch.no_grad():
            if self.body is None:  # generic fallback: the full logits, then a gather
                logits = self.model(input_ids=tokens, attention_mask=mask).logits  # [B, L, V]
                return logits[b, pos].float()  # [N, V]
            hidden = self.body(input_ids=tokens, attention_mask=mask)[0]  # [B, L, H]
            return self.head(hidden[b, pos]).float()  # [N, H] -> [N, V]

    def _attention_mask(self, attention: torch.Tensor) -> torch.Tensor | None:
        if bool(attention.all()):
            return None  # no padding: full bidirectional attention
        if self.remote_code:
            return attention[:, None, :, None] & attention[:, None, None, :]  # [B, 1, L, L]
        return attention.long()  # [B, L]


def _split_head(model: Any) -> tuple[Callable | None, Callable | None, str]:
    """(body, head, name): the network up to the last hidden state, and the LM head applied to it.

    Known layouts: decoders (``model.model`` + ``model.lm_head``: Qwen2, Llama, Dream) and ModernBERT
    (``model.model`` + ``model.head`` + ``model.decoder``). Anything else runs the whole model and
    gathers the rows from its full logits.
    """
    body = getattr(model, "model", None)
    if body is None or not callable(body):
        return None, None, "full-logits"
    lm_head = getattr(model, "lm_head", None)
    if lm_head is not None and not getattr(model.config, "final_logit_softcapping", None):
        return body, lm_head, "lm_head"
    head, decoder = getattr(model, "head", None), getattr(model, "decoder", None)
    if head is not None and decoder is not None:
        return body, lambda h: decoder(head(h)), "head+decoder"
    return None, None, "full-logits"
