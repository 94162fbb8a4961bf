// `r2mirror completion bash|zsh|fish`: the shell completion script, generated from the usage texts (help-model.ts),
// so it completes exactly the commands and options --help shows: files after FILE options, directories after
// DIR, the levels after --log-level, cors's actions, command names after `help`.
// Must not: load the SDK, SQLite or a config; print anything but the script (and a usage error).

import { parseArgs } from 'node:util';
import { ExitCode, UsageError, printable } from '../errors.js';
import { LOG_LEVELS } from '../config/schema.js';
import { commandDocs, commonOptions, type CommandDoc, type OptionDoc } from './help-model.js';
import type { Command, CommandContext } from './context.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** What follows an option: a file, a directory, a log level, or a word we cannot guess (a name, a number). */
type ValueKind = 'file' | 'dir' | 'level' | 'other';

function valueKind(o: OptionDoc): ValueKind | undefined {
  if (o.value === undefined) return undefined;
  return o.value === 'FILE' ? 'file' : o.value === 'DIR' ? 'dir' : o.value === 'LEVEL' ? 'level' : 'other';
}

/** The builtin words: `help [COMMAND]` and `version`. */
const BUILTIN_WORDS = ['help', 'version'];

/** A description short enough for a completion menu: up to the first ";" or " (", at most 70 characters. */
function brief(s: string): string {
  const cut = s.split(/; | \(|: /)[0]!.trim();
  return cut.length <= 70 ? cut : cut.slice(0, 69) + '…';
}

const names = (o: OptionDoc) => [...(o.short ? [o.short] : []), o.long];
const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The bash script: one function, `complete -o default` so anything it cannot guess falls back to file names. */
export function bashCompletion(docs: readonly CommandDoc[], common: readonly OptionDoc[]): string {
  const all = docs.flatMap((d) => d.options);
  const withValue = (kind: ValueKind) => [...new Set(all.filter((o) => valueKind(o) === kind).flatMap(names))].join('|');
  const valued = [...new Set(all.filter((o) => o.value !== undefined).flatMap(names))].join('|');
  const commonWords = common.flatMap(names).join(' ');
  const cases = docs.map((d) => `    ${d.name}) words=${sq([...d.actions, ...d.options.flatMap(names), ...common.flatMap(names), '-h', '--help'].join(' '))} ;;`);
  return `# bash completion for r2mirror, generated from its --help by \`r2mirror completion bash\`.
# Now: source <(r2mirror completion bash)
# Always: r2mirror completion bash > ~/.local/share/bash-completion/completions/r2mirror
_r2mirror() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} cmd='' i words
  # the command is the first word that is neither an option nor an option's value (options may come first)
  for ((i = 1; i < COMP_CWORD; i++)); do
    case \${COMP_WORDS[i]} in
      ${valued}) ((i++)) ;;
      -*) ;;
      *) cmd=\${COMP_WORDS[i]}; break ;;
    esac
  done
  case $prev in
    ${withValue('file')}) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
    ${withValue('dir')}) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- "$cur"); return ;;
    ${withValue('level')}) COMPREPLY=($(compgen -W ${sq(LOG_LEVELS.join(' '))} -- "$cur")); return ;;
    ${withValue('other')}) COMPREPLY=(); return ;;
  esac
  case $cmd in
    '') words=${sq([...docs.map((d) => d.name), ...BUILTIN_WORDS, commonWords, '-c', '--config', '-h', '--help', '-V', '--version'].join(' '))} ;;
    help) words=${sq(docs.map((d) => d.name).join(' '))} ;;
${cases.join('\n')}
    *) words='' ;;
  esac
  # after "cors set" comes the policy file: let bash complete file names
  if [[ $cmd == cors && $prev == set ]]; then compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return; fi
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _r2mirror r2mirror
`;
}

/** A zsh `_arguments` spec for one option. */
function zshSpec(o: OptionDoc): string[] {
  const desc = brief(o.description).replace(/[[\]]/g, (c) => `\\${c}`).replace(/:/g, '\\:');
  const kind = valueKind(o);
  const action = kind === 'file' ? '_files' : kind === 'dir' ? '_files -/' : kind === 'level' ? `(${LOG_LEVELS.join(' ')})` : ' ';
  const arg = kind === undefined ? '' : `:${o.value!.toLowerCase()}:${action}`;
  const repeat = o.long === '--verbose' || o.long === '--folder' ? '*' : '';
  return names(o).map((n) => sq(`${repeat}${n}[${desc}]${arg}`));
}

/** The zsh script: an autoloadable `_r2mirror` (put it in $fpath) that also works when sourced. */
export function zshCompletion(docs: readonly CommandDoc[], common: readonly OptionDoc[]): string {
  const valued = [...new Set(docs.flatMap((d) => d.options).filter((o) => o.value !== undefined).flatMap(names))].join('|');
  const cmds = [...docs.map((d) => sq(`${d.name}:${brief(d.summary).replace(/:/g, '\\:')}`)), sq('help:show the help of r2mirror or of a command'), sq('version:print the version')];
  const cases = docs.map((d) => {
    const actions = d.name === 'cors' ? [sq('1:action:(get set clear)'), sq('2:policy file:_files')] : d.actions.length ? [sq(`1:${d.name === 'completion' ? 'shell' : 'action'}:(${d.actions.join(' ')})`)] : [];
    const specs = [...d.options.flatMap(zshSpec), ...common.flatMap(zshSpec), ...actions];
    return `    ${d.name})\n      _arguments -s \\\n        ${specs.join(' \\\n        ')}\n      ;;`;
  });
  return `#compdef r2mirror
# zsh completion for r2mirror, generated from its --help by \`r2mirror completion zsh\`.
# Always: r2mirror completion zsh > "\${fpath[1]}/_r2mirror"   Now: source <(r2mirror completion zsh)
_r2mirror() {
  local -a commands
  commands=(
    ${cmds.join('\n    ')}
  )
  # the command is the first word that is neither an option nor an option's value (options may come first)
  local i cmd=''
  for (( i = 2; i < CURRENT; i++ )); do
    case \${words[i]} in
      (${valued}) (( i++ )) ;;
      (-*) ;;
      (*) cmd=\${words[i]}; break ;;
    esac
  done
  if [[ -z $cmd ]]; then
    _describe -t commands 'r2mirror command' commands
    return
  fi
  # from here on the command is words[1], as _arguments expects
  (( CURRENT -= i - 1 )); shift $(( i - 1 )) words
  case $cmd in
    help) _describe -t commands 'r2mirror command' commands ;;
${cases.join('\n')}
  esac
}
if [[ \${zsh_eval_context[-1]} == loadautofunc ]]; then _r2mirror "$@"; else compdef _r2mirror r2mirror; fi
`;
}

/** The fish script: one `complete` line per command and option. */
export function fishCompletion(docs: readonly CommandDoc[], common: readonly OptionDoc[]): string {
  const all = [...docs.map((d) => d.name), ...BUILTIN_WORDS].join(' ');
  const lines = [
    `# fish completion for r2mirror, generated from its --help by \`r2mirror completion fish\`.`,
    `# Always: r2mirror completion fish > ~/.config/fish/completions/r2mirror.fish   Now: r2mirror completion fish | source`,
    'complete -c r2mirror -f',
    ...docs.map((d) => `complete -c r2mirror -n ${sq(`not __fish_seen_subcommand_from ${all}`)} -a ${d.name} -d ${sq(brief(d.summary))}`),
    `complete -c r2mirror -n ${sq(`not __fish_seen_subcommand_from ${all}`)} -a help -d 'show the help of r2mirror or of a command'`,
    `complete -c r2mirror -n ${sq(`not __fish_seen_subcommand_from ${all}`)} -a version -d 'print the version'`,
    `complete -c r2mirror -n ${sq('__fish_seen_subcommand_from help')} -a ${sq(docs.map((d) => d.name).join(' '))}`,
  ];
  for (const d of docs) {
    const when = `__fish_seen_subcommand_from ${d.name}`;
    if (d.actions.length) lines.push(`complete -c r2mirror -n ${sq(`${when}; and not __fish_seen_subcommand_from ${d.actions.join(' ')}`)} -a ${sq(d.actions.join(' '))}`);
    if (d.name === 'cors') lines.push(`complete -c r2mirror -n ${sq(`${when}; and __fish_seen_subcommand_from set`)} -F`);
    for (const o of [...d.options, ...common]) {
      const kind = valueKind(o);
      const arg = kind === 'file' ? ' -r -F' : kind === 'dir' ? " -x -a '(__fish_complete_directories)'" : kind === 'level' ? ` -x -a ${sq(LOG_LEVELS.join(' '))}` : kind === 'other' ? ' -x' : '';
      lines.push(`complete -c r2mirror -n ${sq(when)}${o.short ? ` -s ${o.short.slice(1)}` : ''} -l ${o.long.slice(2)}${arg} -d ${sq(brief(o.description))}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** The script for `shell`. */
export function completionScript(shell: Shell): string {
  const docs = commandDocs();
  const common = commonOptions();
  return shell === 'bash' ? bashCompletion(docs, common) : shell === 'zsh' ? zshCompletion(docs, common) : fishCompletion(docs, common);
}

/** Parse the arguments after `completion`. Throws UsageError. */
export function parseCompletionArgs(argv: readonly string[]): Shell {
  let positionals: string[];
  try {
    // -q/-v as every command takes them (they change nothing here); not common.ts's parser, which loads the SDK
    ({ positionals } = parseArgs({ args: [...argv], options: { quiet: { type: 'boolean', short: 'q' }, verbose: { type: 'boolean', short: 'v', multiple: true } }, allowPositionals: true, strict: true }));
  } catch (err) {
    throw new UsageError(`completion: ${(err as Error).message}`);
  }
  if (positionals.length > 1) throw new UsageError(`completion: unexpected argument "${positionals[1]}"`);
  const shell = positionals[0];
  if (shell === undefined) throw new UsageError(`completion: name the shell (${SHELLS.join(', ')}): r2mirror completion bash`);
  if (!(SHELLS as readonly string[]).includes(shell)) throw new UsageError(`completion: no completion for "${shell}" (shells: ${SHELLS.join(', ')})`);
  return shell as Shell;
}

export const completionCommand: Command = {
  name: 'completion',
  run: async (ctx: CommandContext) => {
    try {
      ctx.stdout.write(completionScript(parseCompletionArgs(ctx.args)));
      return ExitCode.OK;
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      ctx.stderr.write(`r2mirror: ${printable(err.message)}\nTry "r2mirror --help".\n`);
      return ExitCode.USAGE;
    }
  },
};
