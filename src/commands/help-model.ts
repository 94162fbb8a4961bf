// The usage texts (usage.ts) read back as data: each command's synopsis, summary and options with their value
// placeholders. Shell completion and the man page are generated from it, so they say what --help says.
// Must not: import anything but usage.ts.

import { GENERAL, USAGE } from './usage.js';

/** One option as --help shows it. */
export interface OptionDoc {
  readonly short?: string | undefined;
  readonly long: string;
  /** The value placeholder (FILE, DIR, NAME, LEVEL, ...), undefined for a flag. */
  readonly value?: string | undefined;
  readonly description: string;
}

/** One command as --help shows it. */
export interface CommandDoc {
  readonly name: string;
  /** `r2mirror sync [options]` */
  readonly synopsis: string;
  readonly summary: string;
  /** Words that may follow the command (cors: get, set, clear; completion: bash, zsh, fish). */
  readonly actions: readonly string[];
  readonly options: readonly OptionDoc[];
  /** Lines under the options that belong to no option (what a signal does, what the command costs). */
  readonly notes: readonly string[];
}

const OPTION = /^ {4}(?:(-\w), | {4})(--[a-z-]+)(?: ([A-Z][A-Z|%]*))?\s{2,}(.*)$/;
const CONTINUATION = /^ {20,}(\S.*)$/;

/**
 * A line of an option's description wraps onto the next only when it ran long; an indented line after a short
 * one is a note of the command's own.
 */
const WRAPPED = 100;

/** Options of one usage block (continuation lines joined to the option before), and the notes among them. */
function optionsAndNotes(block: string): { options: OptionDoc[]; notes: string[] } {
  const out: { short?: string | undefined; long: string; value?: string | undefined; description: string }[] = [];
  const notes: string[] = [];
  let last = 0;
  for (const line of block.split('\n').slice(1)) {
    const m = OPTION.exec(line);
    if (m) {
      out.push({ short: m[1], long: m[2]!, value: m[3] || undefined, description: m[4]!.trim() });
      last = line.length;
      continue;
    }
    const c = CONTINUATION.exec(line);
    if (!c || !out.length) continue;
    if (last >= WRAPPED && !notes.length) out[out.length - 1]!.description += ` ${c[1]}`;
    else if (notes.length && last >= WRAPPED) notes[notes.length - 1] += ` ${c[1]}`;
    else notes.push(c[1]!);
    last = line.length;
  }
  return { options: out, notes };
}

const optionsOf = (block: string): OptionDoc[] => optionsAndNotes(block).options;

/** The command's usage block read back. */
export function commandDoc(name: keyof typeof USAGE): CommandDoc {
  const block: string = USAGE[name];
  const lines = block.split('\n');
  const head = /^ {2}(r2mirror \S+(?: \S+)*?)(?:\s{2,}(.*))?$/.exec(lines[0]!)!;
  // A synopsis too long for one line has its summary on the next
  const summary = head[2] ?? /^\s+(.*)$/.exec(lines[1] ?? '')?.[1] ?? '';
  const synopsis = head[1]!;
  const words = /^r2mirror \S+ ([a-z]+(?:\|[a-z]+)+)\b/.exec(synopsis)?.[1] ?? /^r2mirror \S+ ([a-z]+)\|/.exec(synopsis)?.[1];
  const actions = name === 'cors' ? ['get', 'set', 'clear'] : words ? words.split('|') : [];
  return { name, synopsis, summary: summary.trim(), actions, ...optionsAndNotes(block) };
}

/** Every command, in --help's order. */
export function commandDocs(): CommandDoc[] {
  return (Object.keys(USAGE) as (keyof typeof USAGE)[]).map(commandDoc);
}

/** -q/-v, which every command takes. */
export function commonOptions(): OptionDoc[] {
  return optionsOf(GENERAL.slice(0, GENERAL.indexOf('\n\n')));
}
