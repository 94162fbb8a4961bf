// A bucket's CORS policy in R2's JSON format: pure parsing and validation (every message names the file, the
// rule and the field) and formatting, plus get / put / delete through the shared client.
// Must not: read files (commands/cors.ts does); import local/, state/ or anything above remote/; log.

import { DeleteBucketCorsCommand, GetBucketCorsCommand, PutBucketCorsCommand, type S3Client } from '@aws-sdk/client-s3';
import { isNoCorsPolicy } from '../errors.js';

/** The methods an R2 CORS rule may allow. */
export const CORS_METHODS = ['GET', 'PUT', 'POST', 'DELETE', 'HEAD'] as const;
/** One of {@link CORS_METHODS}. */
export type CorsMethod = (typeof CORS_METHODS)[number];

/** One CORS rule, as R2's dashboard JSON (and the S3 API) spells it. */
export interface CorsRule {
  AllowedOrigins: string[];
  AllowedMethods: CorsMethod[];
  AllowedHeaders?: string[];
  ExposeHeaders?: string[];
  MaxAgeSeconds?: number;
  ID?: string;
}

/** A policy file that cannot be used; `problems` holds one line per problem, each naming the file. */
export class CorsPolicyError extends Error {
  override name = 'CorsPolicyError';
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
  }
}

/** Show at most this many problems of one file (the first ones, in file order). */
const MAX_PROBLEMS = 20;
// RFC 9110 token: what a header name may contain ('*' included, which AllowedHeaders uses as a wildcard).
const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// An HTTP Origin header value: scheme://host[:port], no path, no trailing slash; '*' for the host part allowed.
const ORIGIN_RE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s/?#]+$/;

/** Field names of the two accepted layouts: R2's dashboard array and the Cloudflare API's `{ "rules": [...] }`. */
interface Layout {
  readonly keys: readonly string[];
  readonly origins: string;
  readonly methods: string;
  readonly headers: string;
  readonly expose: string;
  readonly maxAge: string;
  readonly id: string;
}
const DASHBOARD: Layout = {
  keys: ['AllowedOrigins', 'AllowedMethods', 'AllowedHeaders', 'ExposeHeaders', 'MaxAgeSeconds', 'ID'],
  origins: 'AllowedOrigins', methods: 'AllowedMethods', headers: 'AllowedHeaders', expose: 'ExposeHeaders', maxAge: 'MaxAgeSeconds', id: 'ID',
};
const API: Layout = {
  keys: ['allowed', 'exposeHeaders', 'maxAgeSeconds', 'id'],
  origins: 'allowed.origins', methods: 'allowed.methods', headers: 'allowed.headers', expose: 'exposeHeaders', maxAge: 'maxAgeSeconds', id: 'id',
};
const API_ALLOWED_KEYS = ['origins', 'methods', 'headers'];

/**
 * Parse and validate a policy file's text. Accepts R2's JSON array of rules (`[{ "AllowedOrigins": [...],
 * "AllowedMethods": [...] }]`) and the Cloudflare API form (`{ "rules": [{ "allowed": { "origins", "methods",
 * "headers" }, "exposeHeaders", "maxAgeSeconds", "id" }] }`). `file` is the name used in messages.
 * Throws CorsPolicyError listing every problem (invalid JSON with line and column, unknown keys, bad values).
 */
export function parseCorsPolicy(text: string, file: string): CorsRule[] {
  const body = text.replace(/^\uFEFF/, '');
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    const e = jsonSyntaxError(body) ?? { line: 1, col: 1, message: String((err as Error).message) };
    throw new CorsPolicyError([`${file}:${e.line}:${e.col}: invalid JSON: ${e.message}`]);
  }
  return validateCorsPolicy(value, file);
}

