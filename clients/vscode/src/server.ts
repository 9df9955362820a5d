/**
 * Owns the language server process: resolves its command, starts the LanguageClient, keeps the
 * status bar in step with `diffusionLsp/status`, forwards setting changes, restarts on demand,
 * runs the actions (Fill/Fix/Refine) with a cancellable progress notification, and keeps error
 * notifications to one per failure, closed again once the server works.
 */

import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  type LanguageClientOptions,
  MessageType,
  type ServerOptions,
  ShowMessageNotification,
  State,
  type StaticFeature,
  type WorkDoneProgressBegin,
  WorkDoneProgress,
  WorkDoneProgressCancelNotification,
  WorkDoneProgressCreateRequest,
  type WorkDoneProgressEnd,
  type WorkDoneProgressReport,
  type WorkspaceEdit,
} from 'vscode-languageclient/node';

import { actionOutcome, ActionProgress, type ProgressRoute, type ProgressToken } from './actions';
import { type NoticeAction, Notices } from './notices';
import { activeInterpreter } from './python';
import { formatCommand, resolveServerCommand, ServerCommandError, type ServerCommand } from './serverCommand';
import { buildServerSettings, type JsonObject, SECTION, serverSettingKeys } from './settings';
import { type ClientLatencies, type LoadProgress, parseStatus, renderStatus, type ServerStatus } from './status';

/** Languages with a tree-sitter grammar in the server; others would get line-based regions only.
 * The server's list (diffusion_lsp/region/languages.py); tests/test_language_facts.py checks this copy
 * and package.json's activationEvents against it. */
export const LANGUAGES: readonly string[] = [
  'python', 'javascript', 'javascriptreact', 'typescript', 'typescriptreact',
  'go', 'rust', 'c', 'cpp', 'java', 'lua',
];

const STATUS_NOTIFICATION = 'diffusionLsp/status';

type ProgressValue = WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd;

/**
 * Takes the server's `window/workDoneProgress/create`. Registered after the built-in progress
 * feature, so its handler is the one used: the built-in one shows progress as a silent window
 * notification, whose Cancel the user only finds by clicking the status bar.
 */
class ServerProgressFeature implements StaticFeature {
  constructor(
    private readonly client: LanguageClient,
    private readonly created: (token: ProgressToken) => void,
  ) {}

  fillClientCapabilities(capabilities: { window?: { workDoneProgress?: boolean } }): void {
    capabilities.window = { ...capabilities.window, workDoneProgress: true };
  }

  getState(): { kind: 'static' } {
    return { kind: 'static' };
  }

  initialize(): void {
    this.client.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => this.created(token));
  }

  clear(): void {}
}

/** A VS Code progress notification fed with LSP `$/progress` values (percentages become increments). */
class ProgressView {
  private reported = 0;

  constructor(private readonly progress: vscode.Progress<{ message?: string; increment?: number }>) {}

  report(value: WorkDoneProgressBegin | WorkDoneProgressReport): void {
    const percentage = typeof value.percentage === 'number' ? Math.max(0, Math.min(100, value.percentage)) : undefined;
    const increment = percentage === undefined ? undefined : Math.max(0, percentage - this.reported);
    this.reported += increment ?? 0;
    if (value.message !== undefined || increment) {
      this.progress.report({ message: value.message, increment });
    }
  }
}

