/**
 * Owns the language server process: resolves its command, starts the LanguageClient, keeps the
 * status bar in step with `diffusionLsp/status`, forwards setting changes, restarts on demand.
 */

import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  type LanguageClientOptions,
  type ServerOptions,
  State,
  type StaticFeature,
  WorkDoneProgress,
  WorkDoneProgressCreateRequest,
} from 'vscode-languageclient/node';

import { activeInterpreter } from './python';
import { formatCommand, resolveServerCommand, ServerCommandError, type ServerCommand } from './serverCommand';
import { buildServerSettings, type JsonObject, SECTION, serverSettingKeys } from './settings';
import { type LoadProgress, parseStatus, renderStatus, type ServerStatus } from './status';

/** Languages with a tree-sitter grammar in the server; others would get line-based regions only. */
export const LANGUAGES: readonly string[] = [
  'python', 'javascript', 'javascriptreact', 'typescript', 'typescriptreact',
  'go', 'rust', 'c', 'cpp', 'java', 'lua',
];

const STATUS_NOTIFICATION = 'diffusionLsp/status';

/** The `{"applied": bool, "message": str}` answer of the server's edit commands. */
export interface CommandResult {
  applied: boolean;
  message: string;
}

/**
 * Shows the server's `$/progress` (model loading) in the status bar. Registered after the
 * built-in progress feature, so its `window/workDoneProgress/create` handler is the one used.
 */
class StatusBarProgressFeature implements StaticFeature {
  constructor(
    private readonly client: LanguageClient,
    private readonly report: (progress: LoadProgress | undefined) => void,
  ) {}

  fillClientCapabilities(capabilities: { window?: { workDoneProgress?: boolean } }): void {
    capabilities.window = { ...capabilities.window, workDoneProgress: true };
  }

  getState(): { kind: 'static' } {
    return { kind: 'static' };
  }

  initialize(): void {
    this.client.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => {
      const disposable = this.client.onProgress(WorkDoneProgress.type, token, (value) => {
        if (value.kind === 'end') {
          disposable.dispose();
          this.report(undefined);
        } else {
          this.report({ message: value.message, percentage: value.percentage });
        }
      });
    });
  }

  clear(): void {}
}

