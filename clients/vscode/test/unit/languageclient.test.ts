import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

// `server.ts` routes the language client's error toasts into the notices by replacing its private
// `showNotificationMessage`, and takes over `window/workDoneProgress/create`. The client's code is
// read as text: it needs the `vscode` module to load.
const clientJs = readFileSync(
  path.resolve(__dirname, '..', '..', '..', 'node_modules', 'vscode-languageclient', 'lib', 'common', 'client.js'),
  'utf8',
);

test('every error toast of vscode-languageclient goes through showNotificationMessage', () => {
  assert.match(clientJs, /\n {4}showNotificationMessage\(type, message, data\) \{/);
  // The other direct toasts: the server's window/showMessage (server.ts replaces that handler),
  // window/showMessageRequest (the server asks), and a failed initialize's retry prompt. A new
  // version that adds more fails here, to be checked.
  const toasts = clientJs.match(/vscode_1\.window\.show(Error|Warning|Information)Message/g) ?? [];
  assert.equal(toasts.length, 13);
});
