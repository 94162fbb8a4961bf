// `r2mirror daemon`: run until SIGTERM/SIGINT, reload the config on SIGHUP, talk to systemd, serve /metrics.
// The reconcile logic lives in src/daemon/; this file owns the lifecycle around it.
// Must not: hold the daemon's engine (loops, timers, state DB), or touch `process` (the context stands in).

import { loadConfig, loadCredentials, secretsOf, type Config, type Credentials } from '../config.js';
import type { Daemon } from '../daemon/daemon.js';
import type { MetricsServer } from '../daemon/metrics.js';
import type { Notifier } from '../daemon/notify.js';
import { ConfigError, describeError, scrub } from '../errors.js';
import type { Logger } from '../log.js';
import { configPath, logLevelOption, parseCommand, reportError, setup } from './common.js';
import type { Command, CommandContext } from './context.js';

export const daemonCommand: Command = {
  name: 'daemon',
  run: runDaemon,
};

/** Beyond daemon.stopTimeout: the abort of cut-off transfers and the sweep of their multipart uploads. */
const STOP_GRACE_MS = 15_000;

type Wake = { kind: 'stop' } | { kind: 'reload' } | { kind: 'fatal'; err: unknown };

/** Wake-ups from signals and fatal errors, in order. */
interface Wakes {
  push(w: Wake): void;
  next(): Promise<Wake>;
  /** Stop listening for SIGHUP. */
  close(): void;
}

/** The modules only the daemon needs, loaded on demand. */
type DaemonModules = Awaited<ReturnType<typeof loadModules>>;

/** What one configuration's daemon needs to run. */
interface Session {
  readonly ctx: CommandContext;
  readonly mods: DaemonModules;
  readonly file: string;
  readonly log: Logger;
  readonly secrets: string[];
  readonly notifier: Notifier;
  readonly inotifyLimit: number | undefined;
  readonly wakes: Wakes;
}

async function runDaemon(ctx: CommandContext): Promise<number> {
  const secrets: string[] = [];
  let notifier: Notifier | undefined;
  try {
    const { values: v, verbosity } = parseCommand('daemon', ctx.args, { config: { type: 'string', short: 'c' }, 'log-level': { type: 'string' } }, 0);
    const file = configPath(v.config, ctx.env);
    // On a terminal the daemon says what it does: a line per change mirrored (info), not only warnings.
    const s = setup(ctx, { config: file, logLevel: logLevelOption(v['log-level']), verbosity, secrets, ttyLevel: 'info' });
    const mods = await loadModules();
    notifier = mods.Notifier.fromEnv(ctx.env as NodeJS.ProcessEnv, ctx.pid, s.log, { monotonicUsec: () => ctx.monotonicUsec() });
    const session: Session = { ctx, mods, file, log: s.log, secrets, notifier, inotifyLimit: mods.readInotifyLimit(), wakes: wakeUps(ctx) };
    const watchdogMs = notifier.watchdogIntervalMs;
    const watchdog = watchdogMs ? setInterval(() => notifier!.watchdog(), watchdogMs) : undefined;
    try {
      return await serve(session, s.config, s.credentials);
    } finally {
      session.wakes.close();
      if (watchdog) clearInterval(watchdog);
    }
  } catch (err) {
    notifier?.stopping();
    return reportError(ctx, err, secrets);
  } finally {
    notifier?.close();
  }
}

/** Loaded here, not at start-up: every other command (sync above all) would pay ~20 ms for chokidar & co. */
async function loadModules() {
  const [{ Daemon }, { readInotifyLimit }, { MetricsServer }, { Notifier }] = await Promise.all([
    import('../daemon/daemon.js'), import('../local/watch.js'), import('../daemon/metrics.js'), import('../daemon/notify.js'),
  ]);
  return { Daemon, readInotifyLimit, MetricsServer, Notifier };
}

