import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

import { configurationFromSchema, readServerSchema, schemaToProperties } from '../../scripts/generateConfiguration';

const extensionRoot = path.resolve(__dirname, '..', '..', '..');

const schema = {
  type: 'object',
  properties: {
    model: { type: 'string', default: '', description: 'Model id or directory.' },
    dtype: { type: 'string', default: 'auto', enum: ['auto', 'float32'], description: 'Weights dtype.' },
    steps: { type: 'integer', default: 0, minimum: 0, maximum: 1024, description: 'Steps.' },
    revision: { anyOf: [{ type: 'string' }, { type: 'null' }], default: null },
    inline: {
      type: 'object',
      properties: {
        automatic: { $ref: '#/$defs/Budget' },
        maxLines: { type: 'integer', default: 12 },
      },
    },
    trace: {
      type: 'object',
      properties: { server: { type: 'string', enum: ['off', 'messages', 'verbose'], default: 'off', description: 'Schema text.' } },
    },
  },
  $defs: {
    Budget: { type: 'object', properties: { steps: { type: 'integer', default: 8 } } },
  },
};

test('nested objects and $refs flatten into dotted keys', () => {
  const properties = schemaToProperties(schema);
  assert.deepEqual(Object.keys(properties), [
    'diffusionLsp.model',
    'diffusionLsp.dtype',
    'diffusionLsp.steps',
    'diffusionLsp.revision',
    'diffusionLsp.inline.automatic.steps',
    'diffusionLsp.inline.maxLines',
    'diffusionLsp.trace.server',
  ]);
  assert.deepEqual(properties['diffusionLsp.steps'], { type: 'integer', default: 0, minimum: 0, maximum: 1024, description: 'Steps.' });
  assert.deepEqual(properties['diffusionLsp.revision'], { type: ['string', 'null'], default: null });
  assert.deepEqual(properties['diffusionLsp.inline.automatic.steps'], { type: 'integer', default: 8 });
});

test('client-only settings are added; the schema keeps its own text for the ones it has', () => {
  const configuration = configurationFromSchema(schema);
  const properties = configuration.properties as Record<string, Record<string, unknown>>;
  assert.equal(properties['diffusionLsp.server.command'].type, 'array');
  assert.equal(properties['diffusionLsp.server.env'].type, 'object');
  assert.equal(properties['diffusionLsp.trace.server'].description, 'Schema text.');
  assert.equal(properties['diffusionLsp.trace.server'].scope, 'window');
  assert.deepEqual(
    Object.values(properties).map((property) => property.order),
    Object.keys(properties).map((_key, index) => index),
  );
});

test('an empty schema is an error, not an empty configuration', () => {
  assert.throws(() => configurationFromSchema({ type: 'object', properties: {} }), /no properties/);
});

test('package.json contributes.configuration is what the server schema generates (no drift)', () => {
  // Runs `diffusion-lsp schema --format json` ($DIFFUSION_LSP or the repository's .venv).
  const generated = configurationFromSchema(readServerSchema(path.resolve(extensionRoot, '..', '..')));
  const manifest = JSON.parse(readFileSync(path.join(extensionRoot, 'package.json'), 'utf8'));
  assert.deepEqual(
    manifest.contributes.configuration,
    generated,
    'package.json is out of date: run `npm run config:generate` in clients/vscode',
  );
});
