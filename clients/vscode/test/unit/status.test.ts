import assert from 'node:assert/strict';
import { test } from 'node:test';

import { parseStatus, renderStatus } from '../../src/status';

test('ready shows the model, the device and the last latency', () => {
  const view = renderStatus({ state: 'ready', model: '/models/tiny-masked', device: 'cpu', dtype: 'float32', lastLatencyMs: 123.4 });
  assert.equal(view.text, '$(sparkle) Diffusion: tiny-masked (cpu) · 123 ms');
  assert.match(view.tooltip, /Last completion: 123 ms/);
  assert.equal(view.error, false);
});

test('loading shows progress, error is flagged', () => {
  assert.equal(renderStatus({ state: 'loading', model: 'org/model' }, { percentage: 42.2 }).text, '$(loading~spin) Diffusion: loading model 42%');
  const error = renderStatus({ state: 'error', message: 'no such model' });
  assert.equal(error.error, true);
  assert.match(error.tooltip, /no such model/);
});

test('status payloads are validated', () => {
  assert.deepEqual(parseStatus({ state: 'ready', model: 'm', device: 'cuda:0', dtype: 'bfloat16', message: '', lastLatencyMs: 80 }), {
    state: 'ready', model: 'm', device: 'cuda:0', dtype: 'bfloat16', message: '', lastLatencyMs: 80,
  });
  assert.equal(parseStatus({ state: 'sleeping' }), undefined);
  assert.equal(parseStatus(null), undefined);
  assert.equal(parseStatus({ state: 'ready', lastLatencyMs: 'fast' })?.lastLatencyMs, null);
});
