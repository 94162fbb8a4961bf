// Every command's usage block for `--help`, kept apart from the commands so that `r2mirror --help`, `help
// COMMAND` and `--version` answer without loading a command, the AWS SDK or SQLite (src/cli.ts loads a command
// only to run it).
// Must not: import anything heavier than the config defaults.

import { DEFAULTS } from '../config/schema.js';

/** The block each command contributes to `r2mirror --help`: usage line(s) and its options, indented. */
export const USAGE = {
  sync: `  r2mirror sync [options]      reconcile every folder once, then exit with a summary
    -c, --config FILE        config file (default: $R2MIRROR_CONFIG, ~/.config/r2mirror/config.yaml, /etc/r2mirror/config.yaml)
    -f, --folder NAME        only this folder (repeat for several)
    -n, --dry-run            print the plan and the R2 operations it would spend; change nothing
        --json               print the summary as one JSON object on stdout
        --max-delete N|P%    override maxDelete for this run (e.g. 5000 or 100%)
        --trust-state        compare with the state DB alone, sending no LIST, where the bucket was listed less than
                             daemon.verifyInterval ago and no unclean stop since (cheap cron syncs); else list
        --allow-empty        allow deleting when a folder is empty, or a disk mounted in it is gone, but objects exist (you really removed them)
        --bwlimit RATE       at most RATE bytes per second each way, all transfers together: 10MiB, off, or a
                             schedule "08:00,2MiB 19:00,off" (default: the config's bandwidth, else none)
        --progress           draw the progress line even when stderr is not a terminal (then a plain line every 5 s)
        --no-progress        never draw it (default: on a terminal, unless -q)
        --log-level LEVEL    fatal|error|warn|info|debug|trace|silent (default: warn on a terminal, else config logLevel, ${DEFAULTS.logLevel})
`,
  daemon: `  r2mirror daemon [options]    watch the folders and mirror every change until stopped (systemd: Type=notify)
    -c, --config FILE        config file (as for sync); SIGHUP reloads it (an invalid new one is refused, logged)
        --log-level LEVEL    as for sync, but info on a terminal: a line per change mirrored
                             SIGTERM/SIGINT: finish running uploads (daemon.stopTimeout), then exit 0
`,
  status: `  r2mirror status [options]    what is mirrored, pending and failing per folder; works with or without the daemon
    -c, --config FILE        config file (as for sync); needs no credentials and sends no request
        --json               one JSON object on stdout
`,
  verify: `  r2mirror verify [options]    compare bucket, state DB and disk per key (size, ETag); exit 0 only if all agree
    -c, --config FILE        config file (default: $R2MIRROR_CONFIG, ~/.config/r2mirror/config.yaml, /etc/r2mirror/config.yaml)
    -f, --folder NAME        only this folder (repeat for several)
        --json               print per-folder counts and every difference as one JSON object on stdout
        --log-level LEVEL    fatal|error|warn|info|debug|trace|silent
                             costs one LIST (Class A) per 1,000 keys, no HEAD or GET; reads only files whose
                             row is stale or missing; changes nothing but its result in the state DB
`,
  restore: `  r2mirror restore --folder NAME --to DIR [options]
                               download a mirrored folder from the bucket into DIR, verifying every file
    -c, --config FILE        config file (default: $R2MIRROR_CONFIG, ~/.config/r2mirror/config.yaml, /etc/r2mirror/config.yaml)
    -f, --folder NAME        the folder to restore (as named in the config)
        --to DIR             where to write the files (created if missing; may be the folder itself)
        --prefix P           only keys under P, relative to the folder's prefix (e.g. photos/2024/)
        --force              replace existing files whose content differs (default: leave them, exit 1)
        --from-trash         from the folder's trash (deletes: trash) instead of its mirror: bring back deleted files
    -n, --dry-run            list what would be downloaded or replaced; write nothing
        --json               print the summary as one JSON object on stdout
        --bwlimit RATE       as for sync (downloads are paced as uploads are)
        --progress           as for sync
        --no-progress        as for sync
        --log-level LEVEL    fatal|error|warn|info|debug|trace|silent
`,
  init: `  r2mirror init [options]      write a commented config file for one folder (asks on a terminal for what is missing)
    -c, --config FILE        the file to write (default: $R2MIRROR_CONFIG, else ~/.config/r2mirror/config.yaml, root's
                             /etc/r2mirror/config.yaml); never overwritten
        --account-id ID      Cloudflare account ID (32 hex characters) ...
        --endpoint URL       ... or the URL of another S3-compatible server
        --bucket NAME        the bucket
        --path DIR           the local folder to mirror
        --prefix P           key prefix inside the bucket (default: none, the whole bucket)
        --name NAME          the folder's name in logs and the state DB (default: the folder's base name)
        --force-stdout       print the config on stdout instead of writing a file
        --json               print what was written as one JSON object on stdout
`,
  doctor: `  r2mirror doctor [options]    check the set-up, say how to fix what fails (reads only; exit 1 when a check fails)
    -c, --config FILE        config file (default: $R2MIRROR_CONFIG, ~/.config/r2mirror/config.yaml, /etc/r2mirror/config.yaml)
        --json               print { ok, checks: [{ name, status, detail, fix }] } on stdout
`,
  presign: `  r2mirror presign PATH|KEY [options]
                               print a presigned download (or upload) URL for a mirrored file or an object key
    -c, --config FILE        config file (default: $R2MIRROR_CONFIG, ~/.config/r2mirror/config.yaml, /etc/r2mirror/config.yaml)
    -f, --folder NAME        the folder (bucket) of a bare KEY, or the folder a PATH must be in
        --put                an upload link instead of a download link
        --content-type TYPE  with --put: the upload must send this Content-Type (signed; another type gets 403)
        --expires DURATION   validity, 1s..7d (30s, 15m, 1h, 7d; a bare number is seconds; default 1h)
        --json               print {url, method, bucket, key, expiresAt, contentType} as one JSON object
`,
  cors: `  r2mirror cors get|set FILE|clear [options]
                               show, replace (from a JSON policy file) or remove a bucket's CORS policy
    -c, --config FILE        config file (default: $R2MIRROR_CONFIG, ~/.config/r2mirror/config.yaml, /etc/r2mirror/config.yaml)
    -b, --bucket NAME        the bucket (default: the bucket of the folders, when they use only one)
        --json               set/clear: print {bucket, action, rules} as one JSON object (get prints JSON anyway)
`,
  ls: `  r2mirror ls [BUCKET[/PREFIX]] [options]
                               list objects (date, size, ETag, key); default: each folder's bucket/prefix
    -c, --config FILE        config file (default: $R2MIRROR_CONFIG, ~/.config/r2mirror/config.yaml, /etc/r2mirror/config.yaml)
    -r, --recursive          everything under the prefix, not just one level (no PRE lines)
        --json               one JSON array of {bucket, key, size, lastModified, etag} and {bucket, prefix}
`,
  buckets: `  r2mirror buckets [options]   list the buckets the credentials can see, with their creation dates
    -c, --config FILE        config file (default: $R2MIRROR_CONFIG, ~/.config/r2mirror/config.yaml, /etc/r2mirror/config.yaml)
        --json               one JSON array of {name, creationDate}
`,
  completion: `  r2mirror completion bash|zsh|fish
                               print the shell completion script (bash: source <(r2mirror completion bash); see README)
`,
} as const satisfies Record<string, string>;

