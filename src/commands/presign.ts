// `r2mirror presign`: print a presigned GET (or PUT) URL for a local file of a mirrored folder or an object key.
// Signs locally: sends no request and spends no R2 operation. Never prints the secret key (the URL carries the
// access key id, as every presigned URL does).
// Must not: send a request; print the secret key; touch `process`.

import fs from 'node:fs';
import path from 'node:path';
import { parseDuration, type FolderConfig } from '../config.js';
import { UsageError, printable, scrub } from '../errors.js';
import { keyProblem, toKey } from '../keys.js';
import { makeMatcher } from '../local/scan.js';
import { PRESIGN_MAX_SECONDS, PRESIGN_MIN_SECONDS, presign } from '../remote/presign.js';
import { checkFolderNames, clientFor, configPath, parseCommand, reportError, setup } from './common.js';
import type { Command, CommandContext } from './context.js';

/** Parsed `presign` options. */
export interface PresignArgs {
  config: string;
  target: string;
  folder?: string | undefined;
  method: 'GET' | 'PUT';
  contentType?: string | undefined;
  /** The type as typed, when contentType is its normalised form (charset=utf-8 -> charset=UTF-8). */
  contentTypeTyped?: string | undefined;
  /** Seconds. */
  expires: number;
  json: boolean;
  /** -1 quiet, 0, or the number of -v (common.ts levelFor). */
  verbosity: number;
}

const DEFAULT_EXPIRES = 3600;
// RFC 9110 token characters: type "/" subtype, optionally followed by parameters.
const MEDIA_TYPE_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:\s*;[\x20-\x7e]*)?$/;

/**
 * The Content-Type is signed byte for byte, and browsers' XMLHttpRequest (so axios in a browser) rewrites a
 * charset of utf-8 in any case to "UTF-8" before sending: a link signed for "charset=utf-8" gets 403 from
 * them. Signing the spelling XHR sends works for XHR whatever the page set, and for fetch() when the page
 * sends the type as printed.
 */
export function normaliseCharset(type: string): string {
  return type.replace(/(;\s*charset\s*=\s*"?)utf-8(?="?\s*(?:;|$))/i, '$1UTF-8');
}

/** Parse the arguments after `presign`. Throws UsageError. */
export function parsePresignArgs(argv: readonly string[], env: CommandContext['env']): PresignArgs {
  const { values: v, positionals, verbosity } = parseCommand('presign', argv, {
    config: { type: 'string', short: 'c' }, folder: { type: 'string', short: 'f' }, put: { type: 'boolean' },
    'content-type': { type: 'string' }, expires: { type: 'string' }, json: { type: 'boolean' },
  }, 1);
  const target = positionals[0];
  if (target === undefined || target === '') throw new UsageError('presign: name a local file or an object key (r2mirror presign PATH|KEY)');
  const typed = v['content-type'];
  if (typed !== undefined) {
    if (!v.put) throw new UsageError('presign: --content-type only applies to upload links (add --put)');
    if (!MEDIA_TYPE_RE.test(typed)) throw new UsageError(`presign: --content-type "${typed}" is not a media type (e.g. image/png or text/plain; charset=UTF-8)`);
  }
  const contentType = typed === undefined ? undefined : normaliseCharset(typed);
  return {
    config: configPath(v.config, env), target, folder: v.folder, method: v.put ? 'PUT' : 'GET', contentType,
    ...(contentType !== typed ? { contentTypeTyped: typed } : {}), expires: parseExpires(v.expires), json: !!v.json, verbosity,
  };
}

/**
 * An --expires value in seconds: a duration with units ("30s", "15m", "1h", "7d", "1h30m") or a bare number
 * of seconds. R2 accepts 1 s to 7 days; anything else is a UsageError naming the value and the range.
 */
