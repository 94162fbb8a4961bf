// Integration-test fixture: a temp folder, a fresh bucket behind the R2 proxy, a config file, and a way to run
// the real CLI (`node --import tsx src/cli.ts`) and read what it did. Test-only.

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import { Database } from '../../src/state/sqlite.js';
import { R2Proxy } from './r2proxy.js';
import { createTestBucket, emptyAndDeleteBucket, ensureS3, listAll, makeClient, type S3Env } from './s3server.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const CLI = path.join(REPO, 'src', 'cli.ts');

/** What one CLI run printed and returned. */
export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The JSON summary when run with --json. */
  json?: any;
  /** JSON log lines from stderr. */
  logs: any[];
}

/** One test's world: folder, bucket, config, proxy. */
export interface Fixture {
  readonly env: S3Env;
  readonly dir: string;
  readonly root: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly configFile: string;
  readonly statePath: string;
  readonly proxy: R2Proxy;
  /** Direct client to the server (not through the proxy): for checking and for playing "another tool". */
  readonly client: S3Client;
  write(rel: string, content: string | Buffer): void;
  run(args: string[], opts?: { env?: Record<string, string | undefined>; timeoutMs?: number }): Promise<RunResult>;
  /** Like run(), but returns at once with the child process (to kill it) and the result promise. */
  start(args: string[], opts?: { env?: Record<string, string | undefined>; timeoutMs?: number }): RunningCli;
  /** Run any command with this fixture's config and credentials: `f.cmd('ls', ['--json'])`. */
  cmd(command: string, args?: string[], opts?: { env?: Record<string, string | undefined>; timeoutMs?: number }): Promise<RunResult>;
  /** Like cmd(), but returns at once with the child process (the daemon, to signal it). */
  startCmd(command: string, args?: string[], opts?: { env?: Record<string, string | undefined>; timeoutMs?: number }): RunningCli;
  objects(): Promise<Map<string, { size: number; etag: string }>>;
  rows(): { key: string; rel: string; size: number; etag: string; part_size: number }[];
  writeConfig(extraFolderYaml?: string, topYaml?: string): void;
  close(): Promise<void>;
}

/** Build a fixture; `prefix` defaults to 'host1/data/'. */
export async function fixture(name: string, opts: {
  prefix?: string; folderYaml?: string; topYaml?: string;
  /** R2 rule breaks seen by the proxy fail the test at close() unless a test injects them on purpose. */
  allowViolations?: boolean;
} = {}): Promise<Fixture> {
  const env = await ensureS3();
  const client = makeClient(env);
  const bucket = await createTestBucket(client, name);
  const proxy = await R2Proxy.start({ target: env.endpoint });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `r2m-${name}-`));
  const root = path.join(dir, 'data');
  fs.mkdirSync(root);
  const prefix = opts.prefix ?? 'host1/data/';
  const configFile = path.join(dir, 'r2mirror.yaml');
  const statePath = path.join(dir, 'state', 'state.db');

  const f: Fixture = {
    env, dir, root, bucket, prefix, configFile, statePath, proxy, client,
    write(rel, content) {
      const abs = path.join(root, rel);
      fs.mkdirSync(path.dirname(abs), { recursive: true });
      fs.writeFileSync(abs, content);
    },
    writeConfig(folderYaml = opts.folderYaml ?? '', topYaml = opts.topYaml ?? '') {
      fs.writeFileSync(configFile, [
        'remote:',
        `  endpoint: ${proxy.endpoint}`,
        `state: ${statePath}`,
        'retries: 3',
        topYaml,
        'folders:',
        '  - name: data',
        `    path: ${root}`,
        `    bucket: ${bucket}`,
        `    prefix: ${prefix}`,
        folderYaml,
      ].filter(Boolean).join('\n') + '\n');
    },
    run: (args, o = {}) => f.start(args, o).result,
    start: (args, o = {}) => f.startCmd('sync', args, o),
    cmd: (command, args = [], o = {}) => f.startCmd(command, args, o).result,
    startCmd: (command, args = [], o = {}) => startCli([command, '--config', configFile, ...args], {
      R2_ACCESS_KEY_ID: env.accessKeyId, R2_SECRET_ACCESS_KEY: env.secretAccessKey, ...o.env,
    }, o.timeoutMs),
    objects: () => listAll(client, bucket, prefix),
    rows() {
      if (!fs.existsSync(statePath)) return [];
      const db = new Database(statePath, { readonly: true });
      try {
        return db.prepare('SELECT key, rel, size, etag, part_size FROM objects ORDER BY key').all() as any;
      } finally {
        db.close();
      }
    },
    async close() {
      const violations = proxy.violations();
      await proxy.close();
      await emptyAndDeleteBucket(client, bucket).catch(() => undefined);
      client.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
      // Every integration test runs behind the R2 layer: a request R2 would have refused fails the test.
      if (!opts.allowViolations && violations.length > 0) {
        throw new Error(`r2mirror broke R2 rules in this test (${violations.length}):\n${violations.slice(0, 10).join('\n')}`);
      }
    },
  };
  f.writeConfig();
  return f;
}

/** A CLI process started by {@link startCli}: the child (to signal or kill) and its result once it exits. */
export interface RunningCli {
  readonly child: ChildProcess;
  readonly result: Promise<RunResult>;
}

/** Run the CLI with the given args and extra env; never inherits the caller's R2/AWS credentials. */
export function runCli(args: string[], extraEnv: Record<string, string | undefined> = {}, timeoutMs = 120_000, via: string[] = []): Promise<RunResult> {
  return startCli(args, extraEnv, timeoutMs, via).result;
}

/** Start the CLI and return at once, keeping the ChildProcess (crash tests kill it with SIGKILL). */
export function startCli(args: string[], extraEnv: Record<string, string | undefined> = {}, timeoutMs = 120_000, via: string[] = []): RunningCli {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const k of Object.keys(env)) if (/^(R2_|AWS_)/.test(k)) delete env[k];
  Object.assign(env, extraEnv);
  // `via` runs the CLI through a wrapper command, e.g. setpriv to drop to another user.
  const argv = [...via, process.execPath, '--import', 'tsx', CLI, ...args];
  const child = spawn(argv[0]!, argv.slice(1), { env: env as NodeJS.ProcessEnv, cwd: REPO });
  const result = new Promise<RunResult>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const logs = stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => {
        try {
          return JSON.parse(l);
        } catch {
          return undefined;
        }
      }).filter(Boolean);
      let json: unknown;
      if (args.includes('--json')) {
        try {
          json = JSON.parse(stdout);
        } catch {
          json = undefined;
        }
      }
      resolve({ code, stdout, stderr, json, logs });
    });
  });
  return { child, result };
}

/** md5 hex of a buffer. */
export function md5(b: Buffer | string): string {
  return createHash('md5').update(b).digest('hex');
}

/** The S3/R2 multipart ETag of `b` uploaded in parts of `partSize`, computed independently of src/. */
export function multipartEtag(b: Buffer, partSize: number): string {
  const digests: Buffer[] = [];
  for (let off = 0; off < b.length; off += partSize) digests.push(createHash('md5').update(b.subarray(off, off + partSize)).digest());
  return `${createHash('md5').update(Buffer.concat(digests)).digest('hex')}-${digests.length}`;
}

/** Deterministic pseudo-random bytes (so failures reproduce). */
export function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}
