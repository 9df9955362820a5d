"""TEMPORARY scaffold LSP server for developing the Neovim test harness before the real server lands.

Deleted once diffusion_lsp.lsp is on main; the final tests run against the real server.
"""

import asyncio

from lsprotocol import types as t
from pygls.lsp.server import LanguageServer

server = LanguageServer("scaffold", "0")


@server.feature(t.INITIALIZED)
def initialized(ls, params):
    ls.protocol.notify("diffusionLsp/status", {"state": "ready", "model": "scaffold", "device": "cpu",
                                               "dtype": "float32", "message": "", "lastLatencyMs": None})


@server.feature(t.TEXT_DOCUMENT_INLINE_COMPLETION, t.InlineCompletionOptions())
async def inline(ls, params: t.InlineCompletionParams):
    await asyncio.sleep(0.05)
    pos = params.position
    return t.InlineCompletionList(items=[
        t.InlineCompletionItem(insert_text="foo(bar, baz) + 1\n    return result",
                               range=t.Range(pos, pos)),
        t.InlineCompletionItem(insert_text="alt_two()", range=t.Range(pos, pos)),
    ])


def _apply(ls, uri, rng, new_text):
    doc = ls.workspace.get_text_document(uri)
    edit = t.WorkspaceEdit(document_changes=[t.TextDocumentEdit(
        text_document=t.OptionalVersionedTextDocumentIdentifier(uri=uri, version=doc.version),
        edits=[t.TextEdit(range=rng, new_text=new_text)])])
    ls.workspace_apply_edit(t.ApplyWorkspaceEditParams(edit=edit))


@server.command("diffusionLsp.refine")
def refine(ls, uri, rng):
    rng = ls.protocol._converter.structure(rng, t.Range)
    _apply(ls, uri, rng, "refined_text")
    return {"applied": True, "message": "refined"}


@server.command("diffusionLsp.fill")
def fill(ls, uri, rng):
    doc = ls.workspace.get_text_document(uri)
    for i, line in enumerate(doc.lines):
        if "pass" in line:
            c = line.index("pass")
            _apply(ls, uri, t.Range(t.Position(i, c), t.Position(i, c + 4)), "return 42")
            return {"applied": True, "message": "filled"}
    return {"applied": False, "message": "no hole"}


@server.command("diffusionLsp.fix")
def fix(ls, uri, rng):
    doc = ls.workspace.get_text_document(uri)
    for i, line in enumerate(doc.lines):
        if line.rstrip().endswith("+"):
            n = len(line.rstrip("\n"))
            _apply(ls, uri, t.Range(t.Position(i, n), t.Position(i, n)), " 1)")
            return {"applied": True, "message": "fixed"}
    return {"applied": False, "message": "nothing to fix"}


@server.command("diffusionLsp.status")
def status(ls, *args):
    return {"state": "ready", "model": "scaffold", "device": "cpu", "dtype": "float32", "message": "",
            "lastLatencyMs": 1}


@server.feature(t.TEXT_DOCUMENT_CODE_ACTION)
def code_action(ls, params: t.CodeActionParams):
    return [t.CodeAction(title="Fix syntax error", kind=t.CodeActionKind.QuickFix,
                         command=t.Command(title="Fix syntax error", command="diffusionLsp.fix",
                                           arguments=[params.text_document.uri, None]))]


if __name__ == "__main__":
    server.start_io()
