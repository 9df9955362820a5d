/**
 * Which error notifications about the server are on screen: one failure shows one notification
 * (however many retries, status notifications or layers report it), and a recovery (the server
 * ready again, or a restart the user asked for) takes the stale one away. Pure: `server.ts` turns
 * the actions into notifications it can close.
 */

export interface Notice {
  id: number;
  message: string;
}

export type NoticeAction = { kind: 'show'; notice: Notice } | { kind: 'close'; notice: Notice };

export class Notices {
  private nextId = 1;
  private shown: Notice | undefined;
  /** Messages shown since the last recovery, on screen or dismissed: not shown again until then. */
  private readonly seen = new Set<string>();

  /** The notice on screen, if any. */
  get current(): Notice | undefined {
    return this.shown;
  }

  /**
   * A failure. Its message is shown once until the next recovery: a retry that fails the same
   * way shows nothing new; a different failure replaces the notice on screen.
   */
  fail(message: string): NoticeAction[] {
    if (this.seen.has(message)) {
      return [];
    }
    this.seen.add(message);
    const actions: NoticeAction[] = this.shown ? [{ kind: 'close', notice: this.shown }] : [];
    this.shown = { id: this.nextId++, message };
    actions.push({ kind: 'show', notice: this.shown });
    return actions;
  }

  /** The user closed notice `id`; its message stays seen until the next recovery. */
  dismissed(id: number): void {
    if (this.shown?.id === id) {
      this.shown = undefined;
    }
  }

  /**
   * The server is ready again, or the user restarts it: close the notice on screen and forget what
   * was seen, so that the next failure is shown.
   */
  recover(): NoticeAction[] {
    this.seen.clear();
    const shown = this.shown;
    this.shown = undefined;
    return shown ? [{ kind: 'close', notice: shown }] : [];
  }
}