/** Validate an already parsed policy (see parseCorsPolicy). Rules are numbered from 1 in messages. */
export function validateCorsPolicy(value: unknown, file: string): CorsRule[] {
  const problems: string[] = [];
  let list: unknown[];
  let layout: Layout;
  if (Array.isArray(value)) {
    list = value;
    layout = DASHBOARD;
  } else if (isObject(value) && Array.isArray(value.rules) && Object.keys(value).length === 1) {
    list = value.rules;
    layout = API;
  } else {
    const hint = isObject(value) && 'CORSRules' in value
      ? ' ("CORSRules" is the AWS CLI layout: put its array alone in the file)'
      : isObject(value) && 'rules' in value ? ' ("rules" must be an array and the only key)' : '';
    throw new CorsPolicyError([`${file}: expected an array of CORS rules, or {"rules": [...]} as the Cloudflare API takes it, not ${describe(value)}${hint}`]);
  }
  if (list.length === 0) throw new CorsPolicyError([`${file}: the policy has no rules (to remove a bucket's policy, use r2mirror cors clear)`]);
  const rules = list.map((raw, i) => rule(raw, layout, (msg) => problems.push(`${file}: rule ${i + 1}: ${msg}`)));
  if (problems.length > 0) {
    const shown = problems.slice(0, MAX_PROBLEMS);
    if (problems.length > MAX_PROBLEMS) shown.push(`${file}: ... and ${problems.length - MAX_PROBLEMS} more problems`);
    throw new CorsPolicyError(shown);
  }
  return rules;
}

function rule(raw: unknown, l: Layout, problem: (msg: string) => void): CorsRule {
  if (!isObject(raw)) {
    problem(`must be an object with ${l.origins} and ${l.methods}, not ${describe(raw)}`);
    return { AllowedOrigins: [], AllowedMethods: [] };
  }
  unknownKeys(raw, l.keys, '', problem);
  let fields: Record<string, unknown> = raw;
  if (l === API) {
    if (!('allowed' in raw)) problem('allowed: missing (an object with origins and methods)');
    else if (!isObject(raw.allowed)) problem(`allowed: must be an object with origins and methods, not ${describe(raw.allowed)}`);
    else unknownKeys(raw.allowed, API_ALLOWED_KEYS, 'allowed.', problem);
    const allowed = isObject(raw.allowed) ? raw.allowed : {};
    fields = { 'allowed.origins': allowed.origins, 'allowed.methods': allowed.methods, 'allowed.headers': allowed.headers, ...raw };
  }
  const has = (k: string) => fields[k] !== undefined;
  const out: CorsRule = {
    AllowedOrigins: strings(fields[l.origins], l.origins, true, problem, originProblem),
    AllowedMethods: strings(fields[l.methods], l.methods, true, problem, methodProblem) as CorsMethod[],
  };
  if (has(l.headers)) out.AllowedHeaders = strings(fields[l.headers], l.headers, false, problem, tokenProblem);
  if (has(l.expose)) out.ExposeHeaders = strings(fields[l.expose], l.expose, false, problem, (v) => (v === '*' ? 'is not a header name' : tokenProblem(v)));
  if (has(l.maxAge)) {
    const v = fields[l.maxAge];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) problem(`${l.maxAge}: must be a whole number of seconds, 0 or more (got ${describe(v)})`);
    else out.MaxAgeSeconds = v;
  }
  if (has(l.id)) {
    const v = fields[l.id];
    if (typeof v !== 'string' || v.length === 0 || v.length > 255) problem(`${l.id}: must be a string of 1 to 255 characters (got ${describe(v)})`);
    else out.ID = v;
  }
  return out;
}

function unknownKeys(o: Record<string, unknown>, known: readonly string[], at: string, problem: (msg: string) => void): void {
  for (const k of Object.keys(o)) {
    if (known.includes(k)) continue;
    const lk = k.toLowerCase();
    const near = known.find((x) => x.toLowerCase() === lk) ??
      (lk.length >= 3 ? known.find((x) => x.toLowerCase().startsWith(lk) || lk.startsWith(x.toLowerCase()) || x.toLowerCase().endsWith(lk)) : undefined);
    problem(`unknown key "${at}${k}"${near ? ` (did you mean "${at}${near}"?)` : ''} (keys: ${known.map((x) => at + x).join(', ')})`);
  }
}

