"""The model runtime: loading, tokenization and context windows, denoisers per family, the worker.

Knows nothing of LSP. torch is imported lazily, inside the modules that need it; importing this
package or ``diffusion_lsp.engine.api`` stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from diffusion_lsp.engine.api import Engine, ModelSpec


def load_engine(
    spec: ModelSpec, progress: Callable[[str, float | None], None] | None = None
) -> Engine:
    """Load the model ``spec`` names and return its family's engine (see ``engine.loading``), or,
    when ``spec.remote`` names a server, the remote backend that sends requests to it.

    Raises ``api.ModelLoadError`` with a message and a fix for anything the user can act on.
    """
    if spec.remote is not None and spec.remote.url:
        from diffusion_lsp.engine.remote import connect

        return connect(spec.remote, progress)
    from diffusion_lsp.engine.loading import load_engine as _load_engine

    return _load_engine(spec, progress)


__all__ = ["load_engine"]
