"""One list of languages: ``diffusion_lsp.region.languages.SPECS``. The copies that cannot import it
(the editor clients, the docs) must say the same; this is their drift test.

Fix a failure by editing the client or doc to match ``SPECS`` (``editor_language_ids()`` is the list
the clients attach to, in order), never by editing ``SPECS`` to match a client.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from diffusion_lsp.region.languages import SPECS, editor_language_ids

ROOT = Path(__file__).resolve().parents[1]


def _quoted(text: str) -> list[str]:
    return re.findall(r"'([^']*)'", text)


def _between(text: str, start: str, end: str) -> str:
    i = text.index(start) + len(start)
    return text[i : text.index(end, i)]


def test_every_language_id_belongs_to_one_language():
    ids = [i for spec in SPECS.values() for i in spec.language_ids + spec.aliases]
    assert len(ids) == len(set(ids))
    exts = [e for spec in SPECS.values() for e in spec.extensions]
    assert len(exts) == len(set(exts))


def test_the_editor_ids_are_the_ones_clients_have_always_attached_to():
    # What the server is asked to serve by default; a change here is a change for users.
    assert editor_language_ids() == (
        "python",
        "javascript",
        "javascriptreact",
        "typescript",
        "typescriptreact",
        "go",
        "rust",
        "c",
        "cpp",
        "java",
        "lua",
    )


def test_nvim_default_filetypes_are_the_editor_ids():
    config = (ROOT / "clients/nvim/lua/diffusion_lsp/config.lua").read_text(encoding="utf-8")
    assert tuple(_quoted(_between(config, "filetypes = {", "}"))) == editor_language_ids()


@pytest.mark.parametrize("start", ["  filetypes = {", "     ft = {"])
def test_the_neovim_docs_list_the_editor_ids(start):
    doc = (ROOT / "docs/neovim.md").read_text(encoding="utf-8")
    assert tuple(_quoted(_between(doc, start, "}"))) == editor_language_ids()


def test_vscode_document_selector_is_the_editor_ids():
    server = (ROOT / "clients/vscode/src/server.ts").read_text(encoding="utf-8")
    block = _between(server, "export const LANGUAGES: readonly string[] = [", "];")
    assert tuple(_quoted(block)) == editor_language_ids()


def test_vscode_activation_events_are_the_editor_ids():
    package = json.loads((ROOT / "clients/vscode/package.json").read_text(encoding="utf-8"))
    events = [e for e in package["activationEvents"] if e.startswith("onLanguage:")]
    assert tuple(e.removeprefix("onLanguage:") for e in events) == editor_language_ids()


def test_the_regions_doc_table_is_specs():
    doc = (ROOT / "docs/regions.md").read_text(encoding="utf-8")
    table = _between(
        doc, "| name | language ids | extensions | package |\n|---|---|---|---|\n", "\n\n"
    )
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()]
    expected = []
    for spec in SPECS.values():
        package = spec.package
        if spec.function != "language":
            package += f" (`{spec.function}`)"
        expected.append(
            [
                spec.name,
                " ".join(spec.language_ids + spec.aliases),
                " ".join(spec.extensions),
                package,
            ]
        )
    assert rows == expected