/** A list of strings; `required` lists must have at least one entry. Each entry is checked by `check`. */
function strings(v: unknown, field: string, required: boolean, problem: (msg: string) => void, check: (s: string) => string | undefined): string[] {
  if (v === undefined) {
    if (required) problem(`${field}: missing`);
    return [];
  }
  if (!Array.isArray(v)) {
    problem(`${field}: must be a list of strings (["..."]), not ${describe(v)}`);
    return [];
  }
  if (required && v.length === 0) problem(`${field}: must not be empty`);
  const out: string[] = [];
  for (const item of v) {
    if (typeof item !== 'string') {
      problem(`${field}: ${describe(item)} is not a string`);
      continue;
    }
    const bad = item === '' ? 'is empty' : check(item);
    if (bad) problem(`${field}: "${item}" ${bad}`);
    else out.push(item);
  }
  return out;
}

function originProblem(s: string): string | undefined {
  if (s === '*') return undefined;
  if (!ORIGIN_RE.test(s)) return 'is not an origin: use scheme://host[:port] without a path or trailing slash (e.g. https://app.example.com), or *';
  if (s.split('*').length > 2) return 'has more than one * wildcard';
  return undefined;
}

function methodProblem(s: string): string | undefined {
  if ((CORS_METHODS as readonly string[]).includes(s)) return undefined;
  const upper = (CORS_METHODS as readonly string[]).includes(s.toUpperCase()) ? ` (write it in capitals: ${s.toUpperCase()})` : '';
  return `is not one of ${CORS_METHODS.join(', ')}${upper}`;
}

function tokenProblem(s: string): string | undefined {
  return TOKEN_RE.test(s) ? undefined : 'is not a header name';
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
  return `${typeof v} ${String(v)}`;
}

/**
 * Where and why `text` is not valid JSON: line and column (1-based) and a short message, or undefined when it
 * is valid. Its own scanner, because JSON.parse's messages differ between Node versions and Node 20's often
 * give no position at all.
 */
export function jsonSyntaxError(text: string): { line: number; col: number; message: string } | undefined {
  try {
    new JsonScanner(text).document();
    return undefined;
  } catch (err) {
    if (!(err instanceof JsonSyntax)) throw err;
    const before = text.slice(0, err.pos);
    return { line: before.split('\n').length, col: err.pos - before.lastIndexOf('\n'), message: err.message };
  }
}

class JsonSyntax extends Error {
  constructor(readonly pos: number, message: string) {
    super(message);
  }
}

const JSON_LITERAL = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;

/** A recursive-descent JSON checker: throws JsonSyntax at the first character that cannot be JSON. */
class JsonScanner {
  private i = 0;
  constructor(private readonly text: string) {}

  /** One value and nothing after it but whitespace. */
  document(): void {
    this.value();
    this.ws();
    if (this.i < this.text.length) this.fail(`unexpected ${this.found()} after the end of the JSON value`);
  }

  private found(): string {
    return this.i >= this.text.length ? 'the end of the file' : `'${JSON.stringify(this.text[this.i]).slice(1, -1)}'`;
  }

  private fail(message: string): never {
    throw new JsonSyntax(this.i, message);
  }

  private ws(): void {
    const t = this.text;
    while (this.i < t.length && (t[this.i] === ' ' || t[this.i] === '\t' || t[this.i] === '\n' || t[this.i] === '\r')) this.i++;
  }

  private str(): void {
    const t = this.text;
    this.i++; // the opening quote
    for (;;) {
      if (this.i >= t.length) this.fail('unterminated string');
      const c = t.charCodeAt(this.i);
      if (c === 0x22) {
        this.i++;
        return;
      }
      if (c < 0x20) this.fail('control character (a raw line break?) inside a string');
      if (c === 0x5c) {
        this.i++;
        if (t[this.i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(t.slice(this.i + 1, this.i + 5))) this.fail('\\u must be followed by 4 hex digits');
          this.i += 4;
        } else if (!'"\\/bfnrt'.includes(t[this.i] ?? 'x')) this.fail(`invalid escape \\${t[this.i] ?? ''}`);
      }
      this.i++;
    }
  }

