import assert from 'node:assert/strict';
import { test } from 'node:test';

import { formatDuration, parseStatus, renderStatus } from '../../src/status';

test('ready shows the model, the device and the inline latency the client measured', () => {
  const view = renderStatus(
    { state: 'ready', model: '/models/tiny-masked', device: 'cpu', dtype: 'float32', lastLatencyMs: 1500 },
    undefined,
    { inlineMs: 212.4 },
  );
  assert.equal(view.text, '$(sparkle) Diffusion: tiny-masked (cpu) · 212 ms');
  assert.match(view.tooltip, /^Last inline suggestion: 212 ms$/m);
  assert.equal(view.error, false);
});

test('inline and action latencies are separate tooltip lines, beside the server\'s own time', () => {
  const view = renderStatus({ state: 'ready', model: 'm', device: 'cuda:0', lastLatencyMs: 180 }, undefined, { inlineMs: 212, actionMs: 1834 });
  const lines = view.tooltip.split('\n');
  assert.ok(lines.includes('Last inline suggestion: 212 ms'), view.tooltip);
  assert.ok(lines.includes('Last action: 1.8 s'), view.tooltip);
  assert.ok(lines.includes('Last model call in the server: 180 ms'), view.tooltip);
  // An action alone does not pass for an inline latency in the status bar text.
  const actionOnly = renderStatus({ state: 'ready', model: 'm', device: 'cpu', lastLatencyMs: 1834 }, undefined, { actionMs: 1834 });
  assert.equal(actionOnly.text, '$(sparkle) Diffusion: m (cpu)');
  assert.doesNotMatch(actionOnly.tooltip, /inline/);
  assert.match(actionOnly.tooltip, /^Last action: 1\.8 s$/m);
});

test('durations read in ms under a second, in seconds above', () => {
  assert.equal(formatDuration(0), '0 ms');
  assert.equal(formatDuration(999.4), '999 ms');
  assert.equal(formatDuration(1000), '1.0 s');
  assert.equal(formatDuration(12_345), '12.3 s');
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
