import assert from 'node:assert/strict';
import { test } from 'node:test';

import { type NoticeAction, Notices } from '../../src/notices';

const kinds = (actions: NoticeAction[]): string[] => actions.map((action) => `${action.kind}:${action.notice.message}`);

test('a failure reported again (retries, status notifications, two layers) shows one notice', () => {
  const notices = new Notices();
  assert.deepEqual(kinds(notices.fail('The server did not start')), ['show:The server did not start']);
  assert.deepEqual(notices.fail('The server did not start'), []);
  assert.deepEqual(notices.fail('The server did not start'), []);
  assert.equal(notices.current?.message, 'The server did not start');
});

test('a different failure replaces the notice on screen; an earlier one does not come back', () => {
  const notices = new Notices();
  notices.fail('A');
  assert.deepEqual(kinds(notices.fail('B')), ['close:A', 'show:B']);
  assert.deepEqual(notices.fail('A'), []);
  assert.equal(notices.current?.message, 'B');
});

test('recovery (ready, or a restart) closes the stale notice, and the next failure shows again', () => {
  const notices = new Notices();
  const [shown] = notices.fail('no such model');
  assert.deepEqual(kinds(notices.recover()), ['close:no such model']);
  assert.equal(notices.current, undefined);
  assert.deepEqual(notices.recover(), []);
  const again = notices.fail('no such model');
  assert.deepEqual(kinds(again), ['show:no such model']);
  assert.notEqual(again[0].notice.id, shown.notice.id);
});

test('a notice the user dismissed is not shown again for the same failure', () => {
  const notices = new Notices();
  const [shown] = notices.fail('crashed');
  notices.dismissed(shown.notice.id);
  assert.equal(notices.current, undefined);
  assert.deepEqual(notices.fail('crashed'), []);
  assert.deepEqual(notices.recover(), []);
  assert.deepEqual(kinds(notices.fail('crashed')), ['show:crashed']);
});
