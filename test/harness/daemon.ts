// A running `r2mirror daemon` for integration tests: its JSON log lines, parsed as they arrive, and ways to wait
// for them; and the wait for a file to be mirrored (bucket and state DB agree). Test-only.
// Must not: mock anything, or let a wait hide a daemon that exited (the wait fails with its last log lines).

import { expectedEtag, keyOf, waitFor } from './verify.js';
import type { Fixture, RunResult, RunningCli } from './mirror.js';

/** A running daemon with its log lines as they arrive. */
export interface RunningDaemon {
  readonly cli: RunningCli;
  readonly logs: any[];
  /** True once the process has exited. */
  readonly exited: boolean;
  /** Resolves with the first log line matching `pred` (from the start of the run). */
  log(pred: (l: any) => boolean, what: string, timeoutMs?: number): Promise<any>;
  /** Resolves with the `n`-th log line matching `pred`. */
  nth(pred: (l: any) => boolean, n: number, what: string, timeoutMs?: number): Promise<any>;
  count(pred: (l: any) => boolean): number;
  /** Send `signal` (SIGTERM) and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<RunResult>;
}

/** Start `r2mirror daemon --log-level debug` with the fixture's config. */
export function startDaemon(f: Fixture, env: Record<string, string | undefined> = {}): RunningDaemon {
  const cli = f.startCmd('daemon', ['--log-level', 'debug'], { timeoutMs: 170_000, env });
  const logs: any[] = [];
  let buf = '';
  cli.child.stderr!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        logs.push(JSON.parse(line));
      } catch {
        logs.push({ msg: line });
      }
    }
  });
  let exited = false;
  void cli.result.then(() => (exited = true));
  const tail = () => logs.map((x) => JSON.stringify(x)).join('\n').slice(-3000);
  const count = (pred: (l: any) => boolean) => logs.filter(pred).length;
  const nth = (pred: (l: any) => boolean, n: number, what: string, timeoutMs = 30_000) => waitFor(() => {
    const found = logs.filter(pred);
    if (found.length >= n) return found[n - 1];
    if (exited) throw new Error(`the daemon exited before ${what}:\n${tail()}`);
    return undefined;
  }, what, timeoutMs, 20);
  return {
    cli, logs, count, nth,
    get exited() {
      return exited;
    },
    log: (pred, what, timeoutMs) => nth(pred, 1, what, timeoutMs),
    async stop(signal = 'SIGTERM') {
      cli.child.kill(signal);
      return cli.result;
    },
  };
}

/** Wait until the bucket holds `rel`'s key with the ETag of `content` and its row agrees. */
export async function mirrored(f: Fixture, rel: string, content: Buffer, timeoutMs = 20_000): Promise<void> {
  const key = keyOf(f, rel);
  await waitFor(async () => {
    const o = (await f.objects()).get(key);
    return o && o.etag === expectedEtag(content) && f.rows().some((r) => r.key === key && r.etag === o.etag);
  }, `${rel} mirrored with its current content`, timeoutMs, 50);
}
