import assert from 'node:assert/strict';
import { test } from 'node:test';

import { actionOutcome, ActionProgress } from '../../src/actions';

test('progress on the workDoneToken the client sent goes to its action', () => {
  const progress = new ActionProgress();
  progress.start(1, 'own-1');
  assert.deepEqual(progress.cancelTokens(1), []);
  assert.deepEqual(progress.began('own-1', true), { kind: 'action', id: 1 });
  assert.deepEqual(progress.cancelTokens(1), ['own-1']);
});

test('a cancellable token the server created goes to the oldest running action without one', () => {
  const progress = new ActionProgress();
  progress.start(1, 'own-1');
  progress.start(2, 'own-2');
  assert.deepEqual(progress.began('server-a', true), { kind: 'action', id: 1 });
  assert.deepEqual(progress.began('server-b', true), { kind: 'action', id: 2 });
  assert.deepEqual(progress.cancelTokens(1), ['server-a']);
  assert.deepEqual(progress.cancelTokens(2), ['server-b']);
  // A third job has no action left to join: its own notification.
  assert.deepEqual(progress.began('server-c', true), { kind: 'job' });
  progress.ended('server-a');
  assert.deepEqual(progress.cancelTokens(1), []);
});

test('model loading (not cancellable) stays in the status bar, even while an action runs', () => {
  const progress = new ActionProgress();
  progress.start(1, 'own-1');
  assert.deepEqual(progress.began('load', false), { kind: 'status' });
  assert.deepEqual(progress.cancelTokens(1), []);
});

test('with no action running, a cancellable job is shown on its own', () => {
  const progress = new ActionProgress();
  progress.start(1, 'own-1');
  progress.finish(1);
  assert.deepEqual(progress.began('server-a', true), { kind: 'job' });
  assert.deepEqual(progress.cancelTokens(1), []);
});

test('"no safe fix found" is information; applied edits and cancelled actions say nothing', () => {
  assert.deepEqual(actionOutcome({ applied: false, message: 'no safe fix found: the fix would change 9 lines' }, false), {
    kind: 'info',
    message: 'no safe fix found: the fix would change 9 lines',
  });
  assert.deepEqual(actionOutcome({ applied: false, message: '' }, false), { kind: 'info', message: 'nothing to change' });
  assert.deepEqual(actionOutcome({ applied: true, message: 'filled 1 hole' }, false), { kind: 'none' });
  assert.deepEqual(actionOutcome({ applied: false, message: 'cancelled' }, true), { kind: 'none' });
  assert.deepEqual(actionOutcome(null, false), { kind: 'none' });
});

test('an edit the server returned instead of applying is applied by the client', () => {
  const edit = { changes: { 'file:///a.py': [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, newText: ':' }] } };
  assert.deepEqual(actionOutcome({ applied: false, message: 'the client applies the edit', edit }, false), {
    kind: 'apply',
    edit,
    message: 'the client applies the edit',
  });
});
