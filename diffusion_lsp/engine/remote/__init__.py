"""The remote backend: an ``api.Engine`` whose model runs on an OpenAI-compatible server (vLLM serving
DiffusionGemma, llama.cpp, ...). ``http`` speaks to the server, ``modes`` builds each mode's request
and reads its answer, ``engine`` turns requests into results. See docs/remote.md.
"""

from __future__ import annotations

from diffusion_lsp.engine.remote.engine import RemoteEngine, connect, list_models

__all__ = ["RemoteEngine", "connect", "list_models"]
