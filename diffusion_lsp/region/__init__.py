"""Region selection with tree-sitter: which span of a document to mask, for each intent.

``Document`` keeps one open file's text and syntax tree; ``inline_region``, ``hole_regions``,
``fix_regions`` and ``refine_region`` pick the span for each intent; ``next_edit`` finds where the
edit after the user's last one goes. It imports only the standard library, tree_sitter, textops and
the plain types of ``engine.api``.
"""

from diffusion_lsp.region.base import Intent, LengthHint, Region
from diffusion_lsp.region.document import Document
from diffusion_lsp.region.fix import fix_regions
from diffusion_lsp.region.holes import hole_regions
from diffusion_lsp.region.inline import inline_region
from diffusion_lsp.region.languages import available_languages, language_for
from diffusion_lsp.region.refine import refine_region

__all__ = [
    "Document",
    "Intent",
    "LengthHint",
    "Region",
    "available_languages",
    "fix_regions",
    "hole_regions",
    "inline_region",
    "language_for",
    "refine_region",
]
