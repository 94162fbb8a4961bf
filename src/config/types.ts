// The shapes of a validated configuration and of an access key pair: types only, no code.
// Must not: hold values or functions; import anything but types.

/** What a local delete does in the bucket: delete the object, leave it, or move it under trashPrefix. */
export type DeleteMode = 'mirror' | 'keep' | 'trash';
/** pino log levels. */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
/** A bandwidth limit: bytes per second from a time of day on (minutes after local midnight); null: no limit. */
export interface BandwidthEntry {
  readonly minute: number;
  readonly rate: number | null;
}
/** Largest delete plan a reconcile may carry out: an absolute count or a share of the folder's objects. */
export type MaxDelete = { kind: 'count'; count: number } | { kind: 'percent'; percent: number };

/** Where the bucket lives: a resolved endpoint URL, from accountId (+ jurisdiction) or given directly. */
export interface RemoteConfig {
  readonly endpoint: string;
  readonly accountId?: string;
  readonly jurisdiction?: 'eu' | 'fedramp';
  readonly credentialsFile?: string;
}

/** One local folder mirrored to bucket/prefix. Paths are absolute; prefixes are '' or end with '/'. */
export interface FolderConfig {
  readonly name: string;
  readonly path: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly exclude: readonly string[];
  /** Remove objects whose path `exclude` matches (rclone's --delete-excluded); false: leave them alone. */
  readonly deleteExcluded: boolean;
  readonly deletes: DeleteMode;
  readonly trashPrefix: string;
  /** deletes: trash: objects in the trash expire this long (ms) after they were moved there; absent: kept. */
  readonly trashRetention?: number;
  readonly followSymlinks: boolean;
  /** Stay on the root's file system: a disk mounted inside the folder is neither mirrored nor deleted from. */
  readonly oneFileSystem: boolean;
  readonly maxDelete: MaxDelete;
}

/** The whole validated configuration; sizes in bytes, durations in ms, paths absolute. */
export interface Config {
  readonly file: string;
  readonly remote: RemoteConfig;
  readonly state: string;
  readonly transfers: number;
  readonly memory: number;
  readonly partSize?: number;
  readonly retries: number;
  readonly requestTimeout: number;
  readonly logLevel: LogLevel;
  readonly maxDelete: MaxDelete;
  /** The bandwidth limit (each direction, all transfers together), a schedule by time of day; absent: none. */
  readonly bandwidth?: readonly BandwidthEntry[];
  readonly daemon: DaemonConfig;
  /** The Prometheus endpoint of the daemon; absent when not configured. */
  readonly metrics?: { readonly listen: string };
  readonly folders: readonly FolderConfig[];
}

/** Timings of `r2mirror daemon` (all in ms). */
export interface DaemonConfig {
  /** A changed path is uploaded once no event touched it for this long. */
  readonly quietPeriod: number;
  /** ... or after this long, even while events keep coming. */
  readonly maxDelay: number;
  /** A full local rescan (no R2 cost) catches missed events this often. */
  readonly rescanInterval: number;
  /** A full listing of the bucket catches objects changed or removed behind our back this often. */
  readonly verifyInterval: number;
  /** On SIGTERM, in-flight uploads may finish for this long before they are aborted. */
  readonly stopTimeout: number;
  /** Without file watching (inotify limit reached), rescan this often instead. */
  readonly pollInterval: number;
}

/** An access key pair and where it came from (`env R2_ACCESS_KEY_ID`, `file /etc/r2mirror/credentials`). */
export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Temporary credentials' token (AWS_SESSION_TOKEN, aws_session_token). */
  readonly sessionToken?: string;
  readonly source: string;
}

/** The environment variables the config reads (HOME, XDG_STATE_HOME, R2_ACCESS_KEY_ID, ...). */
export type Env = Readonly<Record<string, string | undefined>>;
