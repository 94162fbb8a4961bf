// What r2mirror needs of the Node.js it runs on. Node 22 is the floor: the SQLite binding (better-sqlite3 13,
// the one build that is safe on Node 24, where 12 aborts) crashes on Node 20, Node 20 reached end of life in
// April 2026, and the AWS SDK drops it in January 2027. Read by the CLI (which refuses to run a command on an
// older Node) and by `doctor`; and whether stderr is the journal (the CLI asks before it loads any command).
// Must not: import anything but node:fs.

import { fstatSync } from 'node:fs';

/** The oldest Node.js r2mirror supports: [major, minor]. */
export const MIN_NODE = [22, 0] as const;

/** The Node.js line to install when the running one is too old. */
export const RECOMMENDED_NODE = 'Node.js 24 LTS';

/** Whether Node.js `version` ("22.12.0", no "v") is one r2mirror supports. */
export function nodeSupported(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1]);
}

/** "22.0". */
export const MIN_NODE_TEXT = `${MIN_NODE[0]}.${MIN_NODE[1]}`;

/**
 * True when file descriptor `fd` is the stream systemd's journal reads: $JOURNAL_STREAM ("device:inode") names it.
 * A process started under systemd whose stderr was redirected elsewhere (a file, a pipe) inherits the variable
 * but not the stream, hence the check of the descriptor itself (systemd.exec(5)).
 */
export function isJournalStream(journalStream: string | undefined, fd: number): boolean {
  if (!journalStream) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return journalStream === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}