/** What `r2mirror --help` says after the commands: the options every command takes, credentials, output, exit codes. */
export const GENERAL = `Every command also takes:
    -q, --quiet              errors only: no progress line, no log line below error, no summary or note unless
                             something failed (the exit code says how it went)
    -v, --verbose            more log lines: -v a line per file (info), -vv debug, -vvv trace (--log-level wins)

Credentials: remote.credentialsFile, R2_ACCESS_KEY_ID / R2_SECRET_ACCESS_KEY (or AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY [+ AWS_SESSION_TOKEN]), systemd's $CREDENTIALS_DIRECTORY/credentials, or the
AWS_PROFILE section of ~/.aws/credentials.

Options may come before the command: r2mirror -c FILE sync is r2mirror sync -c FILE.
Output: a progress line on a terminal; JSON log lines (pino) on stderr otherwise; results on stdout.
Exit codes: 0 all done, 1 some files failed, deletes were refused or verify found differences, 2 usage,
75 endpoint unreachable or state DB busy, 78 configuration (bad file, credentials rejected, missing bucket,
unusable state DB), 130 interrupted by SIGINT (Ctrl-C), 143 stopped by SIGTERM.
`;

/** The usage block of the commands that are not in USAGE's table: help and version. */
export const BUILTINS = `  r2mirror help [COMMAND]      show this help, or one command's (also: r2mirror COMMAND --help)
  r2mirror version             print the version (also: --version)
`;
