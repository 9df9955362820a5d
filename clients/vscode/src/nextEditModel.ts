/**
 * Next edit without VS Code: the protocol's shapes (`textDocument/copilotInlineEdit`), which edit of an
 * answer to show, what the preview draws (the removed range, the text after it, the key hint) and
 * whether an accept still applies. `nextEdit.ts` turns these into decorations and edits.
 */

export const NEXT_EDIT_REQUEST = 'textDocument/copilotInlineEdit';
export const NEXT_EDIT_SHOWN = 'textDocument/didShowInlineEdit';
export const VISIBLE_CONTEXT = 'diffusionLsp.nextEditVisible';
/** Quiet time after a change before the client asks (the server waits for the pause itself too). */
export const DEBOUNCE_MS = 300;

export interface LspPosition {
  line: number;
  character: number;
}

export interface LspRange {
  start: LspPosition;
  end: LspPosition;
}

export interface InlineEditItem {
  text: string;
  range: LspRange;
  textDocument?: { uri?: string; version?: number | null };
  command?: { title: string; command: string; arguments?: unknown[] };
}

export interface InlineEditParams {
  textDocument: { uri: string; version: number };
  position: LspPosition;
}

function isPosition(value: unknown): value is LspPosition {
  const p = value as LspPosition;
  return typeof p === 'object' && p !== null && Number.isInteger(p.line) && Number.isInteger(p.character);
}

function isItem(value: unknown): value is InlineEditItem {
  const item = value as InlineEditItem;
  return (
    typeof item === 'object' &&
    item !== null &&
    typeof item.text === 'string' &&
    typeof item.range === 'object' &&
    item.range !== null &&
    isPosition(item.range.start) &&
    isPosition(item.range.end)
  );
}

/**
 * The edit to show from an answer to a request made on (`uri`, `version`): the first that is for that
 * document and version (an edit that names neither is taken as for it), or undefined.
 */
export function pickEdit(result: unknown, uri: string, version: number): InlineEditItem | undefined {
  const edits = (result as { edits?: unknown } | null)?.edits;
  if (!Array.isArray(edits)) return undefined;
  for (const candidate of edits) {
    if (!isItem(candidate)) continue;
    const doc = candidate.textDocument;
    if (doc?.uri !== undefined && doc.uri !== uri) continue;
    if (doc?.version !== undefined && doc.version !== null && doc.version !== version) continue;
    const { start, end } = candidate.range;
    if (end.line < start.line || (end.line === start.line && end.character < start.character)) continue;
    return candidate;
  }
  return undefined;
}

export interface Preview {
  /** The range the edit replaces; empty for a pure insertion (then nothing is struck through). */
  removed: LspRange;
  /** What the `after` decoration at the end of the removed range shows (one line), '' for none. */
  after: string;
  /** The whole new text, for the hover. */
  text: string;
  /** The new text has this many more lines than the first (shown as a note after it). */
  extraLines: number;
}

/** What the decorations draw for `item`. An `after` decoration holds one line: the first line of
 * the new text, then ` (+N lines)` when there are more (the hover shows all of it). */
export function preview(item: InlineEditItem): Preview {
  const lines = item.text.split('\n');
  const extraLines = lines.length - 1;
  const after = extraLines > 0 ? `${lines[0]} (+${extraLines} line${extraLines > 1 ? 's' : ''})` : lines[0];
  return { removed: item.range, after, text: item.text, extraLines };
}

export function isEmptyRange(range: LspRange): boolean {
  return range.start.line === range.end.line && range.start.character === range.end.character;
}

/** The keys as package.json binds them, for the hint after the line and the hover. */
export const KEYS = { accept: 'Alt+Enter', jump: 'Alt+]', dismiss: 'Escape' } as const;

export function hint(): string {
  return `next edit: ${KEYS.accept} accept, ${KEYS.jump} jump, ${KEYS.dismiss} dismiss`;
}

/** Accepting applies the edit only on the document version it was computed on. */
export function canAccept(shownVersion: number, currentVersion: number): boolean {
  return shownVersion === currentVersion;
}
