import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

import { canAccept, hint, isEmptyRange, KEYS, pickEdit, preview, VISIBLE_CONTEXT } from '../../src/nextEditModel';

const extensionRoot = path.resolve(__dirname, '..', '..', '..');
const URI = 'file:///w/rename.py';

/** The canned answer: `x` -> `count` on line 2 of `def f(count):\n    y = x + 1\n    return y\n`. */
function edit(version: number | undefined, uri = URI) {
  return {
    text: 'count',
    range: { start: { line: 1, character: 8 }, end: { line: 1, character: 9 } },
    textDocument: { uri, version },
  };
}

test('the first edit for this document and version is shown; others and junk are skipped', () => {
  assert.equal(pickEdit({ edits: [] }, URI, 3), undefined);
  assert.equal(pickEdit(null, URI, 3), undefined);
  assert.equal(pickEdit({ edits: [{ text: 1 }] }, URI, 3), undefined);
  assert.equal(pickEdit({ edits: [edit(2)] }, URI, 3), undefined, 'an older version');
  assert.equal(pickEdit({ edits: [edit(3, 'file:///w/other.py')] }, URI, 3), undefined, 'another document');
  const backwards = { ...edit(3), range: { start: { line: 1, character: 9 }, end: { line: 1, character: 8 } } };
  assert.equal(pickEdit({ edits: [backwards] }, URI, 3), undefined, 'an inverted range');
  assert.deepEqual(pickEdit({ edits: [edit(2), edit(3)] }, URI, 3), edit(3));
  assert.deepEqual(pickEdit({ edits: [edit(undefined)] }, URI, 3), edit(undefined), 'no version: this one');
});

test('the preview strikes the range and puts the new text after it, one line', () => {
  assert.deepEqual(preview(edit(1)), { removed: edit(1).range, after: 'count', text: 'count', extraLines: 0 });
  const multi = preview({ ...edit(1), text: 'z = x\n    y = z\n    w = 1' });
  assert.equal(multi.after, 'z = x (+2 lines)');
  assert.equal(multi.extraLines, 2);
  assert.equal(isEmptyRange(edit(1).range), false);
  assert.equal(isEmptyRange({ start: { line: 0, character: 4 }, end: { line: 0, character: 4 } }), true);
});

test('accept applies only on the version the edit was computed on', () => {
  assert.equal(canAccept(4, 4), true);
  assert.equal(canAccept(4, 5), false);
});

interface Keybinding {
  command: string;
  key: string;
  when?: string;
}

test('the four commands are contributed; the keys the hint names are the ones bound, only while shown', () => {
  const manifest = JSON.parse(readFileSync(path.join(extensionRoot, 'package.json'), 'utf8'));
  const commands: string[] = manifest.contributes.commands.map((command: { command: string }) => command.command);
  for (const name of ['show', 'jump', 'accept', 'dismiss']) {
    assert.ok(commands.includes(`diffusionLsp.nextEdit.${name}`), name);
  }
  const bindings: Keybinding[] = manifest.contributes.keybindings;
  for (const [name, label] of Object.entries(KEYS)) {
    const bound = bindings.filter((binding) => binding.command === `diffusionLsp.nextEdit.${name}`);
    assert.equal(bound.length, 1, name);
    assert.equal(bound[0].key, label.toLowerCase(), name);
    assert.ok(bound[0].when?.includes(VISIBLE_CONTEXT), `${name} only while an edit is shown: ${bound[0].when}`);
    assert.ok(hint().includes(`${label} ${name}`), hint());
  }
});
