import assert from 'node:assert/strict';
import { test } from 'node:test';

import { formatCommand, resolveServerCommand, ServerCommandError } from '../../src/serverCommand';

test('the setting wins over the Python extension', () => {
  const command = resolveServerCommand({
    commandSetting: ['/opt/venv/bin/python', '-m', 'diffusion_lsp', 'serve', '--tcp', '7000'],
    envSetting: { HF_HOME: '/data/hf' },
    pythonInterpreter: '/usr/bin/python3',
  });
  assert.deepEqual(command, {
    command: '/opt/venv/bin/python',
    args: ['-m', 'diffusion_lsp', 'serve', '--tcp', '7000'],
    env: { HF_HOME: '/data/hf' },
    source: 'setting',
  });
});

test('a single string is a program without arguments', () => {
  const command = resolveServerCommand({ commandSetting: '/usr/local/bin/diffusion-lsp', envSetting: undefined, pythonInterpreter: undefined });
  assert.equal(command.command, '/usr/local/bin/diffusion-lsp');
  assert.deepEqual(command.args, []);
});

test('without a setting the chosen interpreter runs the module', () => {
  const command = resolveServerCommand({ commandSetting: [], envSetting: {}, pythonInterpreter: '/home/me/.venv/bin/python' });
  assert.deepEqual(command, {
    command: '/home/me/.venv/bin/python',
    args: ['-m', 'diffusion_lsp', 'serve'],
    env: {},
    source: 'python-extension',
  });
});

test('without a setting or the Python extension the console script on PATH is used', () => {
  const command = resolveServerCommand({ commandSetting: undefined, envSetting: undefined, pythonInterpreter: undefined });
  assert.deepEqual(command, { command: 'diffusion-lsp', args: [], env: {}, source: 'default' });
});

test('malformed settings get a clear error', () => {
  const resolve = (commandSetting: unknown, envSetting: unknown = {}) => () =>
    resolveServerCommand({ commandSetting, envSetting, pythonInterpreter: undefined });
  assert.throws(resolve(['python', 3]), ServerCommandError);
  assert.throws(resolve({ program: 'python' }), /list of strings/);
  assert.throws(resolve(['  ', 'serve']), /empty program name/);
  assert.throws(resolve([], ['A=1']), /object of strings/);
  assert.throws(resolve([], { CUDA_VISIBLE_DEVICES: 0 }), /CUDA_VISIBLE_DEVICES must be a string/);
});

test('formatting quotes arguments with spaces', () => {
  const command = resolveServerCommand({ commandSetting: ['/My Tools/python', '-m', 'diffusion_lsp'], envSetting: {}, pythonInterpreter: undefined });
  assert.equal(formatCommand(command), `'/My Tools/python' -m diffusion_lsp`);
});
