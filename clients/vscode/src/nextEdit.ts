/**
 * Next edit: after each pause in editing (and on "Diffusion: Show Next Edit") asks the server where the
 * next edit goes (`textDocument/copilotInlineEdit`) and draws it there with decorations (the inline-edit
 * API is proposed): the range it removes red and struck through, the new text after it in green, a
 * hint naming the keys after the line and a hover with the whole new text. Jump moves the cursor to it,
 * accept applies it (only on the document version it was computed on), dismiss or any change drops it.
 * One request per document in flight; a newer one cancels it.
 */

import * as vscode from 'vscode';

import {
  canAccept,
  DEBOUNCE_MS,
  hint,
  type InlineEditItem,
  type InlineEditParams,
  isEmptyRange,
  KEYS,
  NEXT_EDIT_REQUEST,
  NEXT_EDIT_SHOWN,
  pickEdit,
  preview,
  VISIBLE_CONTEXT,
} from './nextEditModel';
import type { ServerManager } from './server';

interface Shown {
  document: vscode.TextDocument;
  version: number;
  item: InlineEditItem;
  range: vscode.Range;
}

export class NextEdit implements vscode.Disposable {
  private readonly removed = vscode.window.createTextEditorDecorationType({
    backgroundColor: new vscode.ThemeColor('diffEditor.removedTextBackground'),
    textDecoration: 'line-through',
  });
  private readonly inserted = vscode.window.createTextEditorDecorationType({
    after: {
      color: new vscode.ThemeColor('gitDecoration.addedResourceForeground'),
      backgroundColor: new vscode.ThemeColor('diffEditor.insertedTextBackground'),
    },
  });
  private readonly hintType = vscode.window.createTextEditorDecorationType({
    after: { color: new vscode.ThemeColor('editorCodeLens.foreground'), fontStyle: 'italic', margin: '0 0 0 2em' },
  });
  private shown: Shown | undefined;
  /** The request in flight and the pause timer, per document (by URI string). */
  private readonly pending = new Map<string, vscode.CancellationTokenSource>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly server: ServerManager) {
    this.disposables.push(
      this.removed,
      this.inserted,
      this.hintType,
      vscode.commands.registerCommand('diffusionLsp.nextEdit.show', () => this.requestActive(true)),
      vscode.commands.registerCommand('diffusionLsp.nextEdit.jump', () => this.jump()),
      vscode.commands.registerCommand('diffusionLsp.nextEdit.accept', () => this.accept()),
      vscode.commands.registerCommand('diffusionLsp.nextEdit.dismiss', () => this.dismiss()),
      vscode.workspace.onDidChangeTextDocument((event) => this.changed(event)),
      vscode.window.onDidChangeVisibleTextEditors(() => this.draw()),
      vscode.workspace.onDidCloseTextDocument((document) => {
        this.cancel(document.uri.toString());
        if (this.shown?.document === document) void this.dismiss();
      }),
    );
  }

  /** Any change to the document on display drops the preview; a change asks again after a pause. */
  private changed(event: vscode.TextDocumentChangeEvent): void {
    if (event.contentChanges.length === 0) return;
    const document = event.document;
    if (this.shown?.document === document) void this.dismiss();
    const key = document.uri.toString();
    const version = document.version;
    this.cancel(key);
    if (vscode.window.activeTextEditor?.document !== document || !this.server.running) return;
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        const editor = vscode.window.activeTextEditor;
        if (editor?.document === document && document.version === version) {
          void this.request(editor, false);
        }
      }, DEBOUNCE_MS),
    );
  }

  private cancel(key: string): void {
    const timer = this.timers.get(key);
    if (timer) clearTimeout(timer);
    this.timers.delete(key);
    this.pending.get(key)?.cancel();
    this.pending.get(key)?.dispose();
    this.pending.delete(key);
  }

  private async requestActive(explicit: boolean): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showInformationMessage('Diffusion: Show Next Edit needs an open editor.');
      return;
    }
    await this.request(editor, explicit);
  }

  /** Asks for the next edit at the editor's cursor; shows it if the document is still as it was. */
  async request(editor: vscode.TextEditor, explicit: boolean): Promise<void> {
    const client = this.server.running;
    if (!client) {
      if (explicit) void vscode.window.showErrorMessage('Diffusion: the server is not running. Run "Diffusion: Restart Server".');
      return;
    }
    const document = editor.document;
    const key = document.uri.toString();
    this.cancel(key);
    const source = new vscode.CancellationTokenSource();
    const token = source.token;
    this.pending.set(key, source);
    const version = document.version;
    const uri = client.code2ProtocolConverter.asUri(document.uri);
    const params: InlineEditParams = {
      textDocument: { uri, version },
      position: client.code2ProtocolConverter.asPosition(editor.selection.active),
    };
    let result: unknown;
    try {
      result = await client.sendRequest(NEXT_EDIT_REQUEST, params, token);
    } catch (error) {
      if (explicit && !token.isCancellationRequested) {
        void vscode.window.showWarningMessage(`Diffusion: next edit failed: ${error instanceof Error ? error.message : String(error)}`);
      }
      return;
    } finally {
      if (this.pending.get(key) === source) this.pending.delete(key);
      source.dispose();
    }
    if (token.isCancellationRequested || document.version !== version) return;
    const item = pickEdit(result, uri, version);
    if (!item) {
      if (explicit) void vscode.window.showInformationMessage('Diffusion: no next edit here.');
      return;
    }
    await this.show(document, version, item, client.protocol2CodeConverter.asRange(item.range));
    void client.sendNotification(NEXT_EDIT_SHOWN, { item });
  }

  private async show(document: vscode.TextDocument, version: number, item: InlineEditItem, range: vscode.Range): Promise<void> {
    this.shown = { document, version, item, range };
    this.draw();
    await vscode.commands.executeCommand('setContext', VISIBLE_CONTEXT, true);
  }

  /** Draws the edit on display in every visible editor of its document (and clears the others). */
  private draw(): void {
    const shown = this.shown;
    for (const editor of vscode.window.visibleTextEditors) {
      if (!shown || editor.document !== shown.document) {
        editor.setDecorations(this.removed, []);
        editor.setDecorations(this.inserted, []);
        editor.setDecorations(this.hintType, []);
        continue;
      }
      const parts = preview(shown.item);
      const hover = new vscode.MarkdownString();
      hover.appendMarkdown(`**Next edit** (${KEYS.accept} accept, ${KEYS.jump} jump, ${KEYS.dismiss} dismiss)\n\n`);
      hover.appendCodeblock(parts.text, shown.document.languageId);
      editor.setDecorations(this.removed, isEmptyRange(parts.removed) ? [] : [{ range: shown.range, hoverMessage: hover }]);
      const end = new vscode.Range(shown.range.end, shown.range.end);
      editor.setDecorations(this.inserted, parts.after === '' ? [] : [{ range: end, hoverMessage: hover, renderOptions: { after: { contentText: parts.after } } }]);
      // At the end of the edit's last line, after the new text.
      const lineEnd = shown.document.lineAt(shown.range.end.line).range.end;
      editor.setDecorations(this.hintType, [
        { range: new vscode.Range(lineEnd, lineEnd), renderOptions: { after: { contentText: hint() } } },
      ]);
    }
  }

  private jump(): void {
    const shown = this.shown;
    const editor = vscode.window.visibleTextEditors.find((candidate) => candidate.document === shown?.document);
    if (!shown || !editor) return;
    editor.selection = new vscode.Selection(shown.range.start, shown.range.start);
    editor.revealRange(shown.range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  }

  private async accept(): Promise<void> {
    const shown = this.shown;
    if (!shown) return;
    await this.dismiss();
    if (!canAccept(shown.version, shown.document.version)) {
      void vscode.window.showInformationMessage('Diffusion: the document changed since the next edit was computed; dismissed it.');
      return;
    }
    const edit = new vscode.WorkspaceEdit();
    edit.replace(shown.document.uri, shown.range, shown.item.text);
    if (!(await vscode.workspace.applyEdit(edit))) return;
    const command = shown.item.command;
    if (command && this.server.running) {
      void this.server.executeCommand(command.command, command.arguments ?? []).catch(() => undefined);
    }
  }

  private async dismiss(): Promise<void> {
    this.shown = undefined;
    this.draw();
    await vscode.commands.executeCommand('setContext', VISIBLE_CONTEXT, false);
  }

  dispose(): void {
    for (const key of [...this.pending.keys(), ...this.timers.keys()]) this.cancel(key);
    for (const disposable of this.disposables) disposable.dispose();
  }
}
