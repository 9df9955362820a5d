import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

const extensionRoot = path.resolve(__dirname, '..', '..', '..');

interface Keybinding {
  command: string;
  key: string;
  mac?: string;
  when?: string;
}

test('Alt+\\ triggers an inline suggestion (VS Code 1.100 binds no key to it)', () => {
  const manifest = JSON.parse(readFileSync(path.join(extensionRoot, 'package.json'), 'utf8'));
  const keybindings: Keybinding[] = manifest.contributes.keybindings ?? [];
  const trigger = keybindings.filter((binding) => binding.command === 'editor.action.inlineSuggest.trigger');
  assert.deepEqual(trigger, [
    { command: 'editor.action.inlineSuggest.trigger', key: 'alt+\\', when: 'editorTextFocus && !editorReadonly' },
  ]);
});
