/**
 * Resolves the command line that starts the language server: the `diffusionLsp.server.command`
 * setting when the user gave one, else the interpreter chosen in the Python extension, else
 * `diffusion-lsp` on PATH. Pure functions, no `vscode` import.
 */

export interface ServerCommand {
  command: string;
  args: string[];
  /** Environment added to the inherited one. */
  env: Record<string, string>;
  /** Where the command came from, shown in the output channel and the status. */
  source: 'setting' | 'python-extension' | 'default';
}

export interface ServerCommandInputs {
  /** `diffusionLsp.server.command`: argv of the server, empty for automatic. */
  commandSetting: unknown;
  /** `diffusionLsp.server.env`: extra environment variables. */
  envSetting: unknown;
  /** The Python extension's active interpreter for the workspace, if it has one. */
  pythonInterpreter: string | undefined;
}

/** The server's arguments after a Python interpreter: `python -m diffusion_lsp serve`. */
export const PYTHON_MODULE_ARGS: readonly string[] = ['-m', 'diffusion_lsp', 'serve'];

/** The console script installed with the Python package. */
export const DEFAULT_EXECUTABLE = 'diffusion-lsp';

export class ServerCommandError extends Error {}

function parseCommandSetting(value: unknown): string[] {
  if (value === undefined || value === null || value === '') {
    return [];
  }
  if (typeof value === 'string') {
    return [value];
  }
  if (!Array.isArray(value) || value.some((part) => typeof part !== 'string')) {
    throw new ServerCommandError(
      'diffusionLsp.server.command must be a list of strings, for example ["/path/to/python", "-m", "diffusion_lsp", "serve"]',
    );
  }
  return value as string[];
}

function parseEnvSetting(value: unknown): Record<string, string> {
  if (value === undefined || value === null) {
    return {};
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ServerCommandError('diffusionLsp.server.env must be an object of strings');
  }
  const env: Record<string, string> = {};
  for (const [name, entry] of Object.entries(value as Record<string, unknown>)) {
    if (typeof entry !== 'string') {
      throw new ServerCommandError(`diffusionLsp.server.env.${name} must be a string`);
    }
    env[name] = entry;
  }
  return env;
}

export function resolveServerCommand(inputs: ServerCommandInputs): ServerCommand {
  const argv = parseCommandSetting(inputs.commandSetting);
  const env = parseEnvSetting(inputs.envSetting);
  if (argv.length > 0) {
    if (argv[0].trim() === '') {
      throw new ServerCommandError('diffusionLsp.server.command starts with an empty program name');
    }
    return { command: argv[0], args: argv.slice(1), env, source: 'setting' };
  }
  if (inputs.pythonInterpreter) {
    return { command: inputs.pythonInterpreter, args: [...PYTHON_MODULE_ARGS], env, source: 'python-extension' };
  }
  return { command: DEFAULT_EXECUTABLE, args: [], env, source: 'default' };
}

/** A shell-like rendering for logs and messages. */
export function formatCommand(command: ServerCommand): string {
  const quote = (part: string): string => (/^[\w@%+=:,./-]+$/.test(part) ? part : `'${part.replace(/'/g, `'\\''`)}'`);
  return [command.command, ...command.args].map(quote).join(' ');
}
