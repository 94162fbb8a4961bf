// Optional Prometheus endpoint on node:http: GET /metrics (text format 0.0.4) and GET /healthz.
// Knows nothing about the engine: the caller passes collect() and health() callbacks.
// Must not: touch `process`, or import the daemon or the engine.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import type { Logger } from '../log.js';

/** One metric family: a name, its help text, its type and its samples (one per label set). */
export interface MetricFamily {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  samples: { labels?: Record<string, string>; value: number }[];
}

/** Options for {@link MetricsServer.start}. */
export interface MetricsOptions {
  /** "127.0.0.1:9464", "[::1]:9464", "localhost:9464" or ":9464" (every interface); port 0 picks a free one. */
  listen: string;
  /** Called on every GET /metrics; it should be cheap (read counters, no I/O). */
  collect: () => MetricFamily[];
  /** Called on every GET /healthz: 200 "ok" or 503 with the reason. */
  health: () => { ok: boolean; reason: string };
  log: Logger;
}

/** The Content-Type of the Prometheus text exposition format 0.0.4. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const METRIC_NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Host and port from a listen address; host '' means every interface. Errors name the address. */
export function parseListen(s: string): { host: string; port: number } {
  const fail = (problem: string): never => {
    throw new Error(`metrics.listen ${typeof s === 'string' && /^\S+$/.test(s) ? s : JSON.stringify(s)}: ${problem}`);
  };
  if (typeof s !== 'string' || s.trim() === '') fail('expected HOST:PORT, [IPv6]:PORT or :PORT (e.g. 127.0.0.1:9464)');
  const m = /^(?:\[([^\]]*)\]|([^[\]:]*)):([^:]*)$/.exec(s);
  if (!m) {
    if (isIP(s) === 6 || /^[^[].*:.*:/.test(s)) fail('an IPv6 address needs brackets: [::1]:9464');
    fail(`expected HOST:PORT, [IPv6]:PORT or :PORT (e.g. 127.0.0.1:9464)${/^\d+$/.test(s) ? `; for every interface write :${s}` : ''}`);
  }
  const [, v6, name, portText] = m as unknown as [string, string | undefined, string | undefined, string];
  let host: string;
  if (v6 !== undefined) {
    if (isIP(v6) !== 6) fail(`${JSON.stringify(v6)} in brackets is not an IPv6 address`);
    host = v6;
  } else {
    host = name!;
    const ipv4ish = /^[\d.]+$/.test(host);
    if (ipv4ish ? isIP(host) !== 4 : host !== '' && !/^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(host)) {
      fail(`${JSON.stringify(host)} is not an IPv4 address or a host name`);
    }
  }
  if (!/^\d{1,5}$/.test(portText)) fail(`port ${JSON.stringify(portText)} is not a number from 1 to 65535`);
  const port = Number(portText);
  if (port > 65535) fail(`port ${port} is out of range (1-65535)`);
  return { host, port };
}

/** Label values escape backslash, double quote and newline. */
function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text escapes backslash and newline. */
function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** The Prometheus text format 0.0.4 for these families; throws on an invalid or repeated name. */
export function renderPrometheus(families: MetricFamily[]): string {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const f of families) {
    if (!METRIC_NAME_RE.test(f.name)) throw new Error(`invalid metric name ${JSON.stringify(f.name)}: must match [a-zA-Z_:][a-zA-Z0-9_:]*`);
    if (seen.has(f.name)) throw new Error(`metric ${f.name} is listed twice`);
    seen.add(f.name);
    if (f.type !== 'counter' && f.type !== 'gauge') throw new Error(`metric ${f.name}: invalid type ${JSON.stringify(f.type)}`);
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels ?? {});
      for (const [k] of labels) {
        if (!LABEL_NAME_RE.test(k)) throw new Error(`metric ${f.name}: invalid label name ${JSON.stringify(k)}: must match [a-zA-Z_][a-zA-Z0-9_]*`);
      }
      const set = labels.length ? `{${labels.map(([k, v]) => `${k}="${escapeLabelValue(String(v))}"`).join(',')}}` : '';
      out.push(`${f.name}${set} ${formatValue(s.value)}`);
    }
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'address not available on this machine',
  ENOTFOUND: 'cannot resolve the host name',
  EAI_AGAIN: 'cannot resolve the host name (temporary failure)',
  EAFNOSUPPORT: 'address family not supported (IPv6 disabled?)',
};

/** The HTTP server behind /metrics and /healthz. Bind it to loopback unless a firewall guards the port. */
export class MetricsServer {
  /** Base URL of the running server, e.g. `http://127.0.0.1:9464/` (loopback when bound to every interface). */
  readonly url: string;
  readonly #server: Server;
  #closing: Promise<void> | undefined;

  private constructor(server: Server, url: string) {
    this.#server = server;
    this.url = url;
  }

  /** Listen on opts.listen; rejects with `metrics.listen ADDRESS: problem` when the address is invalid or busy. */
  static async start(opts: MetricsOptions): Promise<MetricsServer> {
    const { host, port } = parseListen(opts.listen);
    const log = opts.log.child({ module: 'metrics' });
    const server = createServer((req, res) => handle(req, res, opts, log));
    server.keepAliveTimeout = 5_000;
    server.requestTimeout = 10_000;
    server.headersTimeout = 10_000;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        const problem = (err.code && LISTEN_ERRORS[err.code]) ?? err.message;
        reject(new Error(`metrics.listen ${opts.listen}: ${problem}`, { cause: err }));
      };
      server.once('error', onError);
      const ready = (): void => {
        server.off('error', onError);
        server.on('error', (err) => log.warn({ err }, 'metrics server error'));
        resolve();
      };
      if (host === '') server.listen(port, ready);
      else server.listen(port, host, ready);
    });
    const addr = server.address() as AddressInfo;
    const shown = addr.address === '::' ? '[::1]' : addr.address === '0.0.0.0' ? '127.0.0.1' : addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    return new MetricsServer(server, `http://${shown}:${addr.port}/`);
  }

  /** Stop listening and drop open connections. Idempotent: every call returns the same promise. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    return this.#closing;
  }
}

function handle(req: IncomingMessage, res: ServerResponse, opts: MetricsOptions, log: Logger): void {
  const send = (code: number, body: string, type = 'text/plain; charset=utf-8', headers: Record<string, string> = {}): void => {
    res.writeHead(code, { 'Content-Type': type, 'Content-Length': String(Buffer.byteLength(body)), 'Cache-Control': 'no-store', ...headers });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n', undefined, { Allow: 'GET, HEAD' });
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/metrics') {
    let text: string;
    try {
      text = renderPrometheus(opts.collect());
    } catch (err) {
      log.warn({ err }, 'cannot collect metrics');
      return send(500, `cannot collect metrics: ${(err as Error).message}\n`);
    }
    return send(200, text, PROMETHEUS_CONTENT_TYPE);
  }
  if (path === '/healthz') {
    let h: { ok: boolean; reason: string };
    try {
      h = opts.health();
    } catch (err) {
      h = { ok: false, reason: `health check failed: ${(err as Error).message}` };
    }
    return h.ok ? send(200, 'ok\n') : send(503, `${h.reason.replace(/\n+$/, '')}\n`);
  }
  return send(404, 'not found: try /metrics or /healthz\n');
}
