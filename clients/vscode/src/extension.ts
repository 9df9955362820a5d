/**
 * Extension entry point: the output channel, the server manager, the five commands, next edit and the
 * reactions to setting and interpreter changes. Everything model-related happens in the server.
 */

import * as vscode from 'vscode';

import { NextEdit } from './nextEdit';
import { onInterpreterChanged } from './python';
import { ServerManager } from './server';
import { changeAction } from './settings';

let manager: ServerManager | undefined;

/** What the command sends as its range: the selection (may be empty at the cursor), the selection
 * which must not be empty, or the selection and `null` (the whole file) when it is empty. */
type RangeMode = 'selection' | 'selection-required' | 'selection-or-file';

/**
 * Runs a server action command on the active editor's selection; the server applies the edit.
 * Progress, Cancel and the answer's message are handled by `ServerManager.runAction`.
 */
async function runEditCommand(server: ServerManager, command: string, title: string, mode: RangeMode): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showWarningMessage(`Diffusion: ${title} needs an open editor.`);
    return;
  }
  const converter = server.converter;
  if (!converter) {
    void vscode.window.showErrorMessage('Diffusion: the server is not running. Run "Diffusion: Restart Server".');
    return;
  }
  const selection = editor.selection;
  if (mode === 'selection-required' && selection.isEmpty) {
    void vscode.window.showInformationMessage(`Diffusion: ${title} works on a selection: select the code first.`);
    return;
  }
  const range = mode === 'selection-or-file' && selection.isEmpty ? null : converter.asRange(selection);
  const args = [converter.asUri(editor.document.uri), range];
  try {
    await server.runAction(command, args, title);
  } catch (error) {
    void vscode.window.showErrorMessage(`Diffusion: ${title} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

async function showServerStatus(server: ServerManager, output: vscode.LogOutputChannel): Promise<void> {
  let status: unknown = server.lastStatus;
  if (server.running) {
    try {
      status = await server.executeCommand<unknown>('diffusionLsp.status', []);
    } catch (error) {
      output.warn(`diffusionLsp.status: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  output.info(`Status: ${JSON.stringify(status, null, 2)}`);
  const record = (status ?? {}) as Record<string, unknown>;
  const summary = ['state', 'model', 'device', 'dtype', 'message']
    .filter((key) => record[key] !== undefined && record[key] !== '')
    .map((key) => `${key}: ${String(record[key])}`)
    .join(', ');
  const choice = await vscode.window.showInformationMessage(`Diffusion: ${summary || 'no status'}`, 'Show Output', 'Restart Server');
  if (choice === 'Show Output') {
    output.show(true);
  } else if (choice === 'Restart Server') {
    await server.restart();
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel('Diffusion LSP', { log: true });
  const server = new ServerManager(context, output);
  manager = server;
  context.subscriptions.push(
    output,
    server,
    vscode.commands.registerCommand('diffusionLsp.refineSelection', () =>
      runEditCommand(server, 'diffusionLsp.refine', 'Refine Selection', 'selection-required'),
    ),
    vscode.commands.registerCommand('diffusionLsp.fillHoles', () =>
      runEditCommand(server, 'diffusionLsp.fill', 'Fill Holes', 'selection'),
    ),
    vscode.commands.registerCommand('diffusionLsp.fixSyntaxErrors', () =>
      runEditCommand(server, 'diffusionLsp.fix', 'Fix Syntax Errors', 'selection-or-file'),
    ),
    vscode.commands.registerCommand('diffusionLsp.showStatus', () => showServerStatus(server, output)),
    vscode.commands.registerCommand('diffusionLsp.restartServer', () => server.restart()),
    new NextEdit(server),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      const action = changeAction(server.serverKeys, (key) => event.affectsConfiguration(key));
      if (action === 'restart') {
        await server.restart();
      } else if (action === 'update') {
        await server.sendSettings();
      }
    }),
    await onInterpreterChanged(() => {
      if (!vscode.workspace.getConfiguration('diffusionLsp').get<string[]>('server.command')?.length) {
        void server.restart();
      }
    }),
  );
  // Shows the editor context menu entries only once the extension runs.
  await vscode.commands.executeCommand('setContext', 'diffusionLsp.active', true);
  await server.start();
}

export async function deactivate(): Promise<void> {
  await manager?.stop();
  manager = undefined;
}
