// Shell completion and the man page are generated from the usage texts: they must say what --help says, work in
// the shells they are for, and the shipped man page must be the generated one.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HELP } from '../../src/cli.js';
import { completionScript, parseCompletionArgs } from '../../src/commands/completion.js';
import { commandDocs } from '../../src/commands/help-model.js';
import { manPage } from '../../src/commands/manpage.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string; man: string[]; files: string[] };
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const helpOptions = [...HELP.matchAll(/^\s+(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1]!).filter((o) => o !== '--help' && o !== '--version');

test('the usage texts read back: every command and every option of --help', () => {
  const docs = commandDocs();
  assert.deepEqual(docs.map((d) => d.name), [...HELP.matchAll(/^ {2}r2mirror (\w+)/gm)].map((m) => m[1]).filter((n) => n !== 'help' && n !== 'version'));
  const longs = new Set(docs.flatMap((d) => d.options.map((o) => o.long)));
  for (const o of helpOptions) if (o !== '--quiet' && o !== '--verbose') assert.ok(longs.has(o), `${o} not read back`);
  const sync = docs.find((d) => d.name === 'sync')!;
  assert.deepEqual(sync.options.find((o) => o.long === '--config'), { short: '-c', long: '--config', value: 'FILE', description: sync.options[0]!.description });
  assert.match(sync.options.find((o) => o.long === '--trust-state')!.description, /daemon\.verifyInterval ago/, 'continuation lines joined');
  assert.deepEqual(docs.find((d) => d.name === 'cors')!.actions, ['get', 'set', 'clear']);
  assert.deepEqual(docs.find((d) => d.name === 'completion')!.actions, ['bash', 'zsh', 'fish']);
});

test('man/man1/r2mirror.1 is the page generated from --help, shipped in the package, and valid roff', () => {
  const file = path.join(REPO, 'man/man1/r2mirror.1');
  assert.equal(fs.readFileSync(file, 'utf8'), manPage(pkg.version), 'run `npm run man` to regenerate man/man1/r2mirror.1');
  assert.deepEqual(pkg.man, ['./man/man1/r2mirror.1']);
  assert.ok(pkg.files.includes('man'));
  const page = manPage(pkg.version);
  for (const d of commandDocs()) assert.ok(page.includes(`.SS "${d.synopsis.replace(/-/g, '\\-')}"`), `the page lacks ${d.name}`);
  for (const o of helpOptions) assert.ok(page.includes(`\\fB${o.replace(/-/g, '\\-')}\\fR`), `the page lacks ${o}`);
  for (const code of ['0', '1', '2', '75', '78', '130', '143']) assert.match(page, new RegExp(`^\\.B ${code}$`, 'm'));
  if (!has('groff')) return;
  const r = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z', file], { encoding: 'utf8' });
  assert.equal(r.stderr, '', 'groff warnings');
  const text = spawnSync('groff', ['-man', '-Tutf8', '-rLL=100n', file], { encoding: 'utf8' }).stdout.replace(/.\x08/g, '');
  assert.match(text, /r2mirror restore --folder NAME --to DIR \[options\]/);
  assert.match(text, /--log-level LEVEL/);
});

test('completion: a usage error names the shells; the scripts name every command', () => {
  assert.equal(parseCompletionArgs(['zsh']), 'zsh');
  assert.throws(() => parseCompletionArgs([]), /completion: name the shell \(bash, zsh, fish\)/);
  assert.throws(() => parseCompletionArgs(['tcsh']), /no completion for "tcsh" \(shells: bash, zsh, fish\)/);
  assert.throws(() => parseCompletionArgs(['bash', 'zsh']), /unexpected argument "zsh"/);
  for (const shell of ['bash', 'zsh', 'fish'] as const) {
    const s = completionScript(shell);
    for (const d of commandDocs()) assert.ok(s.includes(d.name), `${shell} lacks ${d.name}`);
  }
});

/** What bash's completion offers for the words typed (the last one being completed). */
function bashOffers(words: string[]): string[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'r2m-comp-'));
  fs.writeFileSync(path.join(dir, 'r2.bash'), completionScript('bash'));
  fs.writeFileSync(path.join(dir, 'My Docs.yaml'), '');
  const script = `source r2.bash; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _r2mirror; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = spawnSync('bash', ['-c', script], { cwd: dir, encoding: 'utf8' });
  fs.rmSync(dir, { recursive: true, force: true });
  assert.equal(r.stderr, '');
  return r.stdout.split('\n').filter(Boolean);
}

test('bash completion: commands, options, values after an option, options before the command', () => {
  assert.deepEqual(bashOffers(['r2mirror', 'sy']), ['sync']);
  assert.deepEqual(bashOffers(['r2mirror', 'sync', '--dr']), ['--dry-run']);
  assert.deepEqual(bashOffers(['r2mirror', 'sync', '--log-level', 'd']), ['debug']);
  assert.deepEqual(bashOffers(['r2mirror', '-c', 'x.yaml', 'sync', '--no']), ['--no-progress'], 'the command after -c FILE');
  assert.deepEqual(bashOffers(['r2mirror', 'help', 'st']), ['status']);
  assert.deepEqual(bashOffers(['r2mirror', 'cors', '']).slice(0, 3), ['get', 'set', 'clear']);
  assert.deepEqual(bashOffers(['r2mirror', 'completion', 'f']), ['fish']);
  assert.deepEqual(bashOffers(['r2mirror', 'restore', '-']).filter((o) => o === '--to' || o === '-q' || o === '--progress'), ['--to', '--progress', '-q']);
  assert.deepEqual(bashOffers(['r2mirror', 'sync', '--config', 'r2.ba']), ['r2.bash'], 'a file after --config');
  assert.deepEqual(bashOffers(['r2mirror', 'sync', '--config', 'My']), ['My Docs.yaml'], 'a name with a space is one completion');
  assert.deepEqual(bashOffers(['r2mirror', 'sync', '--folder', 'x']), [], 'nothing to guess after --folder');
});

test('fish completion (when fish is installed): commands, options, levels', { skip: !has('fish') && 'fish is not installed' }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'r2m-fish-'));
  fs.writeFileSync(path.join(dir, 'r2.fish'), completionScript('fish'));
  const offers = (line: string) => spawnSync('fish', ['--no-config', '-c', `source r2.fish; complete -C ${JSON.stringify(line)}`], { cwd: dir, encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map((l) => l.split('\t')[0]);
  assert.deepEqual(offers('r2mirror sy'), ['sync']);
  assert.deepEqual(offers('r2mirror sync --dr'), ['--dry-run']);
  assert.ok(offers('r2mirror sync --log-level ').includes('debug'));
  assert.deepEqual(offers('r2mirror cors ').sort(), ['clear', 'get', 'set']);
  assert.deepEqual(offers('r2mirror -c x.yaml sync --dr'), ['--dry-run'], 'options before the command');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('zsh completion (when zsh is installed): a real completion in an interactive zsh', { skip: !has('zsh') && 'zsh is not installed' }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'r2m-zsh-'));
  fs.writeFileSync(path.join(dir, '_r2mirror'), completionScript('zsh'));
  // An interactive zsh on a pseudo-terminal (zsh/zpty) with the script on $fpath: type, press Tab, read the line.
  const driver = `zmodload zsh/zpty
