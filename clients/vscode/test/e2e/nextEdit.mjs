// The next-edit part of the end-to-end test (run.mjs calls it): on the server's fake engine with
// `fake:rename=x>count` (every `x` near a rename becomes `count`), the rename of a parameter is typed
// in the editor; the preview must appear on line 2 (the `x` struck through, `count` after it, the key
// hint), Alt+] jumps to it, Alt+Enter leaves exactly the renamed function; Escape dismisses a preview
// and leaves the text as typed; a change elsewhere dismisses it.
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';

export const RENAME_SOURCE = 'def f(x):\n    y = x + 1\n    return y\n';
export const RENAMED = 'def f(count):\n    y = count + 1\n    return y\n';
const TYPED = 'def f(count):\n    y = x + 1\n    return y\n';
export const RENAME_FILES = ['rename_accept.py', 'rename_dismiss.py', 'rename_change.py'];

/** Writes the files the next-edit part opens (before the editor starts, so the explorer lists them). */
export function writeRenameFiles(workspace) {
  for (const name of RENAME_FILES) writeFileSync(path.join(workspace, name), RENAME_SOURCE);
}

/** What the editor draws on line `line` (1-based): the text struck through and the `after` texts. */
async function linePreview(page, line) {
  return page.evaluate((line) => {
    const editor = document.querySelector('.editor-instance .monaco-editor .view-lines');
    if (!editor) return null;
    const rows = [...editor.querySelectorAll(':scope > .view-line')].sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top));
    const row = rows[line - 1];
    if (!row) return null;
    const spans = [...row.querySelectorAll('span')];
    const struck = spans
      .filter((span) => span.children.length === 0 && getComputedStyle(span).textDecorationLine.includes('line-through'))
      .map((span) => span.textContent)
      .join('');
    const after = spans
      .map((span) => getComputedStyle(span, '::after').content)
      .filter((content) => content && content !== 'none' && content !== 'normal')
      .map((content) => content.replace(/^"|"$/g, '').replace(/\\"/g, '"'));
    return { struck, after };
  }, line);
}

/** Waits, checking on every change of the page, until line `line` strikes nothing through (a poll
 * could miss the moment: a new preview may follow a change within a few hundred ms). */
async function waitForNoStrike(page, line, what) {
  try {
    await page.waitForFunction(
      (line) => {
        const editor = document.querySelector('.editor-instance .monaco-editor .view-lines');
        const rows = [...(editor?.querySelectorAll(':scope > .view-line') ?? [])].sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top));
        const row = rows[line - 1];
        return Boolean(row) && ![...row.querySelectorAll('span')].some((span) => span.children.length === 0 && getComputedStyle(span).textDecorationLine.includes('line-through'));
      },
      { polling: 'mutation', timeout: 15_000 },
      line,
    );
  } catch (error) {
    throw new Error(`timed out waiting for ${what}: ${error.message}`);
  }
}

async function cursorStatus(page) {
  return page.evaluate(() => document.querySelector('#status\\.editor\\.selection')?.textContent.trim() ?? null);
}

async function chord(page, modifier, key) {
  await page.keyboard.down(modifier);
  await page.keyboard.press(key);
  await page.keyboard.up(modifier);
}

/**
 * `h` holds run.mjs's helpers: log, fail, waitFor, editorText, goTo, waitForReady, statusBarText,
 * writeWorkspaceSettings, fakeArgv, screenshot (a path).
 */
