// Walking the YAML document: parse the text (no source line ever echoed), read typed values at a key path, and
// fail with a ConfigError that names the file, line, column and key path. Knows no config key by name.
// Must not: read files or the environment (the caller passes text and env); put a value that may be secret
// into a message.

import { dirname, resolve } from 'node:path';
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { ConfigError } from '../errors.js';
import type { Env } from './types.js';
import { showValue } from './units.js';

export type { YamlNode };

/** What every reader needs: where to point (file, line counter), the document, and what paths resolve from. */
export interface Ctx {
  readonly file: string;
  /** The config file's directory (relative paths are taken from it). */
  readonly dir: string;
  readonly lc: LineCounter;
  readonly doc: Document;
  readonly env: Env;
}

/** A value in the document with the key path that leads to it; `at` is where to point when it is empty. */
export interface Field {
  readonly node: YamlNode | null;
  readonly at: YamlNode | null;
  readonly path: string;
}

export type Fields<K extends string> = Partial<Record<K, Field>>;

const SECRET_KEY_RE = /secret|access_?key|passw|token|credential|api_?key/i;

function yamlProblem(err: Error): string {
  // yaml appends " at line L, column C:" and a copy of the source line; drop both (the line may hold a secret).
  return (err.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?\s*$/, '');
}

/** Parse config text into a walking context and its root node; invalid YAML and an empty file are ConfigErrors. */
export function openDocument(text: string, file: string, env: Env): { c: Ctx; root: YamlNode } {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: true, uniqueKeys: true });
  const bad = doc.errors[0];
  if (bad) {
    const pos = bad.linePos?.[0];
    throw new ConfigError(`invalid YAML: ${yamlProblem(bad)}`, { file, line: pos?.line, col: pos?.col });
  }
  const c: Ctx = { file, dir: dirname(resolve(file)), lc, doc, env };
  const root = doc.contents as YamlNode | null;
  if (root === null || (isScalar(root) && root.value === null)) {
    throw new ConfigError('the config file is empty; see config.example.yaml for every key', { file });
  }
  return { c, root };
}

/** Throw a ConfigError pointing at node (its line and column) under key path `path`. */
export function fail(c: Ctx, node: YamlNode | null | undefined, path: string, problem: string): never {
  const pos = node?.range ? c.lc.linePos(node.range[0]) : undefined;
  throw new ConfigError(problem, { file: c.file, line: pos?.line, col: pos?.col, path: path || undefined });
}

/** Throw a ConfigError pointing at f's value, or at its key when the value is empty. */
export function failAt(c: Ctx, f: Field, problem: string): never {
  return fail(c, f.node?.range ? f.node : f.at, f.path, problem);
}

/** The node an alias (*name) stands for; any other node as it is. */
export function deref(c: Ctx, n: unknown): unknown {
  return isAlias(n) ? n.resolve(c.doc) : n;
}

/** A value for messages: strings quoted, collections named. */
export function show(v: unknown): string {
  if (isMap(v)) return 'a mapping';
  if (isSeq(v)) return 'a list';
  return showValue(isScalar(v) ? v.value : v);
}
/** The mapping at f, checked against the known keys (unknown keys are errors, with a suggestion). */
export function fields<K extends string>(c: Ctx, f: Field, known: readonly K[]): Fields<K> {
  const map = deref(c, f.node);
  if (!isMap(map)) failAt(c, f, `${f.path ? 'must' : 'the top level must'} be a mapping of keys (got ${show(map)})`);
  const out: Fields<K> = {};
  for (const pair of map.items) {
    const keyNode = pair.key as YamlNode | null;
    if (!isScalar(keyNode)) fail(c, keyNode ?? (map as YamlNode), f.path, `keys must be plain words (got ${show(keyNode)})`);
    const key = String(keyNode.value);
    if (!(known as readonly string[]).includes(key)) fail(c, keyNode, f.path, unknownKey(key, known));
    out[key as K] = { node: pair.value as YamlNode | null, at: keyNode, path: f.path ? `${f.path}.${key}` : key };
  }
  return out;
}

function unknownKey(key: string, known: readonly string[]): string {
  const best = known.map((k) => ({ k, d: editDistance(key.toLowerCase(), k.toLowerCase()) })).sort((a, b) => a.d - b.d)[0];
  if (best && best.d <= 2) return `unknown key ${JSON.stringify(key)} (did you mean ${JSON.stringify(best.k)}?)`;
  if (SECRET_KEY_RE.test(key)) {
    return `unknown key ${JSON.stringify(key)}: secrets are not read from the config file; set R2_ACCESS_KEY_ID and ` +
      'R2_SECRET_ACCESS_KEY in the environment, or point remote.credentialsFile at a file that holds them';
  }
  return `unknown key ${JSON.stringify(key)} (known keys: ${known.join(', ')})`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** The scalar value at f; a list or mapping is an error saying what was expected. */
export function scalar(c: Ctx, f: Field, expected: string): unknown {
  const n = deref(c, f.node);
  if (n !== null && n !== undefined && !isScalar(n)) failAt(c, f, `must be ${expected} (got ${show(n)})`);
  return isScalar(n) ? n.value : null;
}

export function str(c: Ctx, f: Field): string {
  const v = scalar(c, f, 'a string');
  if (typeof v !== 'string') failAt(c, f, `must be a string (got ${show(v)})`);
  return v;
}

export function int(c: Ctx, f: Field, min: number, max: number): number {
  const v = scalar(c, f, 'an integer');
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    failAt(c, f, `must be an integer from ${min} to ${max} (got ${show(v)})`);
  }
  return v;
}

export function bool(c: Ctx, f: Field): boolean {
  const v = scalar(c, f, 'true or false');
  if (typeof v !== 'boolean') failAt(c, f, `must be true or false (got ${show(v)})`);
  return v;
}

export function oneOf<T extends string>(c: Ctx, f: Field, choices: readonly T[]): T {
  const v = scalar(c, f, `one of ${choices.join(', ')}`);
  if (!(choices as readonly unknown[]).includes(v)) failAt(c, f, `must be one of ${choices.join(', ')} (got ${show(v)})`);
  return v as T;
}

/** A size or duration at f, parsed and range-checked; `fmt` writes the limits back in the user's units. */
export function bounded(c: Ctx, f: Field, parse: (v: unknown) => number, min: number, max: number, fmt: (n: number) => string): number {
  const v = scalar(c, f, 'a single value');
  let n: number;
  try {
    n = parse(v);
  } catch (err) {
    return failAt(c, f, (err as Error).message);
  }
  const limits = max === Infinity ? `at least ${fmt(min)}` : `from ${fmt(min)} to ${fmt(max)}`;
  if (n < min || n > max) failAt(c, f, `must be ${limits} (got ${show(v)})`);
  return n;
}
