// The man page r2mirror(1), generated from the usage texts (help-model.ts) so it says what --help says.
// `npm run man` writes man/man1/r2mirror.1, which the package ships (package.json "man"); test/unit/docs.test.ts fails
// when the file and the usage texts disagree.
// Must not: import anything but the usage texts.

import { GENERAL } from './usage.js';
import { commandDocs, commonOptions, type OptionDoc } from './help-model.js';

/** Text for roff: backslashes and hyphens escaped, no line starting with a control character. */
function roff(s: string): string {
  return s.replace(/\\/g, '\\e').replace(/-/g, '\\-').replace(/^([.'])/gm, '\\&$1');
}

/** One option as a tagged paragraph: `-c, --config FILE` then its description. */
function option(o: OptionDoc): string {
  const flags = [o.short, o.long].filter(Boolean).map((n) => `\\fB${roff(n!)}\\fR`).join(', ');
  return `.TP\n${flags}${o.value ? ` \\fI${roff(o.value)}\\fR` : ''}\n${roff(o.description)}\n`;
}

/** The paragraph of GENERAL that starts with `label` ("Credentials:"), without the label, on one line. */
function paragraph(label: string): string {
  const start = GENERAL.indexOf(label);
  const rest = GENERAL.slice(start + label.length);
  const end = rest.search(/\n\n|\n[A-Z][a-z ]+: /);
  return (end < 0 ? rest : rest.slice(0, end)).replace(/\s+/g, ' ').trim();
}

/** The page, for `version`. */
export function manPage(version: string): string {
  const docs = commandDocs();
  const commands = docs.map((d) => `.SS "${roff(d.synopsis)}"\n${roff(d.summary)}\n${d.options.map(option).join('')}` +
    d.notes.map((n) => `.PP\n${roff(n)}\n`).join('')).join('');
  const exits = paragraph('Exit codes:').split(/, (?=\d+ )/).map((e) => {
    const [code, ...what] = e.split(' ');
    return `.TP\n.B ${code}\n${roff(what.join(' ').replace(/\.$/, ''))}\n`;
  }).join('');
  return `.\\" r2mirror(1), generated from r2mirror's --help by \`npm run man\`: edit src/commands/usage.ts, not this file.
.TH R2MIRROR 1 "" "r2mirror ${version}" "User Commands"
.SH NAME
r2mirror \\- mirror local folders to Cloudflare R2 (or any S3\\-compatible bucket)
.SH SYNOPSIS
.B r2mirror
.I command
.RI [ options ]
.br
.B r2mirror help
.RI [ command ]
.br
.B r2mirror version
.SH DESCRIPTION
r2mirror mirrors local folders to a bucket through R2's S3\\-compatible API. It keeps a state database of
what the bucket holds, so a sync sends only what changed and spends as few R2 operations as possible; the
daemon watches the folders and mirrors every change. A missing, unmounted or suddenly empty folder never
turns into deletes.
.PP
${roff(paragraph('Options may come before the command:').replace(/^/, 'Options may come before the command: '))}
${roff(paragraph('Output:').replace(/^/, 'Output: '))}
.SH COMMANDS
${commands}.SH OPTIONS OF EVERY COMMAND
${commonOptions().map(option).join('')}.SH CREDENTIALS
${roff(paragraph('Credentials:'))}
.SH FILES
.TP
.I $R2MIRROR_CONFIG
the config file, when set and no \\fB\\-\\-config\\fR is given
.TP
.I $XDG_CONFIG_HOME/r2mirror/config.yaml
a user's config (\\fI~/.config/r2mirror/config.yaml\\fR when XDG_CONFIG_HOME is not set)
.TP
.I /etc/r2mirror/config.yaml
the system's config, used when no other is found (and root's from \\fBr2mirror init\\fR)
.TP
.I /etc/r2mirror/credentials
the credentials file \\fBr2mirror init\\fR points the config at (chmod 600)
.SH EXIT STATUS
${exits}.SH SEE ALSO
.BR systemd.service (5),
.BR journalctl (1);
config.example.yaml and README.md in the package (every config key, the daemon under systemd, restore)
`;
}
