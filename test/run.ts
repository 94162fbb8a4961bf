// `npm test`: runs test/unit/**/*.test.ts, then every other test/**/*.test.ts against an S3 server, each phase
// in one `node --test` process. Starts (and afterwards stops) the local Ceph RGW only when S3_ENDPOINT is unset.
//
//   npm test                         unit tests, then integration tests (local RGW, started and stopped here)
//   npm run test:unit                unit tests only (no server)
//   npm test -- r2proxy bucket       only test files whose path contains "r2proxy" or "bucket"
//   npm test -- --test-name-pattern=multipart   arguments starting with "--" go to `node --test`
//   S3_ENDPOINT=… S3_ACCESS_KEY=… S3_SECRET_KEY=… [S3_REGION=auto] npm test    against R2 or any S3 server
// A server already started with `npm run s3:start` is reused and left running (fast repeated runs).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { constants } from 'node:os';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureS3, stopS3 } from './harness/s3server.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Args {
  unitOnly: boolean;
  filters: string[];
  nodeArgs: string[];
}

function parseArgs(argv: string[]): Args {
  const args: Args = { unitOnly: false, filters: [], nodeArgs: [] };
  for (const a of argv) {
    if (a === '--') continue;
    else if (a === '--unit') args.unitOnly = true;
    else if (a.startsWith('--')) args.nodeArgs.push(a);
    else args.filters.push(a);
  }
  return args;
}

/** All test files as paths relative to the repo root ("test/unit/x.test.ts"), split by phase. */
function findTests(filters: string[]): { unit: string[]; integration: string[] } {
  // Node 20's `node --test` does not expand globs, so list the files here.
  const files = readdirSync(join(ROOT, 'test'), { recursive: true, encoding: 'utf8' })
    .map((f) => `test/${f.split(sep).join('/')}`)
    .filter((f) => f.endsWith('.test.ts') && !f.includes('/node_modules/'))
    .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
    .sort();
  return {
    unit: files.filter((f) => f.startsWith('test/unit/')),
    integration: files.filter((f) => !f.startsWith('test/unit/')),
  };
}

let child: ChildProcess | undefined;
/** True once this run started the local RGW (so it must stop it); a server that was already up is left alone. */
let startedHere = false;
let stopped = false;

async function stopServer(): Promise<void> {
  if (!startedHere || stopped) return;
  stopped = true;
  await stopS3().catch((err: unknown) => console.error(String(err)));
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    console.error(`\n${sig}: stopping`);
    child?.kill(sig);
    // (a start-rgw.sh start still running stops its own daemons on the signal)
    void stopServer().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  });
}

function runNodeTest(files: string[], extra: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const argv = ['--import', 'tsx', '--test', '--test-reporter=spec', ...extra, ...files];
  return new Promise((resolve) => {
    child = spawn(process.execPath, argv, { cwd: ROOT, stdio: 'inherit', env });
    child.on('error', (err) => {
      console.error(`cannot run ${process.execPath}: ${err.message}`);
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      child = undefined;
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const { unit, integration } = findTests(args.filters);
  // The SDK's "Node 22 soon" warning is known (TESTING.md) and would repeat in every test process.
  const env: NodeJS.ProcessEnv = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...process.env };
  let status = 0;

  if (unit.length > 0) {
    console.log(`\n# unit tests (${unit.length} file${unit.length === 1 ? '' : 's'})`);
    status = await runNodeTest(unit, args.nodeArgs, env);
  } else if (args.unitOnly || integration.length === 0) {
    console.log('no test files matched');
  }
  if (args.unitOnly || integration.length === 0) return status;

  try {
    if (!process.env.S3_ENDPOINT) {
      console.log(`starting Ceph RGW on 127.0.0.1:${process.env.S3_PORT ?? 7480} (first run installs it with apt; ~20 s)`);
      const s3 = await ensureS3();
      startedHere = s3.started;
      Object.assign(env, {
        S3_ENDPOINT: s3.endpoint,
        S3_ACCESS_KEY: s3.accessKeyId,
        S3_SECRET_KEY: s3.secretAccessKey,
        S3_REGION: s3.region,
      });
    } else {
      console.log(`using S3_ENDPOINT=${process.env.S3_ENDPOINT}`);
    }
    // Two files at a time: most of an integration test is waiting (debounce timers, the server), so two halve the
    // wall time on a 2-core machine; each file has its own buckets, proxy and temp dirs. `-- --test-concurrency=1`
    // runs them one at a time again (a later flag wins).
    console.log(`\n# integration tests (${integration.length} file${integration.length === 1 ? '' : 's'}, two at a time)`);
    const code = await runNodeTest(integration, ['--test-concurrency=2', ...args.nodeArgs], env);
    return status || code;
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    return status || 1;
  } finally {
    await stopServer();
  }
}

process.exitCode = await main();