export async function nextEditRename(page, workspace, h) {
  // DIFFUSION_LSP_E2E_NEXT_EDIT_MODEL: a real model instead of the fake (`embedded`: the default
  // model), the same keys and the same expected text.
  const real = process.env.DIFFUSION_LSP_E2E_NEXT_EDIT_MODEL;
  const model = real === undefined ? 'fake:rename=x>count' : real === 'embedded' ? '' : real;
  h.log(`switching to ${real === undefined ? 'the fake engine with fake:rename=x>count' : `the model ${JSON.stringify(real)}`} for next edit`);
  // Neither ghost text nor the word-suggestion list over the preview: the page must show the document
  // and the preview only.
  h.writeWorkspaceSettings(workspace, { model, 'nextEdit.pauseMs': 100 }, real === undefined ? h.fakeArgv : h.serverArgv, {
    'editor.inlineSuggest.enabled': false,
    'editor.quickSuggestions': { other: 'off', comments: 'off', strings: 'off' },
    'editor.suggestOnTriggerCharacters': false,
  });
  const loaded = real === undefined ? /rename=x>count/ : /^(?!.*fake)/;
  await h.waitFor('the rename engine loaded', async () => loaded.test((await h.statusBarText(page)) ?? ''));
  h.log(`status bar: ${await h.waitForReady(page, 'the rename engine ready')}`);

  async function open(name) {
    const row = await page.waitForSelector(`.explorer-folders-view .monaco-list-row[aria-label^="${name}"]`);
    await row.click();
    await h.waitFor(`${name} in the editor`, async () => (await h.editorText(page)) === RENAME_SOURCE);
  }

  /** Types the rename as a user does: select the `x` of line 1, type `count`; waits for the preview. */
  async function renameAndWait(name) {
    await open(name);
    await h.goTo(page, 1, 7);
    await page.keyboard.down('Shift');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.up('Shift');
    await page.keyboard.type('count');
    await h.waitFor('the typed rename', async () => (await h.editorText(page)) === TYPED);
    const shown = await h.waitFor('the next edit preview on line 2', async () => {
      const preview = await linePreview(page, 2);
      return preview && preview.struck !== '' && preview.after.some((text) => text.includes('count')) ? preview : null;
    }, 60_000);
    h.log(`${name}: line 2 shows ${JSON.stringify(shown)}`);
    return shown;
  }

  const shown = await renameAndWait(RENAME_FILES[0]);
  if (shown.struck !== 'x') h.fail(`line 2 strikes ${JSON.stringify(shown.struck)}, not the old name x`);
  if (shown.after[0] !== 'count') h.fail(`the new text after the struck x is ${JSON.stringify(shown.after[0])}, not count`);
  if (!shown.after.some((text) => text.includes('Alt+Enter accept'))) h.fail(`no key hint: ${JSON.stringify(shown.after)}`);
  const shot = path.join(path.dirname(h.screenshot), 'vscode-next-edit.png');
  await page.screenshot({ path: shot });
  h.log(`screenshot saved to ${shot}`);
  await chord(page, 'Alt', 'BracketRight');
  await h.waitFor('Alt+] to move the cursor to the edit', async () => /Ln 2, Col 9\b/.test((await cursorStatus(page)) ?? ''), 15_000);
  await chord(page, 'Alt', 'Enter');
  const accepted = await h.waitFor('Alt+Enter to apply the edit', async () => {
    const text = await h.editorText(page);
    return text !== TYPED ? text : null;
  }, 15_000);
  if (accepted !== RENAMED) h.fail(`after accept the document is not the renamed function:\n${accepted}`);
  h.log('accept: the document is the renamed function');

  await renameAndWait(RENAME_FILES[1]);
  await page.keyboard.press('Escape');
  await waitForNoStrike(page, 2, 'Escape to dismiss the preview');
  const dismissed = await h.editorText(page);
  if (dismissed !== TYPED) h.fail(`dismiss changed the document:\n${dismissed}`);
  h.log('dismiss: the preview is gone, the document as typed');

  await renameAndWait(RENAME_FILES[2]);
  await h.goTo(page, 3, 13);
  await page.keyboard.type('  # done');
  await waitForNoStrike(page, 2, 'the change to dismiss the preview');
  // The view can lag the last key (and an automatic ghost text may be drawn over the typed
  // letters for a frame), so wait for the typed text before judging it.
  const wanted = TYPED.replace('return y\n', 'return y  # done\n');
  const changed = await h.waitFor('the typed comment', async () => {
    const text = await h.editorText(page);
    return text === wanted ? text : null;
  }, 10_000).catch(async () => h.editorText(page));
  if (changed !== wanted) h.fail(`the change did more than type:\n${changed}`);
  h.log('a change elsewhere: the preview is gone');
}
