// A minimal LSP client over stdio (Content-Length framing) used by the end-to-end test to ask the
// language server itself for the completion the editor should show. Test code only.
import { spawn } from 'node:child_process';

export class LspClient {
  constructor(command, args, env, { log = () => {} } = {}) {
    this.process = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    this.nextId = 1;
    this.pending = new Map();
    this.notificationWaiters = [];
    this.requestHandlers = new Map();
    this.buffer = Buffer.alloc(0);
    this.log = log;
    this.exited = new Promise((resolve) => this.process.on('exit', (code, signal) => resolve({ code, signal })));
    this.exited.then(({ code, signal }) => {
      for (const { reject } of this.pending.values()) {
        reject(new Error(`the server exited (code ${code}, signal ${signal})`));
      }
      this.pending.clear();
    });
    this.process.stderr.on('data', (chunk) => this.log(chunk.toString()));
    this.process.stdout.on('data', (chunk) => this.receive(chunk));
  }

  receive(chunk) {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const headerEnd = this.buffer.indexOf('\r\n\r\n');
      if (headerEnd < 0) return;
      const header = this.buffer.subarray(0, headerEnd).toString('ascii');
      const length = Number(/Content-Length: *(\d+)/i.exec(header)?.[1]);
      if (!Number.isFinite(length)) throw new Error(`bad LSP header: ${header}`);
      if (this.buffer.length < headerEnd + 4 + length) return;
      const body = this.buffer.subarray(headerEnd + 4, headerEnd + 4 + length).toString('utf8');
      this.buffer = this.buffer.subarray(headerEnd + 4 + length);
      this.dispatch(JSON.parse(body));
    }
  }

  dispatch(message) {
    if (message.id !== undefined && message.method === undefined) {
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.error) waiter?.reject(new Error(`${message.error.code}: ${message.error.message}`));
      else waiter?.resolve(message.result);
    } else if (message.id !== undefined) {
      const handler = this.requestHandlers.get(message.method);
      const result = handler ? handler(message.params) : null;
      this.send({ jsonrpc: '2.0', id: message.id, result });
    } else {
      this.notificationWaiters = this.notificationWaiters.filter(({ method, predicate, resolve }) => {
        if (method === message.method && predicate(message.params)) {
          resolve(message.params);
          return false;
        }
        return true;
      });
    }
  }

  send(message) {
    const body = Buffer.from(JSON.stringify(message), 'utf8');
    this.process.stdin.write(`Content-Length: ${body.length}\r\n\r\n`);
    this.process.stdin.write(body);
  }

  request(method, params) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.send({ jsonrpc: '2.0', id, method, params });
    });
  }

  notify(method, params) {
    this.send({ jsonrpc: '2.0', method, params });
  }

  onRequest(method, handler) {
    this.requestHandlers.set(method, handler);
  }

  /** Resolves with the params of the next notification `method` that satisfies `predicate`. */
  waitForNotification(method, predicate = () => true) {
    return new Promise((resolve) => this.notificationWaiters.push({ method, predicate, resolve }));
  }

  async shutdown() {
    try {
      await this.request('shutdown', null);
      this.notify('exit', null);
    } finally {
      const timer = setTimeout(() => this.process.kill('SIGKILL'), 5000);
      await this.exited;
      clearTimeout(timer);
    }
  }
}
