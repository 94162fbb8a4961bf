// `r2mirror daemon`: run until SIGTERM/SIGINT, reload the config on SIGHUP, talk to systemd, serve /metrics.
// The reconcile logic lives in src/daemon/; this file owns the lifecycle around it.

import { loadConfig, loadCredentials, type Config, type Credentials } from '../config.js';
import { ConfigError, describeError, scrub } from '../errors.js';
import type { Logger } from '../log.js';
import type { MetricsServer } from '../daemon/metrics.js';
import type { Notifier } from '../daemon/notify.js';
import { configPath, logLevelOption, parseCommand, reportError, setup } from './common.js';
import type { Command, CommandContext } from './context.js';

export const daemonCommand: Command = {
  name: 'daemon',
  help: `  r2mirror daemon [options]    watch the folders and mirror every change until stopped (systemd: Type=notify)
    -c, --config FILE        config file (as for sync); SIGHUP reloads it (an invalid new one is refused, logged)
        --log-level LEVEL    as for sync
                             SIGTERM/SIGINT: finish running uploads (daemon.stopTimeout), then exit 0
`,
  run: runDaemon,
};

/** Beyond daemon.stopTimeout: the abort of cut-off transfers and the sweep of their multipart uploads. */
const STOP_GRACE_MS = 15_000;

type Wake = { kind: 'stop' } | { kind: 'reload' } | { kind: 'fatal'; err: unknown };

async function runDaemon(ctx: CommandContext): Promise<number> {
  const secrets: string[] = [];
  let notifier: Notifier | undefined;
  try {
    const { values: v } = parseCommand('daemon', ctx.args, { config: { type: 'string', short: 'c' }, 'log-level': { type: 'string' } }, 0);
    const file = configPath(v.config, ctx.env);
    const s = setup(ctx, { config: file, logLevel: logLevelOption(v['log-level']), secrets });
    // Loaded here, not at start-up: every other command (sync above all) would pay ~20 ms for chokidar & co.
    const [{ Daemon }, { readInotifyLimit }, { MetricsServer }, { Notifier }] = await Promise.all([
      import('../daemon/daemon.js'), import('../local/watch.js'), import('../daemon/metrics.js'), import('../daemon/notify.js'),
    ]);
    const log = s.log;
    let config = s.config;
    let credentials = s.credentials;
    notifier = Notifier.fromEnv(ctx.env as NodeJS.ProcessEnv, ctx.pid, log, { monotonicUsec: () => ctx.monotonicUsec() });
    const inotifyLimit = readInotifyLimit();

    // Wake-ups from signals and fatal errors, in order.
    const wakes: Wake[] = [];
    let wake: (() => void) | undefined;
    const push = (w: Wake) => {
      wakes.push(w);
      wake?.();
    };
    const next = async (): Promise<Wake> => {
      while (wakes.length === 0) await new Promise<void>((r) => (wake = r));
      return wakes.shift()!;
    };
    if (ctx.signal.aborted) push({ kind: 'stop' });
    ctx.signal.addEventListener('abort', () => push({ kind: 'stop' }), { once: true });
    const offHangup = ctx.onHangup(() => push({ kind: 'reload' }));

    const watchdogMs = notifier.watchdogIntervalMs;
    const watchdog = watchdogMs ? setInterval(() => notifier!.watchdog(), watchdogMs) : undefined;
    try {
      for (;;) {
        // A stop lets running uploads finish for stopTimeout, then aborts them and sweeps (at most 10 s): past
        // that, the process exits whatever is still pending, so systemd never has to SIGKILL a stuck daemon.
        ctx.stopDeadline(config.daemon.stopTimeout + STOP_GRACE_MS);
        const daemon = Daemon.open({ config, credentials, log, pid: ctx.pid, notifier, inotifyLimit });
        daemon.failed().catch((err: unknown) => push({ kind: 'fatal', err }));
        let metrics: MetricsServer | undefined;
        try {
          if (config.metrics) {
            metrics = await MetricsServer.start({
              listen: config.metrics.listen, collect: () => daemon.metrics(), health: () => daemon.health(), log,
            });
            log.info({ url: metrics.url }, 'metrics endpoint listening');
          }
          await daemon.start();
        } catch (err) {
          await daemon.stop('start failed');
          await metrics?.close();
          throw err;
        }
        let reloaded: { config: Config; credentials: Credentials } | undefined;
        let fatal: unknown;
        while (!reloaded && fatal === undefined) {
          const w = await next();
          if (w.kind === 'stop') break;
          if (w.kind === 'fatal') fatal = w.err;
          else reloaded = tryReload(file, ctx, log, secrets);
        }
        if (reloaded) notifier.reloading();
        else notifier.stopping();
        await daemon.stop(reloaded ? 'reloading the configuration' : fatal !== undefined ? 'fatal error' : String((ctx.signal.reason as Error)?.message ?? 'stopped'));
        await metrics?.close();
        if (fatal !== undefined) throw fatal;
        if (!reloaded) {
          log.info({}, 'stopped');
          return 0;
        }
        ({ config, credentials } = reloaded);
        log.info({ folders: config.folders.map((f) => f.name) }, 'configuration reloaded');
      }
    } finally {
      offHangup();
      if (watchdog) clearInterval(watchdog);
    }
  } catch (err) {
    notifier?.stopping();
    return reportError(ctx, err, secrets);
  } finally {
    notifier?.close();
  }
}

/** Load the config again for SIGHUP; an invalid one is logged and refused (the running one stays). */
function tryReload(file: string, ctx: CommandContext, log: Logger, secrets: string[]): { config: Config; credentials: Credentials } | undefined {
  try {
    const config = loadConfig(file, ctx.env);
    const credentials = loadCredentials(config, ctx.env);
    secrets.push(credentials.secretAccessKey, credentials.accessKeyId);
    return { config, credentials };
  } catch (err) {
    const reason = err instanceof ConfigError ? err.message : describeError(err);
    log.error({ reason: scrub(reason, secrets) }, 'SIGHUP: the new configuration is invalid; keeping the running one');
    return undefined;
  }
}
