// Keeps the architecture's one-way rules true by reading src/**/*.ts: plan imports types only; local, remote and
// state never import each other; only cli.ts touches `process`; no default exports; every file opens with a
// `//` comment. The checkers are tested on small snippets first so a broken regex cannot pass vacuously.

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
