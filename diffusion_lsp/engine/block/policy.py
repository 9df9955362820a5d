"""DiffusionGemma's sampling policy as pure functions: temperature schedule, entropy-bound acceptance,
stable-and-confident stopping, and the settings read from a checkpoint's generation_config.

Each function reproduces the arithmetic of transformers' ``generation_diffusion_gemma`` (the reference
the tests compare against) so that the project's loop, which adds clamping, candidate batching, cache
reuse and cancellation, denoises exactly as the model's own ``generate`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# transformers' global defaults (``DiffusionGemmaGenerationConfig._get_default_generation_params``),
# used only where a checkpoint's generation_config leaves a field unset.
FALLBACK = {
    "max_denoising_steps": 48,
    "entropy_bound": 0.1,
    "t_min": 0.4,
    "t_max": 0.8,
    "stability_threshold": 1,
    "confidence_threshold": 0.005,
}


@dataclass(frozen=True)
class DiffusionSettings:
    """Everything the loop needs from the checkpoint: schedule, acceptance, stopping, special ids."""

    steps: int
    entropy_bound: float
    t_min: float
    t_max: float
    stability_threshold: int | None
    confidence_threshold: float | None
    canvas_length: int
    vocab_size: int
    eos_ids: tuple[int, ...]
    pad_id: int | None
    bos_id: int | None

    @classmethod
    def from_model(cls, model: Any) -> DiffusionSettings:
        """Read the defaults from ``model.generation_config`` and ``model.config``."""
        gen = getattr(model, "generation_config", None)
        text = model.config.get_text_config()

        def get(name: str, fallback: Any = None) -> Any:
            value = getattr(gen, name, None) if gen is not None else None
            return fallback if value is None else value

        sampler = get("sampler_config")
        bound = getattr(sampler, "entropy_bound", None)
        if bound is None and isinstance(sampler, dict):
            bound = sampler.get("entropy_bound")
        eos = get("eos_token_id", getattr(text, "eos_token_id", None))
        eos_ids = tuple(eos) if isinstance(eos, (list, tuple)) else (() if eos is None else (eos,))
        return cls(
            steps=int(get("max_denoising_steps", FALLBACK["max_denoising_steps"])),
            entropy_bound=float(bound if bound is not None else FALLBACK["entropy_bound"]),
            t_min=float(get("t_min", FALLBACK["t_min"])),
            t_max=float(get("t_max", FALLBACK["t_max"])),
            stability_threshold=get("stability_threshold", FALLBACK["stability_threshold"]),
            confidence_threshold=get("confidence_threshold", FALLBACK["confidence_threshold"]),
            canvas_length=int(getattr(model.config, "canvas_length", None) or 256),
            vocab_size=int(text.vocab_size),
            eos_ids=tuple(int(i) for i in eos_ids),
            pad_id=get("pad_token_id", getattr(text, "pad_token_id", None)),
            bos_id=get("bos_token_id", getattr(text, "bos_token_id", None)),
        )


def temperature(step: int, steps: int, t_min: float, t_max: float) -> Any:
    """The linear schedule at ``step`` steps *remaining* (``steps`` down to 1), as a float32 tensor.

    t = t_min + (t_max - t_min) * step / steps: t_max at the first step, approaching t_min at the last
    (transformers' ``LinearTemperatureScheduleLogitsProcessor``, computed the same way).
    """
    import torch

    return t_min + ((t_max - t_min) * (torch.tensor(step, dtype=torch.int32) / steps))


def entropy(logits: Any) -> Any:
    """Entropy of each categorical distribution in ``logits`` [..., V] -> [...]."""
    import torch

    return torch.distributions.Categorical(logits=logits).entropy()


def entropy_bound_accept(token_entropy: Any, bound: float) -> Any:
    """Which tokens to accept: the k lowest-entropy ones with sum(H_1..H_k) - max(H_1..H_k) <= bound.

    The left side bounds the joint dependence of the accepted tokens, so they can be sampled
    independently in one step (EB-sampler, Ben-Hamu et al. 2025, https://arxiv.org/abs/2505.24857).
    At least the lowest-entropy token is always accepted. ``token_entropy`` [..., n] -> bool [..., n].
    """
    import torch

    sorted_h, order = torch.sort(token_entropy, dim=-1, descending=False)
    cumulative = torch.cumsum(sorted_h, dim=-1)
    take = cumulative - sorted_h <= bound  # sorted ascending: the current one is the running max
    return torch.scatter(torch.zeros_like(take), dim=-1, index=order, src=take)


class StableAndConfident:
    """Stops a row once its argmax canvas has not changed for ``stability`` steps and the mean entropy
    of its (temperature-scaled) logits is below ``threshold`` (transformers'
    ``StableAndConfidentStoppingCriteria``, kept per row so rows can leave a batch independently)."""

    def __init__(self, stability: int, threshold: float) -> None:
        self.stability = stability
        self.threshold = threshold
        self.history: list[Any] = []  # the last `stability` argmax canvases, oldest first

    def __call__(self, argmax: Any, mean_entropy: Any) -> bool:
        """``argmax`` [n] of this step; ``mean_entropy`` a 0-d float32 tensor. True: stop the row."""
        if self.stability == 0:
            stable = True
        else:
            full = len(self.history) == self.stability
            stable = full and all(bool((past == argmax).all()) for past in self.history)
            self.history = [*self.history[int(full) :], argmax]
        return stable and bool(mean_entropy < self.threshold)
