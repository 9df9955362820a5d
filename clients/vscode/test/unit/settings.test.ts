import assert from 'node:assert/strict';
import { test } from 'node:test';

import { buildServerSettings, changeAction, serverSettingKeys } from '../../src/settings';

const properties = {
  'diffusionLsp.model': {},
  'diffusionLsp.inline.automatic.steps': {},
  'diffusionLsp.inline.automatic.maxTokens': {},
  'diffusionLsp.inline.invoked.steps': {},
  'diffusionLsp.diagnostics.enabled': {},
  'diffusionLsp.trace.server': {},
  'diffusionLsp.server.command': {},
  'diffusionLsp.server.env': {},
  'editor.fontSize': {},
};

test('server keys drop client-only settings and other sections', () => {
  assert.deepEqual(serverSettingKeys(properties), [
    'diagnostics.enabled',
    'inline.automatic.maxTokens',
    'inline.automatic.steps',
    'inline.invoked.steps',
    'model',
  ]);
});

test('dotted keys become the nested object the server reads', () => {
  const values: Record<string, unknown> = {
    model: '/models/tiny',
    'inline.automatic.steps': 4,
    'inline.automatic.maxTokens': 16,
    'inline.invoked.steps': 12,
    'diagnostics.enabled': false,
  };
  const settings = buildServerSettings(serverSettingKeys(properties), (key) => values[key]);
  assert.deepEqual(settings, {
    model: '/models/tiny',
    inline: { automatic: { steps: 4, maxTokens: 16 }, invoked: { steps: 12 } },
    diagnostics: { enabled: false },
  });
});

test('keys without a value are left out, falsy values are kept', () => {
  const settings = buildServerSettings(['model', 'steps', 'inline.invoked.steps'], (key) =>
    key === 'steps' ? 0 : undefined,
  );
  assert.deepEqual(settings, { steps: 0 });
});

test('a server command change restarts, a model setting change updates, others do nothing', () => {
  const keys = serverSettingKeys(properties);
  assert.equal(changeAction(keys, (key) => key === 'diffusionLsp.server.command'), 'restart');
  assert.equal(changeAction(keys, (key) => key === 'diffusionLsp.server.env'), 'restart');
  assert.equal(changeAction(keys, (key) => key === 'diffusionLsp.inline.automatic.steps'), 'update');
  assert.equal(changeAction(keys, (key) => key === 'diffusionLsp.trace.server'), 'none');
  assert.equal(changeAction(keys, (key) => key === 'editor.fontSize'), 'none');
});
