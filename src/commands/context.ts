// What a command receives from the CLI instead of `process`: its arguments, environment, streams and stop signal.
// Commands live in src/commands/*.ts; src/cli.ts builds the context and is still the only module touching `process`.
// Must not: hold state of its own; it is a plain description handed to a command.

/** A writable text stream (stdout/stderr in production, a buffer in tests). */
export interface Output {
  write(s: string): unknown;
  readonly isTTY?: boolean | undefined;
  readonly columns?: number | undefined;
}

/** Everything a command may use from its process. */
export interface CommandContext {
  /** The arguments after the command name. */
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly pid: number;
  /** stderr is systemd's journal stream: log lines carry their priority. */
  readonly journal?: boolean | undefined;
  /** The user's id (undefined where the platform has none): `init` writes a user's config, root's in /etc. */
  readonly uid?: number | undefined;
  /** r2mirror's version. */
  readonly version: string;
  /** CLOCK_MONOTONIC in microseconds (systemd's MONOTONIC_USEC). */
  monotonicUsec(): bigint;
  /** The running Node.js version without the "v" ("20.20.2"). */
  readonly nodeVersion: string;
  readonly stdout: Output;
  readonly stderr: Output;
  /** For prompts (`init` on a terminal). */
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean | undefined };
  /** Aborted at the first SIGINT/SIGTERM (the reason names the signal); a second signal exits at once. */
  readonly signal: AbortSignal;
  /**
   * Once `signal` is aborted, the process exits after `ms` even if the command has not returned (with its exit
   * code if it has, else 130 for SIGINT, 143 for SIGTERM): a stop never waits on an await that does not settle.
   */
  stopDeadline(ms: number): void;
  /** Register a SIGHUP handler (the daemon reloads its config); returns a function that removes it. */
  onHangup(fn: () => void): () => void;
}

/** One `r2mirror <name>` command. */
export interface Command {
  readonly name: string;
  /** Resolves to the exit code. */
  run(ctx: CommandContext): Promise<number>;
}
