/**
 * The server's `diffusionLsp/status` notification and how the status bar shows it. Pure: the
 * `vscode` status bar item is driven from `extension.ts`.
 */

export type ServerState = 'starting' | 'loading' | 'ready' | 'error' | 'stopped';

/** Params of the `diffusionLsp/status` notification (and the `diffusionLsp.status` command's result). */
export interface ServerStatus {
  state: ServerState;
  model?: string;
  device?: string;
  dtype?: string;
  message?: string;
  lastLatencyMs?: number | null;
}

export interface StatusView {
  text: string;
  tooltip: string;
  error: boolean;
}

/** Load progress reported through `$/progress`, if any. */
export interface LoadProgress {
  message?: string;
  percentage?: number;
}

/**
 * Round trips the client measured itself: the last inline completion request that showed
 * something, and the last Fill/Fix/Refine command (send to answer, edit applied).
 */
export interface ClientLatencies {
  inlineMs?: number;
  actionMs?: number;
}

/** `212 ms` under a second, `1.8 s` from one second on. */
export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function shortModel(model: string | undefined): string {
  if (!model) {
    return 'default model';
  }
  const parts = model.split(/[\\/]/).filter((part) => part !== '');
  return parts.length > 0 ? parts[parts.length - 1] : model;
}

/**
 * Status bar text: codicon, state, model and device, and the last inline suggestion's latency as
 * this client measured it. The tooltip has the inline latency apart from the last action's
 * (Fill/Fix/Refine) round trip, and the server's own time for its last model call (`lastLatencyMs`,
 * inline or action alike).
 */
export function renderStatus(status: ServerStatus, progress?: LoadProgress, latencies: ClientLatencies = {}): StatusView {
  const latency = latencies.inlineMs !== undefined ? ` · ${formatDuration(latencies.inlineMs)}` : '';
  const details = [
    `State: ${status.state}`,
    status.model !== undefined ? `Model: ${status.model || '(default)'}` : undefined,
    status.device ? `Device: ${status.device}` : undefined,
    status.dtype ? `Dtype: ${status.dtype}` : undefined,
    latencies.inlineMs !== undefined ? `Last inline suggestion: ${formatDuration(latencies.inlineMs)}` : undefined,
    latencies.actionMs !== undefined ? `Last action: ${formatDuration(latencies.actionMs)}` : undefined,
    typeof status.lastLatencyMs === 'number' ? `Last model call in the server: ${formatDuration(status.lastLatencyMs)}` : undefined,
    status.message ? status.message : undefined,
  ].filter((line): line is string => line !== undefined);
  const tooltip = details.join('\n');
  switch (status.state) {
    case 'starting':
      return { text: '$(loading~spin) Diffusion: starting', tooltip, error: false };
    case 'loading': {
      const percent = typeof progress?.percentage === 'number' ? ` ${Math.round(progress.percentage)}%` : '';
      const step = progress?.message ? `\n${progress.message}` : '';
      return { text: `$(loading~spin) Diffusion: loading ${shortModel(status.model)}${percent}`, tooltip: tooltip + step, error: false };
    }
    case 'ready':
      return {
        text: `$(sparkle) Diffusion: ${shortModel(status.model)} (${status.device || 'unknown device'})${latency}`,
        tooltip,
        error: false,
      };
    case 'error':
      return { text: '$(error) Diffusion: error', tooltip, error: true };
    case 'stopped':
      return { text: '$(circle-slash) Diffusion: stopped', tooltip, error: false };
  }
}

const STATES: readonly string[] = ['loading', 'ready', 'error'];

/** Validates a status payload from the server; `undefined` for anything malformed. */
export function parseStatus(value: unknown): ServerStatus | undefined {
  if (typeof value !== 'object' || value === null) {
    return undefined;
  }
  const raw = value as Record<string, unknown>;
  if (typeof raw.state !== 'string' || !STATES.includes(raw.state)) {
    return undefined;
  }
  const text = (key: string): string | undefined => (typeof raw[key] === 'string' ? (raw[key] as string) : undefined);
  return {
    state: raw.state as ServerState,
    model: text('model'),
    device: text('device'),
    dtype: text('dtype'),
    message: text('message'),
    lastLatencyMs: typeof raw.lastLatencyMs === 'number' ? raw.lastLatencyMs : null,
  };
}
