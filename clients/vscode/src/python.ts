/**
 * The interpreter the user picked in the Python extension (ms-python.python), when it is
 * installed, and an event when that choice changes. Typed by hand: only two calls are used.
 */

import * as vscode from 'vscode';

const PYTHON_EXTENSION_ID = 'ms-python.python';

interface EnvironmentPath {
  id: string;
  path: string;
}

interface ResolvedEnvironment {
  executable: { uri?: vscode.Uri };
}

interface PythonExtensionApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): EnvironmentPath;
    resolveEnvironment(environment: EnvironmentPath | string): Promise<ResolvedEnvironment | undefined>;
    onDidChangeActiveEnvironmentPath: vscode.Event<unknown>;
  };
  settings?: {
    getExecutionDetails(resource?: vscode.Uri): { execCommand: string[] | undefined };
  };
}

async function pythonApi(): Promise<PythonExtensionApi | undefined> {
  const extension = vscode.extensions.getExtension<PythonExtensionApi>(PYTHON_EXTENSION_ID);
  if (!extension) {
    return undefined;
  }
  return extension.isActive ? extension.exports : await extension.activate();
}

/** The active interpreter's executable for `resource` (or the workspace), if the extension has one. */
export async function activeInterpreter(resource?: vscode.Uri): Promise<string | undefined> {
  const api = await pythonApi();
  if (!api) {
    return undefined;
  }
  if (api.environments) {
    const active = api.environments.getActiveEnvironmentPath(resource);
    const resolved = await api.environments.resolveEnvironment(active);
    return resolved?.executable.uri?.fsPath;
  }
  const command = api.settings?.getExecutionDetails(resource).execCommand;
  return command && command.length > 0 ? command[0] : undefined;
}

/** Calls `listener` when the user picks another interpreter; a no-op without the extension. */
export async function onInterpreterChanged(listener: () => void): Promise<vscode.Disposable> {
  const api = await pythonApi();
  return api?.environments ? api.environments.onDidChangeActiveEnvironmentPath(listener) : new vscode.Disposable(() => {});
}
