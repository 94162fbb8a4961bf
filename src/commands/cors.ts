// `r2mirror cors get|set FILE|clear`: show, replace or remove a bucket's CORS policy (R2's JSON format).
// A policy file is read and validated completely before anything is sent; an invalid file sends nothing.
// Must not: send anything before the whole policy file is valid; explain S3 errors itself (errors.ts does).

import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.js';
import { UsageError, explainS3Error, scrub } from '../errors.js';
import { CorsPolicyError, deleteCors, formatCorsPolicy, getCors, parseCorsPolicy, putCors, type CorsRule } from '../remote/cors.js';
import { clientFor, configPath, parseCommand, reportError, setup } from './common.js';
import type { Command, CommandContext } from './context.js';

/** Parsed `cors` options. */
export type CorsArgs = {
  config: string;
  bucket?: string | undefined;
  json: boolean;
  /** -1 quiet, 0, or the number of -v (common.ts levelFor). */
  verbosity: number;
} & ({ action: 'get' } | { action: 'clear' } | { action: 'set'; file: string });

/** Parse the arguments after `cors`. Throws UsageError. */
export function parseCorsArgs(argv: readonly string[], env: CommandContext['env']): CorsArgs {
  const { values: v, positionals, verbosity } = parseCommand('cors', argv, {
    config: { type: 'string', short: 'c' }, bucket: { type: 'string', short: 'b' }, json: { type: 'boolean' },
  }, 2);
  const [action, file] = positionals;
  const base = { config: configPath(v.config, env), bucket: v.bucket, json: !!v.json, verbosity };
  if (action === 'get' || action === 'clear') {
    if (file !== undefined) throw new UsageError(`cors ${action}: unexpected argument "${file}"`);
    return { ...base, action };
  }
  if (action === 'set') {
    if (file === undefined || file === '') throw new UsageError('cors set: name the policy file (r2mirror cors set FILE)');
    return { ...base, action, file };
  }
  throw new UsageError(action === undefined ? 'cors: say get, set FILE or clear' : `cors: unknown action "${action}" (get, set FILE, clear)`);
}

/** The bucket a command acts on: --bucket, else the one bucket all folders use. Throws UsageError. */
export function defaultBucket(config: Config, given: string | undefined, command: string): string {
  if (given !== undefined) {
    if (given === '') throw new UsageError(`${command}: --bucket must not be empty`);
    return given;
  }
  const buckets = [...new Set(config.folders.map((f) => f.bucket))];
  if (buckets.length === 1) return buckets[0]!;
  throw new UsageError(`${command}: the folders in ${config.file} use several buckets (${buckets.join(', ')}): name one with --bucket NAME`);
}

/**
 * Read and validate a policy file (`file` as given, relative to `cwd`); every problem is a UsageError naming
 * the file (exit 2), raised before any request.
 */
export function readPolicyFile(file: string, cwd: string): CorsRule[] {
  let text: string;
  try {
    text = fs.readFileSync(path.resolve(cwd, file), 'utf8');
  } catch (err) {
    throw new UsageError(`cors set: cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return parseCorsPolicy(text, file);
  } catch (err) {
    if (err instanceof CorsPolicyError) throw new UsageError(err.message);
    throw err;
  }
}

export const corsCommand: Command = {
  name: 'cors',
  run: runCors,
};

async function runCors(ctx: CommandContext): Promise<number> {
  const secrets: string[] = [];
  let client: { destroy(): void } | undefined;
  try {
    const args = parseCorsArgs(ctx.args, ctx.env);
    // The policy file first: a bad file is refused before the config, the credentials or the network are touched.
    const rules = args.action === 'set' ? readPolicyFile(args.file, ctx.cwd) : undefined;
    const { config, credentials } = setup(ctx, { config: args.config, verbosity: args.verbosity, secrets });
    const bucket = defaultBucket(config, args.bucket, `cors ${args.action}`);
    const s3 = clientFor(config, credentials, 2);
    client = s3.client;
    const scope = { bucket, endpoint: config.remote.endpoint, configFile: config.file, admin: true };
    const out = (s: string) => ctx.stdout.write(scrub(s, secrets));
    try {
      if (args.action === 'get') {
        const got = await getCors(s3.client, bucket, ctx.signal);
        if (got === undefined && args.verbosity >= 0) ctx.stderr.write(`r2mirror: bucket ${bucket} has no CORS policy\n`);
        out(formatCorsPolicy(got ?? []));
      } else if (args.action === 'set') {
        await putCors(s3.client, bucket, rules!, ctx.signal);
        if (args.json) out(JSON.stringify({ bucket, action: 'set', rules: JSON.parse(formatCorsPolicy(rules!)) as unknown }) + '\n');
        else if (args.verbosity >= 0) out(`CORS policy of bucket ${bucket} set from ${args.file}: ${rules!.length} rule${rules!.length === 1 ? '' : 's'}\n`);
      } else {
        await deleteCors(s3.client, bucket, ctx.signal);
        if (args.json) out(JSON.stringify({ bucket, action: 'clear', rules: [] }) + '\n');
        else if (args.verbosity >= 0) out(`CORS policy of bucket ${bucket} removed\n`);
      }
    } catch (err) {
      throw explainS3Error(err, scope);
    }
    return 0;
  } catch (err) {
    return reportError(ctx, err, secrets);
  } finally {
    client?.destroy();
  }
}
