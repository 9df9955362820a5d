"""The masked (absorbing-state) family: ModernBERT-style masked LMs, Dream, DiffuCoder, LLaDA.

``engine`` (requests to results), ``denoiser`` (eager or cached, and the one place that picks),
``cache`` (the dual KV cache), ``stacks`` (the re-implemented transformers forwards it runs),
``loop`` (the denoising loop) and ``policy`` (which proposals to commit).
"""
