/**
 * Settings of the `diffusionLsp` section: which keys belong to the server (sent as initialization
 * options and configuration) and which only to this client (how to start the server, tracing).
 * Pure functions, no `vscode` import, so the unit tests run under plain Node.
 */

export const SECTION = 'diffusionLsp';

/** Keys (relative to the section) read only by the client; never sent to the server. */
export const CLIENT_ONLY_KEYS: readonly string[] = ['server.command', 'server.env', 'trace.server'];

/** Keys whose change needs a new server process rather than a configuration update. */
export const RESTART_KEYS: readonly string[] = ['server.command', 'server.env'];

export type JsonObject = { [key: string]: unknown };

/**
 * The server's setting keys, relative to the section, from `contributes.configuration.properties`
 * (full keys such as `diffusionLsp.inline.automatic.steps`), less the client-only ones.
 */
export function serverSettingKeys(properties: Record<string, unknown>): string[] {
  const prefix = `${SECTION}.`;
  return Object.keys(properties)
    .filter((key) => key.startsWith(prefix))
    .map((key) => key.slice(prefix.length))
    .filter((key) => !CLIENT_ONLY_KEYS.includes(key))
    .sort();
}

/**
 * The object the server expects under the `diffusionLsp` section: dotted keys become nested
 * objects (`inline.automatic.steps` -> `{inline: {automatic: {steps}}}`). `get` returns the
 * effective value of a relative key, `undefined` when it has none.
 */
export function buildServerSettings(keys: readonly string[], get: (key: string) => unknown): JsonObject {
  const settings: JsonObject = {};
  for (const key of keys) {
    const value = get(key);
    if (value === undefined) {
      continue;
    }
    const parts = key.split('.');
    let node = settings;
    for (const part of parts.slice(0, -1)) {
      const child = node[part];
      if (typeof child !== 'object' || child === null || Array.isArray(child)) {
        node[part] = {};
      }
      node = node[part] as JsonObject;
    }
    node[parts[parts.length - 1]] = value;
  }
  return settings;
}

/** What a configuration change means for the running server. */
export type ChangeAction = 'none' | 'restart' | 'update';

/**
 * Decides what to do after a configuration change. `affects(fullKey)` is VS Code's
 * `ConfigurationChangeEvent.affectsConfiguration`.
 */
export function changeAction(serverKeys: readonly string[], affects: (fullKey: string) => boolean): ChangeAction {
  if (RESTART_KEYS.some((key) => affects(`${SECTION}.${key}`))) {
    return 'restart';
  }
  if (serverKeys.some((key) => affects(`${SECTION}.${key}`))) {
    return 'update';
  }
  return 'none';
}