export function parseExpires(s: string | undefined): number {
  if (s === undefined) return DEFAULT_EXPIRES;
  const t = s.trim();
  let ms: number;
  if (/^\d+$/.test(t)) ms = Number(t) * 1000; // seconds, like `aws s3 presign --expires-in`
  else {
    try {
      ms = parseDuration(t);
    } catch {
      throw new UsageError(`presign: --expires "${s}" is not a duration (e.g. 30s, 15m, 1h, 7d)`);
    }
  }
  const range = `a presigned URL is valid for ${PRESIGN_MIN_SECONDS} s to 7 days (${PRESIGN_MAX_SECONDS} s)`;
  if (ms % 1000 !== 0) throw new UsageError(`presign: --expires "${s}" is not a whole number of seconds; ${range}`);
  const secs = ms / 1000;
  if (secs < PRESIGN_MIN_SECONDS || secs > PRESIGN_MAX_SECONDS) throw new UsageError(`presign: --expires "${s}" is out of range: ${range}`);
  return secs;
}

/** Where a presign argument points. */
export interface PresignTarget {
  readonly bucket: string;
  readonly key: string;
  /** The folder whose mapping gave the key (absent for a bare key without --folder). */
  readonly folder?: FolderConfig | undefined;
  /** For a local path: the absolute path and the path relative to the folder root ('/' separated). */
  readonly path?: string | undefined;
  readonly rel?: string | undefined;
}

/** What resolvePresignTarget may ask of the file system (injected, so the resolution itself is pure). */
export interface PathProbe {
  /** 'file', 'dir' or 'other' for an existing path (following links), undefined when there is none. */
  kind(abs: string): 'file' | 'dir' | 'other' | undefined;
  /** The path with symbolic links resolved, or the input when that fails. */
  realpath(abs: string): string;
}

/**
 * Turn the argument of `presign` into bucket + key. It is a local path when it is absolute, starts with ./ or
 * ../, names an existing file, or lies under a folder root; the key is then the folder's prefix plus the path
 * relative to its root (the mapping `sync` uses). Anything else is an object key, used as it is (no prefix is
 * added), in the bucket of --folder or of the only bucket the config uses. Throws UsageError.
 */
export function resolvePresignTarget(arg: string, folders: readonly FolderConfig[], o: { cwd: string; folder?: string | undefined; probe: PathProbe }): PresignTarget {
  const chosen = o.folder === undefined ? undefined : folders.find((f) => f.name === o.folder);
  if (o.folder !== undefined && !chosen) throw new UsageError(`no folder named "${o.folder}" (folders: ${folders.map((f) => f.name).join(', ')})`);
  const abs = path.resolve(o.cwd, arg);
  const kind = o.probe.kind(abs);
  const explicit = path.isAbsolute(arg) || /^\.\.?(?:[\\/]|$)/.test(arg);
  const candidates = chosen ? [chosen] : folders;
  let hit = ownerOf(abs, candidates);
  if (!hit && (explicit || kind !== undefined)) hit = ownerOf(o.probe.realpath(abs), candidates.map((f) => ({ ...f, path: o.probe.realpath(f.path) })), candidates);
  if (hit || explicit || kind !== undefined) {
    if (!hit) {
      const shown = arg === abs ? abs : `${arg} (${abs})`;
      const roots = candidates.map((f) => `${f.name}: ${f.path}`).join(', ');
      throw new UsageError(chosen
        ? `presign: ${shown} is not under the root of folder ${chosen.name} (${chosen.path})`
        : `presign: ${shown} is outside every folder (roots: ${roots})`);
    }
    const { folder, rel } = hit;
    if (rel === '') throw new UsageError(`presign: ${abs} is the root of folder ${folder.name}, not a file`);
    if (kind === 'dir') throw new UsageError(`presign: ${abs} is a directory; a presigned URL is for one object`);
    const key = toKey(folder.prefix, rel);
    const problem = keyProblem(key);
    if (problem) throw new UsageError(`presign: ${abs} cannot be an object: ${problem}`);
    return { bucket: folder.bucket, key, folder, path: abs, rel };
  }
  const problem = keyProblem(arg);
  if (problem) throw new UsageError(`presign: key "${arg}" cannot be an object: ${problem}`);
  if (chosen) return { bucket: chosen.bucket, key: arg, folder: chosen };
  const buckets = [...new Set(folders.map((f) => f.bucket))];
  if (buckets.length === 1) return { bucket: buckets[0]!, key: arg, folder: folders.length === 1 ? folders[0] : undefined };
  throw new UsageError(`presign: "${arg}" is not a local path under a folder, and the folders use several buckets ` +
    `(${folders.map((f) => `${f.name}: ${f.bucket}`).join(', ')}): name one with --folder NAME`);
}

