/**
 * The actions (Fill Holes, Fix Syntax Errors, Refine Selection) as the client tracks them: which
 * of the server's work-done progress belongs to which running action, and what to tell the user
 * about an action's answer. Pure, no `vscode` import: `server.ts` and `extension.ts` drive the UI.
 */

export type ProgressToken = string | number;

/** Where the server's progress for `token` goes. */
export type ProgressRoute =
  /** Into the notification of running action `id` (its Cancel reaches this token). */
  | { kind: 'action'; id: number }
  /** A cancellable job no action of ours started (a notification of its own, with Cancel). */
  | { kind: 'job' }
  /** Not cancellable: model loading, shown in the status bar. */
  | { kind: 'status' };

interface RunningAction {
  id: number;
  /** The `workDoneToken` the client sent with the command. */
  ownToken: ProgressToken;
  /** Whether the server began progress on `ownToken`. */
  ownBegun: boolean;
  /** Tokens the server created (`window/workDoneProgress/create`) for this action. */
  serverTokens: ProgressToken[];
}

/**
 * Links the server's progress to the running actions. The server reports an action either on the
 * `workDoneToken` the client sent with `workspace/executeCommand`, or on a token it creates itself;
 * a created, cancellable one goes to the oldest running action that has none yet.
 */
export class ActionProgress {
  private readonly running: RunningAction[] = [];

  /** Action `id` sent its command with `workDoneToken` `ownToken`. */
  start(id: number, ownToken: ProgressToken): void {
    this.running.push({ id, ownToken, ownBegun: false, serverTokens: [] });
  }

  /** The server sent `begin` on `token`. */
  began(token: ProgressToken, cancellable: boolean | undefined): ProgressRoute {
    const own = this.running.find((action) => action.ownToken === token);
    if (own) {
      own.ownBegun = true;
      return { kind: 'action', id: own.id };
    }
    const linked = this.running.find((action) => action.serverTokens.includes(token));
    if (linked) {
      return { kind: 'action', id: linked.id };
    }
    if (!cancellable) {
      return { kind: 'status' };
    }
    const waiting = this.running.find((action) => !action.ownBegun && action.serverTokens.length === 0);
    if (waiting) {
      waiting.serverTokens.push(token);
      return { kind: 'action', id: waiting.id };
    }
    return { kind: 'job' };
  }

  /** The server sent `end` on `token`. */
  ended(token: ProgressToken): void {
    for (const action of this.running) {
      action.serverTokens = action.serverTokens.filter((candidate) => candidate !== token);
    }
  }

  /**
   * The tokens to send `window/workDoneProgress/cancel` for when the user cancels action `id`
   * (the request itself is cancelled with `$/cancelRequest` as well).
   */
  cancelTokens(id: number): ProgressToken[] {
    const action = this.running.find((candidate) => candidate.id === id);
    if (!action) {
      return [];
    }
    return [...(action.ownBegun ? [action.ownToken] : []), ...action.serverTokens];
  }

  /** Action `id` got its answer (or failed); later progress on its tokens is nobody's. */
  finish(id: number): void {
    const index = this.running.findIndex((action) => action.id === id);
    if (index >= 0) {
      this.running.splice(index, 1);
    }
  }
}

/** What the client does with an action's answer. */
export type ActionOutcome =
  /** Nothing to say: the server applied the edit, or the user cancelled. */
  | { kind: 'none' }
  /** An information message (nothing changed, and the server says why). */
  | { kind: 'info'; message: string }
  /** The server could not apply the edit itself and returned it: apply it here. */
  | { kind: 'apply'; edit: object; message: string };

/**
 * Reads the server's `{"applied": bool, "message": str, "edit"?: WorkspaceEdit}` answer. A
 * refusal ("no safe fix found ...") is information, not an error.
 */
export function actionOutcome(result: unknown, cancelled: boolean): ActionOutcome {
  if (cancelled || typeof result !== 'object' || result === null) {
    return { kind: 'none' };
  }
  const raw = result as Record<string, unknown>;
  const message = typeof raw.message === 'string' ? raw.message.trim() : '';
  if (raw.applied === true) {
    return { kind: 'none' };
  }
  if (typeof raw.edit === 'object' && raw.edit !== null) {
    return { kind: 'apply', edit: raw.edit, message };
  }
  return { kind: 'info', message: message || 'nothing to change' };
}