function wakeUps(ctx: CommandContext): Wakes {
  const wakes: Wake[] = [];
  let wake: (() => void) | undefined;
  const push = (w: Wake) => {
    wakes.push(w);
    wake?.();
  };
  if (ctx.signal.aborted) push({ kind: 'stop' });
  ctx.signal.addEventListener('abort', () => push({ kind: 'stop' }), { once: true });
  const offHangup = ctx.onHangup(() => push({ kind: 'reload' }));
  return {
    push,
    async next() {
      while (wakes.length === 0) await new Promise<void>((r) => (wake = r));
      return wakes.shift()!;
    },
    close: offHangup,
  };
}

/** Run daemons one configuration after the other (SIGHUP) until a stop (0) or a fatal error (thrown). */
async function serve(s: Session, config: Config, credentials: Credentials): Promise<number> {
  for (;;) {
    // A stop lets running uploads finish for stopTimeout, then aborts them and sweeps (at most 10 s): past
    // that, the process exits whatever is still pending, so systemd never has to SIGKILL a stuck daemon.
    s.ctx.stopDeadline(config.daemon.stopTimeout + STOP_GRACE_MS);
    const reloaded = await runConfig(s, config, credentials);
    if (!reloaded) {
      s.log.info({}, 'stopped');
      return 0;
    }
    ({ config, credentials } = reloaded);
    s.log.info({ folders: config.folders.map((f) => f.name) }, 'configuration reloaded');
  }
}

/** One daemon: start it, wait for a stop, a fatal error (thrown) or a valid reload (returned), stop it. */
async function runConfig(s: Session, config: Config, credentials: Credentials): Promise<{ config: Config; credentials: Credentials } | undefined> {
  const { ctx, log, notifier } = s;
  const daemon = s.mods.Daemon.open({ config, credentials, log, pid: ctx.pid, notifier, inotifyLimit: s.inotifyLimit });
  daemon.failed().catch((err: unknown) => s.wakes.push({ kind: 'fatal', err }));
  const metrics = await startDaemon(s, config, daemon);
  let reloaded: { config: Config; credentials: Credentials } | undefined;
  let fatal: unknown;
  while (!reloaded && fatal === undefined) {
    const w = await s.wakes.next();
    if (w.kind === 'stop') break;
    if (w.kind === 'fatal') fatal = w.err;
    else reloaded = tryReload(s.file, ctx, log, s.secrets);
  }
  if (reloaded) notifier.reloading();
  else notifier.stopping();
  await daemon.stop(reloaded ? 'reloading the configuration' : fatal !== undefined ? 'fatal error' : String((ctx.signal.reason as Error)?.message ?? 'stopped'));
  await metrics?.close();
  if (fatal !== undefined) throw fatal;
  return reloaded;
}

/** The metrics endpoint (when configured), then the daemon; a failed start stops both. */
async function startDaemon(s: Session, config: Config, daemon: Daemon): Promise<MetricsServer | undefined> {
  let metrics: MetricsServer | undefined;
  try {
    if (config.metrics) {
      metrics = await s.mods.MetricsServer.start({
        listen: config.metrics.listen, collect: () => daemon.metrics(), health: () => daemon.health(), log: s.log,
      });
      s.log.info({ url: metrics.url }, 'metrics endpoint listening');
    }
    await daemon.start();
    return metrics;
  } catch (err) {
    await daemon.stop('start failed');
    await metrics?.close();
    throw err;
  }
}

/** Load the config again for SIGHUP; an invalid one is logged and refused (the running one stays). */
function tryReload(file: string, ctx: CommandContext, log: Logger, secrets: string[]): { config: Config; credentials: Credentials } | undefined {
  try {
    const config = loadConfig(file, ctx.env);
    const credentials = loadCredentials(config, ctx.env);
    secrets.push(...secretsOf(credentials));
    return { config, credentials };
  } catch (err) {
    const reason = err instanceof ConfigError ? err.message : describeError(err);
    log.error({ reason: scrub(reason, secrets) }, 'SIGHUP: the new configuration is invalid; keeping the running one');
    return undefined;
  }
}
