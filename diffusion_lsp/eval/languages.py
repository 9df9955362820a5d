"""Languages the recipe knows: file extensions and the tree-sitter grammar wheel for each.

They are the server's languages, read from ``diffusion_lsp.region.languages.SPECS`` (the one list).
Grammars come from the individual grammar wheels (they work offline); a missing wheel means the
language's files are still used for the random-rate objective, only without syntax spans. Training
and evaluation share it; it lives in ``eval`` because ``train`` may import ``eval``, not the reverse.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from diffusion_lsp.region.languages import SPECS

# language -> (extensions, grammar module, function in it that returns the language pointer)
LANGUAGES: dict[str, tuple[tuple[str, ...], str, str]] = {
    name: (spec.extensions, spec.module, spec.function) for name, spec in SPECS.items()
}

EXTENSION_TO_LANGUAGE: dict[str, str] = {
    ext: lang for lang, (exts, _, _) in LANGUAGES.items() for ext in exts
}


def language_of(path: str) -> str | None:
    """The language of a file by its extension, or None for files the recipe does not use."""
    dot = path.rfind(".")
    return EXTENSION_TO_LANGUAGE.get(path[dot:].lower()) if dot >= 0 else None


@cache
def parser_for(language: str) -> Any | None:
    """A tree-sitter parser for ``language``, or None when its grammar wheel is not installed."""
    try:
        import tree_sitter

        _, module_name, function = LANGUAGES[language]
        module = importlib.import_module(module_name)
        return tree_sitter.Parser(tree_sitter.Language(getattr(module, function)()))
    except (ImportError, KeyError, AttributeError):
        return None
