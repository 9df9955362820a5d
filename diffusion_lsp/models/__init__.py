"""The checkpoints shipped inside the package; ``code-small`` is the default model.

``embedded_model_path()`` is the directory ``from_pretrained`` loads when no model is configured.
The recipe that made it is ``diffusion-lsp train``; its model card is ``docs/models.md``.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_MODEL = "code-small"


def embedded_model_path(name: str = DEFAULT_MODEL) -> Path:
    """The directory of the embedded checkpoint ``name`` (config, tokenizer, safetensors shards)."""
    return Path(__file__).resolve().parent / name