setopt extendedglob
zpty -b z 'zsh -f -i'
zpty -w z "fpath=(${dir} \\$fpath); autoload -Uz compinit; compinit -u -D; PS1='> '"
zpty -w -n z "$1"$'\\t'
out=''
# read until the completed line shows (or 10 s): a loaded machine may take seconds for compinit
for i in {1..50}; do
  while zpty -r -t z chunk; do out+=$chunk; done
  [[ \${out//$'\\e'\\[[0-9;?]#[a-zA-Z]/} == *"$2"* ]] && break
  sleep 0.2
done
print -r -- "$out"
zpty -d z`;
  fs.writeFileSync(path.join(dir, 'driver.zsh'), driver);
  const typed = (line: string, expect: string) => spawnSync('zsh', ['-f', path.join(dir, 'driver.zsh'), line, expect], { encoding: 'utf8', timeout: 20_000 }).stdout
    .replace(/\x1b\[[0-9;?]*[a-zA-Z]/g, '');
  assert.match(typed('r2mirror sync --dr', 'sync --dry-run '), /r2mirror sync --dry-run /);
  assert.match(typed('r2mirror verif', 'verify '), /r2mirror verify /);
  assert.match(typed('r2mirror -c x.yaml sync --no-p', 'sync --no-progress '), /r2mirror -c x\.yaml sync --no-progress /, 'options before the command');
  fs.rmSync(dir, { recursive: true, force: true });
});
