/**
 * Generates `contributes.configuration` in package.json from the server's settings schema
 * (`diffusion-lsp schema --format json`) plus the client-only settings, so the two never drift.
 *
 *   node out/scripts/generateConfiguration.js --write   rewrite package.json
 *   node out/scripts/generateConfiguration.js --check   exit 1 when package.json differs
 *
 * The server command comes from $DIFFUSION_LSP (default: the repository's .venv/bin/diffusion-lsp,
 * else `diffusion-lsp` on PATH); `--schema FILE` reads a saved schema instead.
 */

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

type Schema = { [key: string]: unknown };

export const SECTION = 'diffusionLsp';

/** The keywords VS Code's configuration properties understand, copied as they are. */
const COPIED_KEYWORDS = [
  'type', 'default', 'enum', 'enumDescriptions', 'minimum', 'maximum', 'pattern', 'items',
  'additionalProperties', 'minItems', 'maxItems', 'minLength', 'maxLength', 'deprecationMessage',
] as const;

/** Settings read only by the client; the schema's own entry wins where it has one. */
export const CLIENT_SETTINGS: Record<string, Schema> = {
  [`${SECTION}.server.command`]: {
    type: 'array',
    items: { type: 'string' },
    default: [],
    scope: 'machine-overridable',
    markdownDescription:
      'Command line (program and arguments) that starts the language server, for example `["/path/to/python", "-m", "diffusion_lsp", "serve"]`. Empty: the interpreter chosen in the Python extension runs `-m diffusion_lsp serve`; without the Python extension, `diffusion-lsp` on PATH. Changing it restarts the server.',
  },
  [`${SECTION}.server.env`]: {
    type: 'object',
    additionalProperties: { type: 'string' },
    default: {},
    scope: 'machine-overridable',
    markdownDescription:
      'Environment variables added to the server process, for example `{"CUDA_VISIBLE_DEVICES": "0", "HF_HOME": "/data/hf"}`. Changing it restarts the server.',
  },
  [`${SECTION}.trace.server`]: {
    type: 'string',
    enum: ['off', 'messages', 'verbose'],
    default: 'off',
    scope: 'window',
    description: 'Log the messages between the editor and the server in the "Diffusion LSP" output channel.',
  },
};

function resolveRef(root: Schema, node: Schema): Schema {
  let current = node;
  for (let depth = 0; typeof current.$ref === 'string'; depth++) {
    if (depth > 32) {
      throw new Error(`$ref cycle at ${String(current.$ref)}`);
    }
    const ref = current.$ref as string;
    if (!ref.startsWith('#/')) {
      throw new Error(`unsupported $ref ${ref}`);
    }
    let target: unknown = root;
    for (const part of ref.slice(2).split('/')) {
      target = (target as Schema | undefined)?.[part];
    }
    if (typeof target !== 'object' || target === null) {
      throw new Error(`unresolved $ref ${ref}`);
    }
    const { $ref: _ignored, ...rest } = current;
    current = { ...(target as Schema), ...rest };
  }
  return current;
}

function isNestedObject(node: Schema): boolean {
  return node.type === 'object' && typeof node.properties === 'object' && node.properties !== null;
}

function toProperty(node: Schema): Schema {
  const property: Schema = {};
  for (const keyword of COPIED_KEYWORDS) {
    if (node[keyword] !== undefined) {
      property[keyword] = node[keyword];
    }
  }
  if (property.type === undefined && Array.isArray(node.anyOf)) {
    // Optional values (`X | None`) come as anyOf; VS Code takes a list of types.
    property.type = (node.anyOf as Schema[]).map((option) => option.type).filter((type) => typeof type === 'string');
  }
  if (typeof node.description === 'string') {
    property.description = node.description;
  }
  if (typeof node.markdownDescription === 'string') {
    property.markdownDescription = node.markdownDescription;
  }
  return property;
}

/** Flattens the server's nested JSON Schema into VS Code's dotted configuration properties. */
export function schemaToProperties(schema: Schema): Record<string, Schema> {
  const properties: Record<string, Schema> = {};
  const walk = (node: Schema, prefix: string): void => {
    const children = (node.properties ?? {}) as Record<string, Schema>;
    for (const [name, child] of Object.entries(children)) {
      const resolved = resolveRef(schema, child);
      const key = `${prefix}.${name}`;
      if (isNestedObject(resolved)) {
        walk(resolved, key);
      } else {
        properties[key] = toProperty(resolved);
      }
    }
  };
  walk(resolveRef(schema, schema), SECTION);
  return properties;
}

/** The whole `contributes.configuration` object: schema settings, then client-only ones. */
export function configurationFromSchema(schema: Schema): Schema {
  const properties = schemaToProperties(schema);
  if (Object.keys(properties).length === 0) {
    throw new Error('the settings schema has no properties');
  }
  for (const [key, property] of Object.entries(CLIENT_SETTINGS)) {
    properties[key] = properties[key] ? { ...property, ...properties[key], scope: property.scope } : property;
  }
  let order = 0;
  for (const property of Object.values(properties)) {
    property.order = order++;
  }
  return { title: 'Diffusion LSP', properties };
}

/** Runs `diffusion-lsp schema --format json` and parses its output. */
export function readServerSchema(repoRoot: string): Schema {
  const venvCommand = path.join(repoRoot, '.venv', 'bin', 'diffusion-lsp');
  const command = process.env.DIFFUSION_LSP || (existsSync(venvCommand) ? venvCommand : 'diffusion-lsp');
  const output = execFileSync(command, ['schema', '--format', 'json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return JSON.parse(output) as Schema;
}

function main(argv: string[]): number {
  const extensionRoot = path.resolve(__dirname, '..', '..');
  const repoRoot = path.resolve(extensionRoot, '..', '..');
  const packagePath = path.join(extensionRoot, 'package.json');
  const schemaIndex = argv.indexOf('--schema');
  const schema =
    schemaIndex >= 0 ? (JSON.parse(readFileSync(argv[schemaIndex + 1], 'utf8')) as Schema) : readServerSchema(repoRoot);
  const generated = configurationFromSchema(schema);
  const manifest = JSON.parse(readFileSync(packagePath, 'utf8')) as { contributes: Schema };
  const current = JSON.stringify(manifest.contributes.configuration, null, 2);
  const wanted = JSON.stringify(generated, null, 2);
  if (argv.includes('--check')) {
    if (current !== wanted) {
      console.error(
        'package.json contributes.configuration differs from the server schema; run `npm run config:generate` in clients/vscode',
      );
      return 1;
    }
    console.log('contributes.configuration matches the server schema');
    return 0;
  }
  manifest.contributes.configuration = generated;
  writeFileSync(packagePath, `${JSON.stringify(manifest, null, 2)}\n`);
  console.log(`wrote ${Object.keys(generated.properties as Schema).length} settings to package.json`);
  return 0;
}

if (require.main === module) {
  process.exit(main(process.argv.slice(2)));
}