  private value(): void {
    this.ws();
    const c = this.text[this.i];
    if (c === '{' || c === '[') return this.container(c);
    if (c === '"') return this.str();
    JSON_LITERAL.lastIndex = this.i;
    const m = JSON_LITERAL.exec(this.text);
    if (!m) this.fail(`expected a value, found ${this.found()}`);
    this.i += m[0].length;
  }

  /** An object or an array, from its opening bracket to its closing one. */
  private container(open: '{' | '['): void {
    const close = open === '{' ? '}' : ']';
    this.i++;
    this.ws();
    if (this.text[this.i] === close) {
      this.i++;
      return;
    }
    for (;;) {
      if (open === '{') this.key();
      this.value();
      this.ws();
      if (this.text[this.i] === ',') {
        this.i++;
        this.ws();
        if (this.text[this.i] === close) this.fail(`unexpected '${close}': JSON allows no comma before it`);
        continue;
      }
      if (this.text[this.i] === close) {
        this.i++;
        return;
      }
      this.fail(`expected ',' or '${close}', found ${this.found()}`);
    }
  }

  /** An object member's `"key":`. */
  private key(): void {
    this.ws();
    if (this.text[this.i] !== '"') this.fail(`expected a "quoted" key, found ${this.found()}`);
    this.str();
    this.ws();
    if (this.text[this.i] !== ':') this.fail(`expected ':' after the key, found ${this.found()}`);
    this.i++;
  }
}

/** A policy as `cors get` prints it: R2's JSON array, two-space indented, fields in a fixed order. */
export function formatCorsPolicy(rules: readonly CorsRule[]): string {
  return JSON.stringify(rules.map(canonical), null, 2) + '\n';
}

function canonical(r: CorsRule): CorsRule {
  const out: CorsRule = { AllowedOrigins: [...r.AllowedOrigins], AllowedMethods: [...r.AllowedMethods] };
  if (r.AllowedHeaders?.length) out.AllowedHeaders = [...r.AllowedHeaders];
  if (r.ExposeHeaders?.length) out.ExposeHeaders = [...r.ExposeHeaders];
  if (r.MaxAgeSeconds !== undefined) out.MaxAgeSeconds = r.MaxAgeSeconds;
  if (r.ID !== undefined && r.ID !== '') out.ID = r.ID;
  return out;
}

/** The bucket's CORS rules, or undefined when it has no policy (GetBucketCors: NoSuchCORSConfiguration). */
export async function getCors(client: S3Client, bucket: string, signal?: AbortSignal): Promise<CorsRule[] | undefined> {
  try {
    const res = await client.send(new GetBucketCorsCommand({ Bucket: bucket }), { abortSignal: signal });
    return (res.CORSRules ?? []).map((r) => canonical({
      AllowedOrigins: r.AllowedOrigins ?? [], AllowedMethods: (r.AllowedMethods ?? []) as CorsMethod[],
      AllowedHeaders: r.AllowedHeaders, ExposeHeaders: r.ExposeHeaders, MaxAgeSeconds: r.MaxAgeSeconds, ID: r.ID,
    }));
  } catch (err) {
    if (isNoCorsPolicy(err)) return undefined;
    throw err;
  }
}

/** Replace the bucket's CORS policy (PutBucketCors). Validate the rules first: this sends them as they are. */
export async function putCors(client: S3Client, bucket: string, rules: readonly CorsRule[], signal?: AbortSignal): Promise<void> {
  await client.send(new PutBucketCorsCommand({ Bucket: bucket, CORSConfiguration: { CORSRules: rules.map(canonical) } }), { abortSignal: signal });
}

/** Remove the bucket's CORS policy (DeleteBucketCors; a bucket without one is fine). */
export async function deleteCors(client: S3Client, bucket: string, signal?: AbortSignal): Promise<void> {
  await client.send(new DeleteBucketCorsCommand({ Bucket: bucket }), { abortSignal: signal });
}
