// Readers for the config's own kinds of value, each at a Field so a bad one is reported at its line: local
// paths ('~' and relative paths resolved), key prefixes, exclude pattern lists, maxDelete.
// Must not: know which key holds which kind (parse.ts and folders.ts decide); touch `process` (env comes in Ctx).

import { isAbsolute, resolve } from 'node:path';
import { isSeq } from 'yaml';
import { MAX_KEY_BYTES } from '../keys.js';
import type { MaxDelete } from './types.js';
import { parseMaxDelete } from './units.js';
import { deref, failAt, scalar, show, str, type Ctx, type Field, type YamlNode } from './yaml.js';

/** maxDelete at f: the grammar is units.ts's parseMaxDelete (shared with `sync --max-delete`). */
export function maxDelete(c: Ctx, f: Field): MaxDelete {
  const v = scalar(c, f, 'a count or a percentage');
  return parseMaxDelete(v)
    ?? failAt(c, f, `must be a number of files (an integer >= 0) or a percentage from "0%" to "100%" (got ${show(v)})`);
}

/** An absolute local path: '~' and '~/...' use env.HOME; relative paths are taken from the config file's dir. */
export function localPath(c: Ctx, f: Field): string {
  const s = str(c, f);
  if (s === '') failAt(c, f, 'must not be empty');
  if (s !== '~' && !s.startsWith('~/')) {
    if (s.startsWith('~')) failAt(c, f, `"~user" paths are not supported; write the full path (got ${show(s)})`);
    return resolve(c.dir, s);
  }
  const home = c.env.HOME;
  if (!home || !isAbsolute(home)) failAt(c, f, `cannot expand "~" because HOME is not set (got ${show(s)})`);
  return resolve(home, `.${s.slice(1)}`);
}

/**
 * '' or a key prefix ending with '/' (one is appended), in Unicode NFC like every key (a prefix typed in NFD
 * would list nothing of what was uploaded); no leading '/', no '//', no '.' or '..' segments, and short enough
 * that a file name still fits in a key.
 */
export function keyPrefix(c: Ctx, f: Field): string {
  const s = str(c, f);
  if (s === '') return '';
  const p = (s.endsWith('/') ? s : `${s}/`).normalize('NFC');
  if (p.startsWith('/')) failAt(c, f, `must not start with "/" (got ${show(s)})`);
  if (p.includes('//')) failAt(c, f, `must not contain "//" (got ${show(s)})`);
  if (p.split('/').some((seg) => seg === '.' || seg === '..')) failAt(c, f, `must not contain "." or ".." segments (got ${show(s)})`);
  if (/[\x00-\x1f\x7f]/.test(p)) failAt(c, f, `must not contain control characters (got ${show(s)})`);
  const bytes = Buffer.byteLength(p, 'utf8');
  if (bytes >= MAX_KEY_BYTES) {
    failAt(c, f, `is ${bytes} bytes long (with its "/"); object keys have at most ${MAX_KEY_BYTES} bytes, so no file name would fit after it`);
  }
  return p;
}

/** A list of gitignore-style patterns, none empty. */
export function patterns(c: Ctx, f: Field): string[] {
  const seq = deref(c, f.node);
  if (!isSeq(seq)) failAt(c, f, `must be a list of gitignore-style patterns, e.g. ["*.tmp", ".git/"] (got ${show(seq)})`);
  return seq.items.map((item, i) => {
    const it: Field = { node: item as YamlNode | null, at: f.node, path: `${f.path}[${i}]` };
    const p = str(c, it);
    if (p.trim() === '') failAt(c, it, 'must not be empty');
    return p;
  });
}
