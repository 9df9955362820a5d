"""The block-diffusion family: DiffusionGemma (``DiffusionGemmaForBlockDiffusion``), uniform noise.

``engine`` (requests to results), ``prompt`` (the prompt and canvas per infill mode), ``cache`` (the
exact prompt cache per document), ``loop`` (the denoising loop and the eager canvas decoder),
``graphs`` (the canvas decoder step on static shapes, as CUDA graphs) and ``policy`` (schedules and
acceptance).
"""