export class ServerManager implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private status: ServerStatus = { state: 'stopped' };
  private progress: LoadProgress | undefined;
  private latencies: ClientLatencies = {};
  private readonly statusItem: vscode.StatusBarItem;
  /** Handlers tied to the current client; dropped with it. */
  private clientDisposables: vscode.Disposable[] = [];
  private starting: Promise<void> | undefined;
  /** True while `client.start()` runs: its own error toasts are left to ours. */
  private clientStarting = false;
  private readonly notices = new Notices();
  /** Closes the notification of each notice on screen, by notice id. */
  private readonly noticeClosers = new Map<number, () => void>();
  private readonly actions = new ActionProgress();
  private nextActionId = 1;
  /** The progress notification of each running action, by action id. */
  private readonly actionViews = new Map<number, ProgressView>();
  /** Where each server progress token goes, and its listener. */
  private readonly serverProgress = new Map<ProgressToken, { route?: ProgressRoute; view?: ProgressView; end?: () => void; listener: vscode.Disposable }>();

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
    // Latencies of an earlier server (another model, maybe) would mislead.
    this.latencies = {};
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
      this.fail(message);
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
            this.latencies = { ...this.latencies, inlineMs: Date.now() - started };
            this.showStatus(this.status);
          }
          return result;
        },
      },
    };
    const client = new LanguageClient('diffusionLsp', 'Diffusion LSP', serverOptions, clientOptions);
    this.routeClientErrors(client);
    client.registerFeature(new ServerProgressFeature(client, (token) => this.listenProgress(client, token)));
    this.client = client;
    this.clientDisposables.push(
      // Replaces the client's default handler (registered before it starts, applied after).
      client.onNotification(ShowMessageNotification.type, ({ type, message }) => {
        if (type === MessageType.Error) {
          this.fail(message);
        } else if (type === MessageType.Warning) {
          void vscode.window.showWarningMessage(message);
        } else {
          void vscode.window.showInformationMessage(message);
        }
      }),
      client.onNotification(STATUS_NOTIFICATION, (params: unknown) => {
        const status = parseStatus(params);
        if (status) {
          if (status.state === 'ready') {
            this.recover();
          }
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
    this.clientStarting = true;
    try {
      await client.start();
    } catch (error) {
      const message = `The server did not start (${formatCommand(command)}): ${error instanceof Error ? error.message : String(error)}`;
      this.output.error(message);
      this.showStatus({ state: 'error', message });
      this.client = undefined;
      this.fail(`${message}. See "Diffusion: Show Status" and the output channel.`);
      return;
    } finally {
      this.clientStarting = false;
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
    for (const token of [...this.serverProgress.keys()]) {
      this.dropProgress(token);
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
    this.recover();
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

  /**
   * Runs an action command (`diffusionLsp.fill`, `.fix`, `.refine`) in a progress notification
   * with Cancel. The command goes out with a `workDoneToken`; the server's progress (on that token,
   * or on one it creates) shows in the notification, and Cancel sends `$/cancelRequest` and
   * `window/workDoneProgress/cancel` for the server's tokens. An answer that changed nothing is an
   * information message; an edit the server returned instead of applying is applied here.
   */
  async runAction(command: string, args: unknown[], title: string): Promise<void> {
    const client = this.running;
    if (!client) {
      throw new Error(`the server is ${this.status.state}; run "Diffusion: Restart Server" or see "Diffusion: Show Status"`);
    }
    const id = this.nextActionId++;
    const ownToken = `diffusion-lsp/action/${id}/${Date.now()}`;
    this.actions.start(id, ownToken);
    this.listenProgress(client, ownToken);
    let cancelled = false;
    const started = Date.now();
    try {
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Diffusion: ${title}`, cancellable: true },
        (progress, token) => {
          this.actionViews.set(id, new ProgressView(progress));
          token.onCancellationRequested(() => {
            cancelled = true;
            for (const progressToken of this.actions.cancelTokens(id)) {
              void client.sendNotification(WorkDoneProgressCancelNotification.type, { token: progressToken });
            }
          });
          return client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args, workDoneToken: ownToken }, token);
        },
      );
      if (cancelled) {
        return;
      }
      this.latencies = { ...this.latencies, actionMs: Date.now() - started };
      this.showStatus(this.status);
      const outcome = actionOutcome(result, cancelled);
      if (outcome.kind === 'info') {
        void vscode.window.showInformationMessage(`Diffusion: ${title}: ${outcome.message}`);
      } else if (outcome.kind === 'apply') {
        const edit = await client.protocol2CodeConverter.asWorkspaceEdit(outcome.edit as WorkspaceEdit);
        if (!(await vscode.workspace.applyEdit(edit))) {
          void vscode.window.showInformationMessage(`Diffusion: ${title}: the editor refused the edit`);
        }
      }
    } catch (error) {
      if (!cancelled) {
        throw error;
      }
      this.output.info(`${title}: cancelled (${error instanceof Error ? error.message : String(error)})`);
    } finally {
      this.actions.finish(id);
      this.actionViews.delete(id);
      this.dropProgress(ownToken);
    }
  }

  /** Follows the server's progress on `token` (created by the server, or an action's own). */
  private listenProgress(client: LanguageClient, token: ProgressToken): void {
    const listener = client.onProgress(WorkDoneProgress.type, token, (value) => this.onProgress(client, token, value));
    this.serverProgress.set(token, { listener });
  }

  /** Stops following `token`, closing its notification if it has one. */
  private dropProgress(token: ProgressToken): void {
    const entry = this.serverProgress.get(token);
    this.serverProgress.delete(token);
    entry?.listener.dispose();
    entry?.end?.();
  }

  private onProgress(client: LanguageClient, token: ProgressToken, value: ProgressValue): void {
    const entry = this.serverProgress.get(token);
    if (!entry) {
      return;
    }
    if (value.kind === 'begin') {
      entry.route = this.actions.began(token, value.cancellable);
      if (entry.route.kind === 'job') {
        this.showJob(client, token, value);
        return;
      }
    }
    const route = entry.route;
    if (!route) {
      return;
    }
    if (value.kind === 'end') {
      this.actions.ended(token);
      this.dropProgress(token);
      if (route.kind === 'status') {
        this.progress = undefined;
        this.showStatus(this.status);
      }
      return;
    }
    if (route.kind === 'action') {
      this.actionViews.get(route.id)?.report(value);
    } else if (route.kind === 'job') {
      entry.view?.report(value);
    } else {
      this.progress = { message: value.message, percentage: value.percentage };
      this.showStatus(this.status);
    }
  }

  /** A cancellable job the server runs that no action of ours started: its own notification. */
  private showJob(client: LanguageClient, token: ProgressToken, begin: WorkDoneProgressBegin): void {
    const entry = this.serverProgress.get(token);
    if (!entry) {
      return;
    }
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: begin.title, cancellable: true },
      (progress, cancel) =>
        new Promise<void>((resolve) => {
          entry.view = new ProgressView(progress);
          entry.view.report(begin);
          entry.end = resolve;
          cancel.onCancellationRequested(() => {
            void client.sendNotification(WorkDoneProgressCancelNotification.type, { token });
          });
        }),
    );
  }

  /**
   * The language client shows its own error toasts (a start that failed, a server that crashed
   * too often, a restart that failed): they go through the notices instead, and are dropped while
   * our own start runs (its failure gets our message; the client's is in the output channel).
   */
  private routeClientErrors(client: LanguageClient): void {
    // `showNotificationMessage` is private in the typings, and every client error goes through it.
    const internal = client as unknown as {
      showNotificationMessage?: (type: MessageType, message?: string, data?: unknown) => void;
    };
    if (typeof internal.showNotificationMessage !== 'function') {
      this.output.warn('vscode-languageclient has no showNotificationMessage: its error toasts are shown as they come');
      return;
    }
    const show = internal.showNotificationMessage.bind(client);
    internal.showNotificationMessage = (type, message, data) => {
      if (type !== MessageType.Error) {
        show(type, message, data);
      } else if (!this.clientStarting) {
        this.fail(`${message ?? 'The language client failed'} (see the output channel)`);
      }
    };
  }

  /** One failure: at most one notification, until the server works again. */
  private fail(message: string): void {
    this.applyNotices(this.notices.fail(message));
  }

  /** The server works (or is being restarted): close the error notification on screen. */
  private recover(): void {
    this.applyNotices(this.notices.recover());
  }

  /**
   * Error notices are progress notifications, the one kind an extension can close; Cancel (or the
   * server getting well) closes them.
   */
  private applyNotices(actions: NoticeAction[]): void {
    for (const action of actions) {
      const { id, message } = action.notice;
      if (action.kind === 'close') {
        this.noticeClosers.get(id)?.();
        this.noticeClosers.delete(id);
        continue;
      }
      void vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Diffusion LSP: ${message}`, cancellable: true },
        (_progress, cancel) =>
          new Promise<void>((resolve) => {
            this.noticeClosers.set(id, resolve);
            cancel.onCancellationRequested(() => {
              this.notices.dismissed(id);
              this.noticeClosers.delete(id);
              resolve();
            });
          }),
      );
    }
  }

  /** LSP conversions for command arguments. */
  get converter(): LanguageClient['code2ProtocolConverter'] | undefined {
    return this.client?.code2ProtocolConverter;
  }

  private showStatus(status: ServerStatus): void {
    this.status = status;
    const view = renderStatus(status, this.progress, this.latencies);
    this.statusItem.text = view.text;
    this.statusItem.tooltip = view.tooltip;
    this.statusItem.backgroundColor = view.error ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
  }

  dispose(): void {
    void this.stop();
    this.recover();
    this.statusItem.dispose();
  }
}