/** The folder whose root contains `abs` (the deepest one) and the '/'-separated path relative to it. */
function ownerOf(abs: string, folders: readonly FolderConfig[], originals: readonly FolderConfig[] = folders): { folder: FolderConfig; rel: string } | undefined {
  let best: { folder: FolderConfig; rel: string; depth: number } | undefined;
  folders.forEach((f, i) => {
    const rel = path.relative(f.path, abs);
    if (rel.startsWith('..') && (rel === '..' || rel.startsWith(`..${path.sep}`))) return;
    if (path.isAbsolute(rel)) return;
    const depth = f.path.length;
    if (!best || depth > best.depth) best = { folder: originals[i]!, rel: rel.split(path.sep).join('/'), depth };
  });
  return best && { folder: best.folder, rel: best.rel };
}

const fsProbe: PathProbe = {
  kind(abs) {
    try {
      const st = fs.statSync(abs);
      return st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other';
    } catch {
      return undefined;
    }
  },
  realpath(abs) {
    try {
      return fs.realpathSync(abs);
    } catch {
      // A file that does not exist yet (a PUT link): resolve its directory.
      try {
        return path.join(fs.realpathSync(path.dirname(abs)), path.basename(abs));
      } catch {
        return abs;
      }
    }
  },
};

export const presignCommand: Command = {
  name: 'presign',
  run: runPresign,
};

async function runPresign(ctx: CommandContext): Promise<number> {
  const secrets: string[] = [];
  let client: { destroy(): void } | undefined;
  try {
    const args = parsePresignArgs(ctx.args, ctx.env);
    const { config, credentials } = setup(ctx, {
      config: args.config, verbosity: args.verbosity, secrets, check: (c) => checkFolderNames(c, args.folder === undefined ? [] : [args.folder]),
    });
    const target = resolvePresignTarget(args.target, config.folders, { cwd: ctx.cwd, folder: args.folder, probe: fsProbe });
    const s3 = clientFor(config, credentials, 1);
    client = s3.client;
    const signed = await presign(s3.client, {
      bucket: target.bucket, key: target.key, method: args.method, expiresIn: args.expires, contentType: args.contentType,
    });
    // The URL must keep the access key id (X-Amz-Credential); only the secret is scrubbed from it.
    const url = scrub(signed.url, [credentials.secretAccessKey]);
    if (args.json) {
      ctx.stdout.write(JSON.stringify({
        url, method: args.method, bucket: target.bucket, key: target.key, expiresAt: signed.expiresAt.toISOString(),
        ...(args.contentType !== undefined ? { contentType: args.contentType } : {}),
      }) + '\n');
    } else {
      ctx.stdout.write(url + '\n');
    }
    if (args.verbosity < 0) return 0; // -q: the link alone
    if (args.contentTypeTyped !== undefined) {
      ctx.stderr.write(`r2mirror: note: signed Content-Type "${printable(args.contentType ?? '')}", not "${printable(args.contentTypeTyped)}": ` +
        'browsers\' XMLHttpRequest (and axios) send the charset as UTF-8, and the signature covers the exact bytes\n');
    }
    if (target.folder && target.rel !== undefined && makeMatcher(target.folder.exclude).ignores(target.rel)) {
      ctx.stderr.write(`r2mirror: note: ${printable(target.path ?? '')} is excluded in folder ${target.folder.name}, so sync does not upload it\n`);
    }
    if (ctx.stderr.isTTY && !args.json) {
      const what = args.method === 'GET' ? 'download' : 'upload';
      const type = args.contentType !== undefined ? `; the upload must send Content-Type: ${args.contentType}` : '';
      ctx.stderr.write(`r2mirror: ${what} link for ${printable(`${target.bucket}/${target.key}`)}, valid until ${signed.expiresAt.toISOString()}${type}\n`);
    }
    return 0;
  } catch (err) {
    return reportError(ctx, err, secrets);
  } finally {
    client?.destroy();
  }
}