export class ServerManager implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private status: ServerStatus = { state: 'stopped' };
  private progress: LoadProgress | undefined;
  private readonly statusItem: vscode.StatusBarItem;
  /** Handlers tied to the current client; dropped with it. */
  private clientDisposables: vscode.Disposable[] = [];
  private starting: Promise<void> | undefined;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly output: vscode.LogOutputChannel,
  ) {
    this.statusItem = vscode.window.createStatusBarItem('diffusionLsp.status', vscode.StatusBarAlignment.Right, 100);
    this.statusItem.name = 'Diffusion LSP';
    this.statusItem.command = 'diffusionLsp.showStatus';
    this.showStatus({ state: 'stopped' });
    this.statusItem.show();
  }

  /** Server setting keys, from this extension's own `contributes.configuration` (generated from the schema). */
  get serverKeys(): string[] {
    const properties = this.context.extension.packageJSON?.contributes?.configuration?.properties ?? {};
    return serverSettingKeys(properties as Record<string, unknown>);
  }

  /** The `diffusionLsp` settings object the server reads. */
  serverSettings(scope?: vscode.ConfigurationScope): JsonObject {
    const config = vscode.workspace.getConfiguration(SECTION, scope);
    return buildServerSettings(this.serverKeys, (key) => config.get(key));
  }

  get lastStatus(): ServerStatus {
    return this.status;
  }

  get running(): LanguageClient | undefined {
    return this.client?.state === State.Running ? this.client : undefined;
  }

  async start(): Promise<void> {
    if (!this.starting) {
      this.starting = this.doStart().finally(() => {
        this.starting = undefined;
      });
    }
    return this.starting;
  }

  private async doStart(): Promise<void> {
    if (this.client) {
      return;
    }
    const config = vscode.workspace.getConfiguration(SECTION);
    let command: ServerCommand;
    try {
      command = resolveServerCommand({
        commandSetting: config.get('server.command'),
        envSetting: config.get('server.env'),
        pythonInterpreter: await this.pythonInterpreter(),
      });
    } catch (error) {
      const message = error instanceof ServerCommandError ? error.message : String(error);
      this.output.error(message);
      this.showStatus({ state: 'error', message });
      void vscode.window.showErrorMessage(`Diffusion LSP: ${message}`);
      return;
    }
    this.output.info(`Starting the server (${command.source}): ${formatCommand(command)}`);
    this.showStatus({ state: 'starting', message: formatCommand(command) });

    const serverOptions: ServerOptions = {
      command: command.command,
      args: command.args,
      // No `transport`: TransportKind.stdio would append `--stdio`, which the server does not take.
      options: { env: { ...process.env, ...command.env } },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: LANGUAGES.flatMap((language) => [
        { scheme: 'file', language },
        { scheme: 'untitled', language },
      ]),
      outputChannel: this.output,
      initializationOptions: () => this.serverSettings(),
      middleware: {
        workspace: {
          // The server pulls section `diffusionLsp`: answer with the server keys only, nested.
          configuration: (params, token, next) => {
            const answers = next(params, token);
            return Promise.resolve(answers).then((values) =>
              Array.isArray(values)
                ? params.items.map((item, index) => this.answerConfiguration(item, values[index]))
                : values,
            );
          },
        },
        provideInlineCompletionItems: async (document, position, context, token, next) => {
          const started = Date.now();
          const result = await next(document, position, context, token);
          const items = Array.isArray(result) ? result : result?.items;
          if (items && items.length > 0 && !token.isCancellationRequested) {
            this.showStatus({ ...this.status, lastLatencyMs: Date.now() - started });
          }
          return result;
        },
      },
    };
    const client = new LanguageClient('diffusionLsp', 'Diffusion LSP', serverOptions, clientOptions);
    client.registerFeature(
      new StatusBarProgressFeature(client, (progress) => {
        this.progress = progress;
        this.showStatus(this.status);
      }),
    );
    this.client = client;
    this.clientDisposables.push(
      client.onNotification(STATUS_NOTIFICATION, (params: unknown) => {
        const status = parseStatus(params);
        if (status) {
          this.showStatus({ ...status, lastLatencyMs: status.lastLatencyMs ?? this.status.lastLatencyMs });
        } else {
          this.output.warn(`Ignored a malformed ${STATUS_NOTIFICATION} notification: ${JSON.stringify(params)}`);
        }
      }),
      client.onDidChangeState((event) => {
        if (event.newState === State.Stopped && this.client === client) {
          this.showStatus({ ...this.status, state: 'stopped' });
        }
      }),
    );
    try {
      await client.start();
    } catch (error) {
      const message = `The server did not start (${formatCommand(command)}): ${error instanceof Error ? error.message : String(error)}`;
      this.output.error(message);
      this.showStatus({ state: 'error', message });
      this.client = undefined;
      void vscode.window.showErrorMessage(`Diffusion LSP: ${message}. See "Diffusion: Show Status" and the output channel.`);
      return;
    }
    if (this.status.state === 'starting') {
      this.showStatus({ state: 'loading', message: 'waiting for the server' });
    }
  }

  /** The Python extension's interpreter; a failure there falls back to the other ways to start. */
  private async pythonInterpreter(): Promise<string | undefined> {
    try {
      return await activeInterpreter(vscode.workspace.workspaceFolders?.[0]?.uri);
    } catch (error) {
      this.output.warn(`The Python extension gave no interpreter: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    }
  }

  private answerConfiguration(item: { section?: string }, value: unknown): unknown {
    if (item.section === SECTION) {
      return this.serverSettings();
    }
    if (item.section?.startsWith(`${SECTION}.`)) {
      const path = item.section.slice(SECTION.length + 1).split('.');
      let node: unknown = this.serverSettings();
      for (const part of path) {
        node = typeof node === 'object' && node !== null ? (node as JsonObject)[part] : undefined;
      }
      return node ?? null;
    }
    return value;
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    for (const disposable of this.clientDisposables.splice(0)) {
      disposable.dispose();
    }
    if (client) {
      try {
        await client.stop(5000);
      } catch (error) {
        this.output.warn(`Stopping the server: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    this.showStatus({ ...this.status, state: 'stopped' });
  }

  async restart(): Promise<void> {
    this.output.info('Restarting the server');
    await this.starting;
    await this.stop();
    await this.start();
  }

  /** Pushes the current settings with `workspace/didChangeConfiguration`. */
  async sendSettings(): Promise<void> {
    const client = this.running;
    if (client) {
      await client.sendNotification(DidChangeConfigurationNotification.type, {
        settings: { [SECTION]: this.serverSettings() },
      });
    }
  }

  /** Runs one of the server's `workspace/executeCommand` commands. */
  async executeCommand<T>(command: string, args: unknown[], token?: vscode.CancellationToken): Promise<T> {
    const client = this.running;
    if (!client) {
      throw new Error(`the server is ${this.status.state}; run "Diffusion: Restart Server" or see "Diffusion: Show Status"`);
    }
    return (await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args }, token)) as T;
  }

  /** LSP conversions for command arguments. */
  get converter(): LanguageClient['code2ProtocolConverter'] | undefined {
    return this.client?.code2ProtocolConverter;
  }

  private showStatus(status: ServerStatus): void {
    this.status = status;
    const view = renderStatus(status, this.progress);
    this.statusItem.text = view.text;
    this.statusItem.tooltip = view.tooltip;
    this.statusItem.backgroundColor = view.error ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
  }

  dispose(): void {
    void this.stop();
    this.statusItem.dispose();
  }
}
