// Keeps the architecture README promises true by reading src/**/*.ts: plan and policy import types only; local,
// remote and state never import each other or anything above them; commands/ hold no engine; only errors.ts reads
// SDK error shapes; only local/place.ts writes files; only cli.ts touches `process`; no default exports; no import
// cycles; every file's header says what it does and what it must not do; classes <= 200 lines, functions <= 60
// unless a `// long because:` says why; log calls use constant messages. The checkers are tested on small
// snippets first so a broken regex cannot pass vacuously.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

/** src-relative, '/'-separated paths of every .ts file under src/. */
const FILES = readdirSync(SRC, { recursive: true, encoding: 'utf8' })
  .map((f) => f.split(/[\\/]/).join('/'))
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .sort();
const text = (f: string): string => readFileSync(join(SRC, f), 'utf8');

interface Import {
  /** The whole statement, e.g. `import type { X } from './x.js'`. */
  readonly statement: string;
  readonly specifier: string;
  readonly typeOnly: boolean;
  readonly dynamic: boolean;
}

/** Static imports/re-exports (possibly spanning lines), side-effect imports and dynamic import() calls. */
function importsOf(source: string): Import[] {
  const out: Import[] = [];
  for (const m of source.matchAll(/^[ \t]*(import|export)\b([^;'"]*?)\bfrom\s*['"]([^'"]+)['"]/gm)) {
    out.push({ statement: m[0].trim(), specifier: m[3]!, typeOnly: /^\s*type\b/.test(m[2]!), dynamic: false });
  }
  for (const m of source.matchAll(/^[ \t]*import\s*['"]([^'"]+)['"]/gm)) {
    out.push({ statement: m[0].trim(), specifier: m[1]!, typeOnly: false, dynamic: false });
  }
  for (const m of source.matchAll(/\bimport\(\s*['"`]([^'"`]+)['"`]\s*\)/g)) {
    out.push({ statement: m[0], specifier: m[1]!, typeOnly: false, dynamic: true });
  }
  return out;
}

/** The src-relative file a relative specifier points at (`../keys.js` from `local/scan.ts` -> `keys.ts`). */
function resolveIn(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined; // a package or node: builtin
  return posix.normalize(posix.join(posix.dirname(from), specifier)).replace(/\.js$/, '.ts');
}

/** Source without comments and string/template contents (good enough for our own code, not a parser). */
function codeOnly(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"|`(?:\\.|[^`\\])*`/g, (m) =>
    m.startsWith('/') ? ' ' : m[0]! + m[0]!);
}

/** Uses of the global `process` object (not `NodeJS.Process…` types, not a property named process). */
function processUses(source: string): string[] {
  const code = codeOnly(source);
  const uses = [...code.matchAll(/(?<![\w$.])process\s*(?:\?\.|\.|\[)/g)].map((m) => m[0]);
  if (/['"]node:process['"]|['"]process['"]/.test(source.replace(/\/\/[^\n]*/g, ''))) uses.push("import of 'process'");
  return uses;
}

const hasDefaultExport = (source: string): boolean =>
  /^[ \t]*export\s+default\b/m.test(codeOnly(source)) || /\bas\s+default\b/.test(codeOnly(source));

const LAYERS = ['local', 'remote', 'state'] as const;
const layerOf = (f: string): string | undefined => LAYERS.find((l) => f.startsWith(`${l}/`));

// --- the checkers themselves -------------------------------------------------------------------------------

test('importsOf reads single-line, multi-line, type-only, side-effect and dynamic imports', () => {
  const src = [
    "import fs from 'node:fs';",
    "import type { A } from './a.js';",
    'import {',
    '  B,',
    '  type C,',
    "} from '../b.js';",
    "export type { D } from './d.js';",
    "export { E } from './e.js';",
    "import './side-effect.js';",
    "const m = await import('./lazy.js');",
    "const s = 'import x from \"./not-at-line-start.js\"';",
  ].join('\n');
  const got = importsOf(src).map((i) => [i.specifier, i.typeOnly, i.dynamic]);
  assert.deepEqual(got, [
    ['node:fs', false, false], ['./a.js', true, false], ['../b.js', false, false], ['./d.js', true, false],
    ['./e.js', false, false], ['./side-effect.js', false, false], ['./lazy.js', false, true],
  ]);
  assert.equal(resolveIn('local/scan.ts', '../keys.js'), 'keys.ts');
  assert.equal(resolveIn('local/scan.ts', '../state/store.js'), 'state/store.ts');
  assert.equal(resolveIn('plan.ts', './local/scan.js'), 'local/scan.ts');
  assert.equal(resolveIn('plan.ts', 'p-queue'), undefined);
});

test('processUses finds real uses only', () => {
  assert.deepEqual(processUses('const x = process.env.HOME;'), ['process.']);
  assert.deepEqual(processUses("process['exit'](1)"), ['process[']);
  assert.deepEqual(processUses('process?.exitCode'), ['process?.']);
  assert.deepEqual(processUses('  process.exitCode = 1;'), ['process.']);
  assert.deepEqual(processUses("import proc from 'node:process';"), ["import of 'process'"]);
  assert.deepEqual(processUses('function f(env: NodeJS.ProcessEnv, p: NodeJS.Process) {}'), []);
  assert.deepEqual(processUses('this.process.kill(); childProcess.pid; const processed = 1;'), []);
  assert.deepEqual(processUses('// only the CLI calls process.exit()\n/* process.env */\nconst s = "process.env";'), []);
});

test('hasDefaultExport and codeOnly', () => {
  assert.equal(hasDefaultExport('export default function f() {}'), true);
  assert.equal(hasDefaultExport('class A {}\nexport { A as default };'), true);
  assert.equal(hasDefaultExport('export function f() {}\n// export default is not used here'), false);
  assert.equal(codeOnly("a('x // y'); // z"), "a('');  ");
});

// --- the rules -----------------------------------------------------------------------------------------------

test('src/ holds the modules the architecture names', () => {
  for (const f of ['cli.ts', 'plan.ts', 'errors.ts', 'keys.ts', 'transfer.ts', 'local/scan.ts', 'local/hash.ts', 'remote/bucket.ts', 'state/store.ts', 'state/schema.ts']) {
    assert.ok(FILES.includes(f), `src/${f} is missing (found: ${FILES.join(', ')})`);
  }
});

test('plan.ts imports types only (`import type`), so it stays pure', () => {
  const imports = importsOf(text('plan.ts'));
  assert.ok(imports.length > 0, 'plan.ts imports nothing? the checker is broken');
  const bad = imports.filter((i) => !i.typeOnly || i.dynamic).map((i) => i.statement);
  assert.deepEqual(bad, [], 'plan.ts must only use `import type` (an `import { type X }` still loads the module)');
});

test('src/local, src/remote and src/state never import each other', () => {
  const bad: string[] = [];
  let checked = 0;
  for (const f of FILES) {
    const from = layerOf(f);
    if (!from) continue;
    for (const i of importsOf(text(f))) {
      const target = resolveIn(f, i.specifier);
      if (!target) continue;
      checked++;
      const to = layerOf(target);
      if (to && to !== from) bad.push(`src/${f}: ${i.statement}`);
    }
  }
  assert.ok(checked > 0, 'no relative imports found in the layers: the checker is broken');
  assert.deepEqual(bad, []);
});

test('relative imports point at files that exist (with the .js suffix NodeNext needs)', () => {
  const bad: string[] = [];
  for (const f of FILES) {
    for (const i of importsOf(text(f))) {
      const target = resolveIn(f, i.specifier);
      if (target === undefined) continue;
      if (!i.specifier.endsWith('.js') || !FILES.includes(target)) bad.push(`src/${f}: ${i.specifier}`);
    }
  }
  assert.deepEqual(bad, []);
});

test('only src/cli.ts touches `process` (NodeJS.* types are fine)', () => {
  // One reviewed exception: state/sqlite.ts reads the Node version (nothing else) to pick the safe
  // better-sqlite3 build; reading the runtime's version has no side effect on the process.
  const allowed = (f: string, source: string) =>
    f === 'state/sqlite.ts' && /^import \{ versions \} from 'node:process';$/m.test(source) && !/process\s*[.[]/.test(source.replace(/\/\/[^\n]*/g, ''));
  const bad = FILES.filter((f) => f !== 'cli.ts' && !allowed(f, text(f)))
    .flatMap((f) => processUses(text(f)).map((u) => `src/${f}: ${u}`));
  assert.deepEqual(bad, []);
  assert.ok(processUses(text('cli.ts')).length > 0, 'cli.ts should own the process (signals, exit codes)');
});

test('no default exports in src/', () => {
  assert.deepEqual(FILES.filter((f) => hasDefaultExport(text(f))), []);
});

test('every src file opens with a `//` comment line (after an optional shebang)', () => {
  const bad = FILES.filter((f) => {
    const lines = text(f).split('\n');
    const first = lines[0]?.startsWith('#!') ? lines[1] : lines[0];
    return !/^\/\/ \S/.test(first ?? '');
  });
  assert.deepEqual(bad, []);
});
// --- sizes ----------------------------------------------------------------------------------------------------

/** Source with comments, strings, templates and regex literals blanked (newlines kept, so lines still count). */
function blanked(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*|(?<=[=(,:[!&|?{};]\s*)\/(?![*/])(?:\\.|\[(?:\\.|[^\]\\\n])*\]|[^/\\\n[])+\/[a-z]*|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"|`(?:\\.|[^`\\])*`/g, (m) =>
    m.startsWith('/') ? m.replace(/[^\n]/g, ' ') : m[0]! + m.slice(1, -1).replace(/[^\n]/g, ' ') + m[0]!);
}

interface Block { readonly kind: 'class' | 'function'; readonly name: string; readonly line: number; readonly lines: number }

/** Classes, functions, methods and `const f = (...) => {` with their length in lines (a brace matcher, not a parser). */
function blocksOf(source: string): Block[] {
  const code = blanked(source);
  const lines = code.split('\n');
  const starts = [0];
  for (let i = 0; i < code.length; i++) if (code[i] === '\n') starts.push(i + 1);
  const lineAt = (off: number) => {
    let lo = 0, hi = starts.length - 1;
    while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (starts[mid]! <= off) lo = mid; else hi = mid - 1; }
    return lo;
  };
  const CLASS = /^\s*(?:export\s+)?(?:abstract\s+)?class\s+([\w$]+)/;
  const FUNC = /^\s*(?:export\s+)?(?:async\s+)?function\s*\*?\s*([\w$]+)/;
  const ARROW = /^\s*(?:export\s+)?(?:const|let)\s+([\w$]+)\s*(?::[^=]+)?=\s*(?:async\s+)?(?:\([^)]*\)|[\w$]+)\s*(?::[^=]+)?=>\s*\{/;
  const METHOD = /^\s*(?:(?:public|private|protected|static|async|override|readonly|get|set)\s+)*(#?[\w$]+)\s*(?:<[^>]*>)?\s*\(/;
  const NOT_METHODS = new Set(['if', 'for', 'while', 'switch', 'catch', 'return', 'function', 'await', 'new', 'typeof', 'super', 'else']);
  const out: Block[] = [];
  lines.forEach((l, i) => {
    let m: RegExpMatchArray | null;
    let kind: Block['kind'] | undefined;
    if ((m = l.match(CLASS))) kind = 'class';
    else if ((m = l.match(FUNC)) || (m = l.match(ARROW))) kind = 'function';
    else if ((m = l.match(METHOD)) && !NOT_METHODS.has(m[1]!) && /\)\s*(?::[^;]*)?\{\s*$/.test(l)) kind = 'function';
    if (!kind || !m) return;
    // The body opens at the end of the first line (from here on) where the parentheses balance and that ends in '{'.
    let parens = 0;
    let open = -1;
    for (let n = i; n < lines.length && open < 0; n++) {
      for (const c of lines[n]!) if (c === '(') parens++; else if (c === ')') parens--;
      if (parens === 0 && /\{\s*$/.test(lines[n]!)) open = starts[n]! + lines[n]!.lastIndexOf('{');
      else if (parens === 0 && /;\s*$/.test(lines[n]!)) return; // a declaration without a body
    }
    if (open < 0) return;
    let depth = 0;
    let k = open;
    for (; k < code.length; k++) if (code[k] === '{') depth++; else if (code[k] === '}' && --depth === 0) break;
    out.push({ kind, name: m[1]!, line: i + 1, lines: lineAt(k) - i + 1 });
  });
  return out;
}

/** The argument list of every logger call (`log.info(…)`, `this.log[level](…)`), as source text. */
function logCalls(source: string): { line: number; args: string }[] {
  const code = codeKeepingStrings(source);
  const out: { line: number; args: string }[] = [];
  for (const m of code.matchAll(/\b(?:log|logger|flog|#log)\??(?:\.(?:trace|debug|info|warn|error|fatal)|\[[^\]\n]+\])\(/g)) {
    let depth = 1;
    let i = m.index! + m[0].length;
    for (; i < code.length && depth > 0; i++) if ('([{'.includes(code[i]!)) depth++; else if (')]}'.includes(code[i]!)) depth--;
    out.push({ line: source.slice(0, m.index).split('\n').length, args: code.slice(m.index! + m[0].length, i - 1) });
  }
  return out;
}

/** Source with comments blanked but strings kept (for reading log calls' messages). */
function codeKeepingStrings(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"|`(?:\\.|[^`\\])*`/g, (m) =>
    m.startsWith('/') ? m.replace(/[^\n]/g, ' ') : m);
}

/** The top-level arguments of a call's argument text. */
function topLevelArgs(args: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  let quote: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const c = args[i]!;
    if (quote) { cur += c; if (c === '\\') cur += args[++i] ?? ''; else if (c === quote) quote = undefined; continue; }
    if (c === "'" || c === '"' || c === '`') quote = c;
    else if ('([{'.includes(c)) depth++;
    else if (')]}'.includes(c)) depth--;
    else if (c === ',' && depth === 0) { out.push(cur.trim()); cur = ''; continue; }
    cur += c;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

/** The `//` lines a file opens with (after an optional shebang). */
function headerOf(source: string): string[] {
  const lines = source.split('\n');
  const out: string[] = [];
  for (const l of lines.slice(lines[0]?.startsWith('#!') ? 1 : 0)) {
    if (!l.startsWith('//')) break;
    out.push(l);
  }
  return out;
}

/** fs functions that write, create, rename or remove. */
const FS_WRITE_NAMES = 'writeFile|appendFile|createWriteStream|rename|mkdir|mkdtemp|utimes|lutimes|futimes|copyFile|cp|rm|rmdir|unlink|link|symlink|chmod|fchmod|chown|truncate|ftruncate|writev?|fsync|fdatasync';
/** Calls of those functions on `fs`/`fsp`/`promises`, or bare when imported by name from node:fs (not `stream.write`). */
function fsWritesIn(source: string): string[] {
  const code = blanked(source);
  const named = new Set(importsOf(source).filter((i) => /^node:fs(\/promises)?$/.test(i.specifier))
    .flatMap((i) => [...(i.statement.match(/\{([^}]*)\}/)?.[1] ?? '').matchAll(/(?:^|,)\s*(?:type\s+)?([\w$]+)/g)].map((m) => m[1]!)));
  const onFs = new RegExp(`\\b(?:fs|fsp|promises)\\.((?:${FS_WRITE_NAMES})(?:Sync)?)\\s*\\(`, 'g');
  const bare = new RegExp(`(?<![.\\w$])((?:${FS_WRITE_NAMES})(?:Sync)?)\\s*\\(`, 'g');
  const found = [...[...code.matchAll(onFs)].map((m) => m[1]!), ...[...code.matchAll(bare)].map((m) => m[1]!).filter((n) => named.has(n))];
  return found.filter((name, i) => found.indexOf(name) === i);
}

test('blocksOf measures classes, functions, methods and arrow functions by their braces', () => {
  const src = [
    'export class A {',            // 1
    '  private x = { a: 1 };',     // 2
    '  async m(a: string): Promise<{ b: number }> {', // 3
    "    const s = '}}}';",        // 4
    '    const r = /[}{]/g;',      // 5
    '    return { b: 1 };',        // 6
    '  }',                         // 7
    '}',                           // 8
    'export function f(',          // 9
    '  a: { x: number },',         // 10
    '): void {',                   // 11
    '  if (a) {',                  // 12
    '  }',                         // 13
    '}',                           // 14
    'const g = async (x: number) => {', // 15
    '  return `${x}}`;',           // 16
    '};',                          // 17
    'declare function h(): void;', // 18
  ].join('\n');
  assert.deepEqual(blocksOf(src).map((b) => [b.kind, b.name, b.line, b.lines]), [
    ['class', 'A', 1, 8], ['function', 'm', 3, 5], ['function', 'f', 9, 6], ['function', 'g', 15, 3],
  ]);
});

test('logCalls and topLevelArgs read a logger call', () => {
  const calls = logCalls("this.log.info({ a: f(1, 2) }, 'done');\nlog[x ? 'error' : 'info']({ rel }, `bad ${rel}`);\n// log.info('comment')");
  assert.deepEqual(calls.map((c) => [c.line, topLevelArgs(c.args)]), [
    [1, ['{ a: f(1, 2) }', "'done'"]], [2, ['{ rel }', '`bad ${rel}`']],
  ]);
});

test('headerOf and fsWritesIn', () => {
  assert.deepEqual(headerOf('#!/usr/bin/env node\n// a\n// Must not: b\n\nimport x;'), ['// a', '// Must not: b']);
  assert.deepEqual(fsWritesIn("import { writeFile } from 'node:fs/promises';\nfs.renameSync(a, b); await fsp.mkdir(d); const s = 'fs.rm(x)'; // unlink(y)\nwriteFile (f, t);"), ['renameSync', 'mkdir', 'writeFile']);
  assert.deepEqual(fsWritesIn('fs.readFileSync(a); fs.statSync(b); this.link.x; relink(); out.write(s); write(s);'), []);
});

// --- the rules of this house --------------------------------------------------------------------------------------

/** What the lower layers and the pure modules may import besides their own layer: the shared base. */
const BASE = (target: string) => ['errors.ts', 'log.ts', 'keys.ts', 'retry.ts', 'clock.ts', 'config.ts'].includes(target) || target.startsWith('config/');
const PURE = ['plan.ts', 'policy.ts', 'verify/compare.ts', 'restore/rules.ts', 'restore/report.ts', 'verify/report.ts'];

test('local/, remote/ and state/ import nothing above them (only their own layer and the base)', () => {
  const bad: string[] = [];
  for (const f of FILES.filter((f) => layerOf(f))) {
    for (const i of importsOf(text(f))) {
      const target = resolveIn(f, i.specifier);
      if (target && layerOf(target) !== layerOf(f) && !BASE(target)) bad.push(`src/${f}: ${i.statement}`);
    }
  }
  assert.deepEqual(bad, []);
});

test('the pure modules (plan, policy, the verify comparison, restore rules) load no module with side effects', () => {
  const bad: string[] = [];
  for (const f of PURE) {
    assert.ok(FILES.includes(f), `src/${f} is gone: update PURE`);
    for (const i of importsOf(text(f))) {
      const target = resolveIn(f, i.specifier);
      // keys.ts is pure too (rules for keys and part sizes); anything else only as a type
      if (!i.typeOnly && target !== 'keys.ts' && !PURE.includes(target ?? '')) bad.push(`src/${f}: ${i.statement}`);
    }
  }
  assert.deepEqual(bad, []);
  for (const f of ['plan.ts', 'policy.ts']) {
    assert.deepEqual(importsOf(text(f)).filter((i) => !i.typeOnly).map((i) => i.statement), [], `${f} imports types only`);
  }
});

test('commands/ parse, call and format: no queues, retry loops, SQLite, transfers or file placement of their own', () => {
  const FORBIDDEN_PACKAGES = ['p-queue', 'better-sqlite3', '@aws-sdk/lib-storage'];
  const forbidden = (target: string) => target === 'retry.ts' || target === 'transfer.ts' || /^(transfer|folder)\//.test(target) ||
    // (init writes its new config file through local/place.ts like everything that writes: it may import it)
    ['local/hash.ts', 'local/open.ts', 'state/db.ts', 'state/sqlite.ts', 'state/statements.ts', 'state/lock.ts'].includes(target);
  const bad: string[] = [];
  for (const f of FILES.filter((f) => f.startsWith('commands/'))) {
    for (const i of importsOf(text(f))) {
      const target = resolveIn(f, i.specifier);
      if (target ? forbidden(target) && !i.typeOnly : FORBIDDEN_PACKAGES.includes(i.specifier)) bad.push(`src/${f}: ${i.statement}`);
      if (i.specifier === '@aws-sdk/client-s3' && !i.typeOnly) bad.push(`src/${f}: ${i.statement} (S3 requests belong in remote/)`);
    }
  }
  assert.deepEqual(bad, []);
});

test('every src file\'s header says what it does and, on a `// Must not:` line, what it must not do', () => {
  const bad = FILES.filter((f) => {
    const h = headerOf(text(f));
    return h.length < 2 || !h.some((l) => /^\/\/ Must not: \S/.test(l)) || !/^\/\/ (?!Must not:)\S/.test(h[0]!);
  });
  assert.deepEqual(bad, []);
});

test('only local/place.ts writes files (temp file, fsync, rename); state/db.ts only its own DB files', () => {
  // state/db.ts creates the state directory and a private read-only copy of the DB (never a mirrored folder)
  const bad = FILES.filter((f) => f !== 'local/place.ts' && f !== 'state/db.ts').flatMap((f) => fsWritesIn(text(f)).map((w) => `src/${f}: ${w}`));
  assert.deepEqual(bad, []);
  assert.ok(fsWritesIn(text('local/place.ts')).includes('rename'), 'place.ts renames temp files into place: the checker is broken');
});

test('no class over 200 lines and no function over 60 without a `// long because:` comment above it', () => {
  const bad: string[] = [];
  let measured = 0;
  for (const f of FILES) {
    const lines = text(f).split('\n');
    for (const b of blocksOf(text(f))) {
      measured++;
      const limit = b.kind === 'class' ? 200 : 60;
      const reason = /\/\/ long because: \S/.test(lines.slice(Math.max(0, b.line - 4), b.line - 1).join('\n'));
      if (b.lines > limit && !reason) bad.push(`src/${f}:${b.line}: ${b.kind} ${b.name} is ${b.lines} lines (limit ${limit})`);
    }
  }
  assert.ok(measured > 300, `only ${measured} blocks measured: the checker is broken`);
  assert.deepEqual(bad, []);
});

test('log calls: a constant message, variable parts as fields, a caught error as { err }', () => {
  const bad: string[] = [];
  let seen = 0;
  for (const f of FILES) {
    for (const c of logCalls(text(f))) {
      seen++;
      const args = topLevelArgs(c.args);
      const msg = args.at(-1) ?? '';
      // a message is a plain string literal; a ternary of two literals is still constant
      const literal = /^(?:'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"|`[^`$]*`)$/;
      const ternary = /^[^?`]+\?\s*'[^'\n]*'\s*:\s*'[^'\n]*'$/.test(msg);
      if (!literal.test(msg) && !ternary &&
        !/\/\/ constant message: \S/.test(text(f).split('\n')[c.line - 2] ?? '')) bad.push(`src/${f}:${c.line}: message ${msg.slice(0, 60)}`);
      if (/\b(?:err|reason):\s*(?:describeError|String)\(\s*err\b/.test(c.args)) bad.push(`src/${f}:${c.line}: log the error as { err }`);
    }
  }
  assert.ok(seen > 30, `only ${seen} log calls found: the checker is broken`);
  assert.deepEqual(bad, []);
});

test('only errors.ts reads the shape of an SDK error ($metadata, httpStatusCode, $fault, .Code, error names)', () => {
  const SHAPES = /\$metadata|\bhttpStatusCode\b|\$fault|\$response|\.Code\b|\bname\s*===\s*'(?:NoSuch\w+|NotFound|AccessDenied|AbortError|\w+Exception|PreconditionFailed)'/g;
  assert.ok(blanked(text('errors.ts')).match(SHAPES), 'errors.ts reads no SDK shape: the checker is broken');
  const bad = FILES.filter((f) => f !== 'errors.ts').flatMap((f) => [...blanked(text(f)).matchAll(SHAPES)].map((m) => `src/${f}: ${m[0]}`));
  assert.deepEqual(bad, []);
});

/** Import cycles among src files (type imports too: a cycle of types is still two files that need each other). */
function cyclesOf(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 'open');
    stack.push(f);
    for (const t of graph.get(f) ?? []) {
      if (state.get(t) === 'open') cycles.push([...stack.slice(stack.indexOf(t)), t]);
      else if (!state.has(t)) visit(t);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of [...graph.keys()].sort()) if (!state.has(f)) visit(f);
  return cycles;
}

test('cyclesOf finds a loop of imports and nothing in a tree', () => {
  assert.deepEqual(cyclesOf(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]])), [['a', 'b', 'c', 'a']]);
  assert.deepEqual(cyclesOf(new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]])), []);
});

test('no two src files import each other, directly or in a ring', () => {
  const graph = new Map(FILES.map((f) => [f, importsOf(text(f)).map((i) => resolveIn(f, i.specifier)).filter((t): t is string => !!t && FILES.includes(t))]));
  assert.ok([...graph.values()].some((ts) => ts.length > 0), 'no imports found: the checker is broken');
  assert.deepEqual(cyclesOf(graph).map((c) => c.join(' -> ')), []);
});
