// The "R2 layer" for tests: an HTTP proxy in front of a real S3 server that counts operations by R2 billing
// class, enforces the R2 rules local servers ignore, and injects seeded faults. node:http only; test-only.
import { Agent, createServer, request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How to start an R2Proxy. */
export interface ProxyOptions {
  /** The real S3 server, e.g. http://127.0.0.1:7480. */
  target: string;
  /** Enforce R2 rules (default true); false makes the proxy a pure counter / fault injector. */
  rules?: boolean;
  /**
   * Default true (only with rules on): a write (Put/Copy/CompleteMultipartUpload) arriving less than 1 s after the
   * arrival of the last successful or in-flight write to the same bucket/key gets 429 (R2 error 10058).
   */
  writeRateLimit?: boolean;
  /** Fault plan; default none. */
  faults?: FaultPlan;
  /** false: answer the bucket lifecycle API with 501 NotImplemented, as a server without it does (default true). */
  lifecycle?: boolean;
}

/** A seeded fault schedule: each eligible request is faulted with probability `rate`. */
export interface FaultPlan {
  seed: number;
  /** 0..1 */
  rate: number;
  /** Kinds to choose from (uniformly); default all transient kinds ('403' only when listed). */
  kinds?: FaultKind[];
  /** Which requests are eligible (default all). */
  only?: (op: OpInfo) => boolean;
  /** Stop injecting after this many faults. */
  maxFaults?: number;
  /** Delay for 'slow' faults, default 300 ms. */
  slowMs?: number;
}

/**
 * What a fault does to one request. All but '403' are transient (a retry may succeed); '403' answers
 * AccessDenied like R2 does for a token without the needed permission, and is never chosen by default.
 */
export type FaultKind = '500' | '503' | '429' | '403' | 'reset-request' | 'reset-response' | 'slow';

/** One request as the proxy understands it. */
export interface OpInfo {
  op: string;
  method: string;
  bucket?: string;
  key?: string;
  /** R2 billing class. */
  cls: 'A' | 'B' | 'free';
}

/** One injected fault: the request's number (0-based, counting all requests since the plan was set), op and kind. */
export interface FaultRecord {
  seq: number;
  op: string;
  key?: string;
  kind: FaultKind;
}

const ALL_FAULTS: FaultKind[] = ['500', '503', '429', 'reset-request', 'reset-response', 'slow'];
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

const CLASS_A = new Set([
  'ListBuckets', 'CreateBucket', 'ListObjects', 'ListObjectsV2', 'PutObject', 'CopyObject',
  'CompleteMultipartUpload', 'CreateMultipartUpload', 'ListMultipartUploads', 'UploadPart', 'UploadPartCopy',
  'ListParts', 'PutBucketCors', 'PutBucketLifecycleConfiguration',
]);
const CLASS_B = new Set(['HeadBucket', 'HeadObject', 'GetObject', 'GetBucketCors', 'GetBucketLifecycleConfiguration']);
const WRITES = new Set(['PutObject', 'CopyObject', 'CompleteMultipartUpload']);
/** Query subresources that make a request something other than the plain object/bucket operation. */
const SUBRESOURCES = [
  'acl', 'tagging', 'versioning', 'versions', 'object-lock', 'retention', 'legal-hold', 'policy', 'lifecycle',
  'website', 'location', 'logging', 'notification', 'replication', 'encryption', 'ownershipControls',
  'publicAccessBlock', 'accelerate', 'requestPayment', 'attributes', 'restore', 'select', 'torrent',
];
/** Subresources for features R2 does not implement through the S3 API (answered 501 with rules on). */
const UNIMPLEMENTED_SUBRESOURCES = ['acl', 'tagging', 'versioning', 'object-lock', 'retention', 'legal-hold'];

const CORS_OPS: Record<string, string> = { GET: 'GetBucketCors', PUT: 'PutBucketCors', DELETE: 'DeleteBucketCors' };
const LIFECYCLE_OPS: Record<string, string> = { GET: 'GetBucketLifecycleConfiguration', PUT: 'PutBucketLifecycleConfiguration', DELETE: 'DeleteBucketLifecycle' };

/** Identifies the S3 operation and R2 billing class of a path-style request. */
export function identifyOp(
  method: string,
  rawUrl: string,
  headers: IncomingHttpHeaders = {},
): OpInfo & { query: URLSearchParams } {
  const url = new URL(rawUrl, 'http://proxy.invalid');
  const query = url.searchParams;
  const has = (name: string) => query.has(name);
  const path = url.pathname.replace(/^\//, '');
  const slash = path.indexOf('/');
  const bucket = decode(slash < 0 ? path : path.slice(0, slash)) || undefined;
  const key = slash < 0 || slash === path.length - 1 ? undefined : decode(path.slice(slash + 1));
  const copy = headers['x-amz-copy-source'] !== undefined;
  let op = 'Other';
  const sub = SUBRESOURCES.some(has);
  if (!bucket) {
    if (method === 'GET') op = 'ListBuckets';
  } else if (key === undefined) {
    if (has('cors')) op = CORS_OPS[method] ?? 'Other';
    else if (has('lifecycle')) op = LIFECYCLE_OPS[method] ?? 'Other';
    else if (sub) op = 'Other';
    else if (method === 'PUT') op = 'CreateBucket';
    else if (method === 'DELETE') op = 'DeleteBucket';
    else if (method === 'HEAD') op = 'HeadBucket';
    else if (method === 'POST' && has('delete')) op = 'DeleteObjects';
    else if (method === 'GET' && has('uploads')) op = 'ListMultipartUploads';
    else if (method === 'GET') op = query.get('list-type') === '2' ? 'ListObjectsV2' : 'ListObjects';
  } else if (!sub) {
    if (method === 'GET') op = has('uploadId') ? 'ListParts' : 'GetObject';
    else if (method === 'HEAD') op = 'HeadObject';
    else if (method === 'PUT' && has('uploadId')) op = !has('partNumber') ? 'Other' : copy ? 'UploadPartCopy' : 'UploadPart';
    else if (method === 'PUT') op = copy ? 'CopyObject' : 'PutObject';
    else if (method === 'DELETE') op = has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
    else if (method === 'POST' && has('uploads')) op = 'CreateMultipartUpload';
    else if (method === 'POST' && has('uploadId')) op = 'CompleteMultipartUpload';
  }
  return { op, method, bucket, key, cls: billingClass(op, method), query };
}

function billingClass(op: string, method: string): OpInfo['cls'] {
  if (CLASS_A.has(op)) return 'A';
  if (CLASS_B.has(op)) return 'B';
  if (op !== 'Other') return 'free';
  // Unknown operations: R2 bills by method (PUT/POST/LIST = A, GET/HEAD = B, DELETE free).
  return method === 'GET' || method === 'HEAD' ? 'B' : method === 'DELETE' ? 'free' : 'A';
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** mulberry32: a tiny seeded PRNG, so a fault schedule depends only on the seed and the request order. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** An S3-style error answer: status, <Code>, <Message>. */
interface Rejection {
  status: number;
  code: string;
  message: string;
}

const rejection = (status: number, code: string, message: string): Rejection => ({ status, code, message });

/** Proxy between an S3 client and a real S3 server that behaves, where it matters for r2mirror, like R2. */
export class R2Proxy {
  /** Base URL for clients: http://127.0.0.1:<port>. */
  readonly endpoint: string;
  private readonly target: URL;
  private readonly rules: boolean;
  private readonly writeRateLimit: boolean;
  private readonly agent = new Agent({ keepAlive: true, timeout: 15_000 });
  private byOp: Record<string, number> = {};
  private classCounts = { A: 0, B: 0, free: 0 };
  /** Requests since the fault plan was set. */
  private seq = 0;
  private readonly violationList: string[] = [];
  private readonly keys = new Set<string>();
  /** bucket/key -> arrival time (ms) of the last successful (or in-flight) write. */
  private readonly lastWrite = new Map<string, number>();
  /** uploadId -> partNumber -> size in bytes (undefined: unknown, e.g. UploadPartCopy without a range). */
  private readonly parts = new Map<string, Map<number, number | undefined>>();
  private plan: FaultPlan | undefined;
  private rand: () => number = Math.random;
  private injected = 0;
  private readonly faultRecords: FaultRecord[] = [];
  private closed: Promise<void> | undefined;

  /** ProxyOptions.lifecycle; a test may change it between runs. */
  lifecycle: boolean;

  private constructor(private readonly server: Server, opts: ProxyOptions) {
    const port = (server.address() as AddressInfo).port;
    this.endpoint = `http://127.0.0.1:${port}`;
    this.target = new URL(opts.target);
    this.rules = opts.rules ?? true;
    this.writeRateLimit = opts.writeRateLimit ?? true;
    this.lifecycle = opts.lifecycle ?? true;
    this.setFaults(opts.faults);
  }

  /** Starts a proxy on 127.0.0.1 (random port) in front of opts.target. */
  static async start(opts: ProxyOptions): Promise<R2Proxy> {
    // keepAliveTimeout 0: never close idle client sockets first (the client would see a reset and retry,
    // which would show up in the counts); close() destroys them.
    const server = createServer({ keepAliveTimeout: 0, requestTimeout: 0 });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const proxy = new R2Proxy(server, opts);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      proxy.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) proxy.sendError(req, res, rejection(502, 'ProxyError', String(err)));
        else res.destroy();
      });
    });
    return proxy;
  }

  /** Requests seen since start / resetCounts(), by operation name and by R2 billing class. */
  counts(): { byOp: Record<string, number>; classA: number; classB: number; free: number; total: number } {
    const { A, B, free } = this.classCounts;
    return { byOp: { ...this.byOp }, classA: A, classB: B, free, total: A + B + free };
  }

  /** Zeroes the operation counters (not violations, faults or the write-rate memory). */
  resetCounts(): void {
    this.byOp = {};
    this.classCounts = { A: 0, B: 0, free: 0 };
  }

  /** Every R2 rule break seen so far, human readable. */
  violations(): string[] {
    return [...this.violationList];
  }

  /** Decoded keys of successful writes (PutObject, CopyObject, CompleteMultipartUpload), e.g. to check NFC. */
  keysSeen(): Set<string> {
    return new Set(this.keys);
  }

  /** Faults injected since the current plan was set. */
  faultsInjected(): number {
    return this.injected;
  }

  /** The faults injected since the current plan was set, in order. */
  faultLog(): FaultRecord[] {
    return this.faultRecords.map((r) => ({ ...r }));
  }

  /** Replaces the fault plan (undefined: none); reseeds the PRNG and restarts the fault count and log. */
  setFaults(plan: FaultPlan | undefined): void {
    this.plan = plan;
    this.rand = mulberry32(plan?.seed ?? 0);
    this.injected = 0;
    this.seq = 0;
    this.faultRecords.length = 0;
  }

  /** Stops listening and drops all connections; idempotent. */
  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
      this.agent.destroy();
    });
    return this.closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const seq = this.seq++;
    const info = identifyOp(req.method ?? 'GET', req.url ?? '/', req.headers);
    this.byOp[info.op] = (this.byOp[info.op] ?? 0) + 1;
    this.classCounts[info.cls]++;
    const where = `${info.op} ${info.bucket ?? ''}/${info.key ?? ''}`;

    let body: Buffer | undefined;
    let rollbackWrite = () => {};
    if (!this.lifecycle && info.key === undefined && info.query.has('lifecycle')) {
      // a server without the API, not a request R2 would refuse: answered, but no rule broken
      req.resume();
      return this.sendError(req, res, rejection(501, 'NotImplemented', "Subresource '?lifecycle' not implemented"));
    }
    if (this.rules) {
      const broken = this.checkRequest(info, req.headers);
      if (broken) return this.reject(req, res, where, broken);
      if (info.op === 'CompleteMultipartUpload') {
        body = await readBody(req);
        const partRejection = this.checkParts(info.query.get('uploadId') ?? '', body.toString('utf8'));
        if (partRejection) return this.reject(req, res, where, partRejection);
      }
      if (this.writeRateLimit && WRITES.has(info.op)) {
        const k = `${info.bucket}/${info.key}`;
        const now = Date.now();
        const prev = this.lastWrite.get(k);
        if (prev !== undefined && now - prev < 1000) {
          const why = `R2 allows one write per second to the same key; previous write ${now - prev} ms earlier`;
          return this.reject(req, res, where, rejection(429, 'SlowDown', `Reduce your rate of requests (${why})`));
        }
        this.lastWrite.set(k, now); // reserved now so concurrent writes to the key also count
        rollbackWrite = () => {
          if (this.lastWrite.get(k) !== now) return;
          if (prev === undefined) this.lastWrite.delete(k);
          else this.lastWrite.set(k, prev);
        };
      }
    }

    const fault = this.decideFault(info);
    if (fault) this.faultRecords.push({ seq, op: info.op, key: info.key, kind: fault });
    switch (fault) {
      case '500':
      case '503':
      case '429':
      case '403':
        rollbackWrite();
        req.resume();
        return this.sendError(req, res, faultError(fault));
      case 'reset-request':
        rollbackWrite();
        return resetRequest(req, body !== undefined);
      default:
        return this.forward(req, res, info, { body, rollbackWrite, fault });
    }
  }

  /** Header, key and presign rules that need nothing but the request line and headers. */
  private checkRequest(info: OpInfo & { query: URLSearchParams }, h: IncomingHttpHeaders): Rejection | undefined {
    if (info.key !== undefined && Buffer.byteLength(info.key, 'utf8') > 1024) {
      const bytes = Buffer.byteLength(info.key, 'utf8');
      return rejection(400, 'KeyTooLongError', `Your key is too long (${bytes} bytes; R2 allows 1024)`);
    }
    const notImpl = (what: string) => rejection(501, 'NotImplemented', `${what} not implemented`);
    const acl = h['x-amz-acl'];
    if (acl !== undefined && acl !== 'private') return notImpl(`Header 'x-amz-acl' with value '${acl}'`);
    for (const name of Object.keys(h)) {
      if (name.startsWith('x-amz-grant-') || name === 'x-amz-tagging' || name.startsWith('x-amz-object-lock-')) {
        return notImpl(`Header '${name}'`);
      }
    }
    const sse = String(h['x-amz-server-side-encryption'] ?? '');
    if (sse.startsWith('aws:kms')) return notImpl(`Header 'x-amz-server-side-encryption' with value '${sse}'`);
    const sub = UNIMPLEMENTED_SUBRESOURCES.find((s) => info.query.has(s));
    if (sub && info.method !== 'GET' && info.method !== 'HEAD') return notImpl(`Subresource '?${sub}'`);

    let metaBytes = 0;
    for (const [name, value] of Object.entries(h)) {
      if (!name.startsWith('x-amz-meta-')) continue;
      const values = Array.isArray(value) ? value : [value ?? ''];
      // header values arrive as latin1 strings: their length is the byte count on the wire
      metaBytes += name.length - 'x-amz-meta-'.length + values.reduce((n, v) => n + Buffer.byteLength(v, 'latin1'), 0);
    }
    if (metaBytes > 8192) {
      return rejection(400, 'MetadataTooLarge', `Your metadata headers are ${metaBytes} bytes; R2 allows 8192`);
    }

    if (info.query.has('X-Amz-Signature')) {
      const checksum = [...info.query.keys()].find((k) => /^x-amz-(sdk-)?checksum-/i.test(k));
      if (checksum) {
        const why = `Presigned URL carries '${checksum}'; R2 does not support checksum parameters in presigned URLs`;
        return rejection(400, 'InvalidArgument', why);
      }
      const expires = Number(info.query.get('X-Amz-Expires'));
      if (!Number.isInteger(expires) || expires < 1 || expires > 604800) {
        const why = `X-Amz-Expires must be between 1 and 604800 seconds, got '${info.query.get('X-Amz-Expires')}'`;
        return rejection(400, 'AuthorizationQueryParametersError', why);
      }
    }
    return undefined;
  }

  /** R2's multipart rule, checked at CompleteMultipartUpload against the part sizes the server accepted. */
  private checkParts(uploadId: string, xml: string): Rejection | undefined {
    const numbers = [...xml.matchAll(/<PartNumber>\s*(\d+)\s*<\/PartNumber>/g)].map((m) => Number(m[1]));
    const rule = 'R2: equal part sizes, >= 5 MiB, <= 5 GiB, <= 10000 parts';
    const bad = (why: string) => rejection(400, 'InvalidPart', `All non-trailing parts must have the same length (${rule}): ${why}`);
    if (numbers.length > 10_000) return bad(`${numbers.length} parts`);
    const sizes = this.parts.get(uploadId);
    if (!sizes) return undefined; // parts not uploaded through this proxy: nothing to judge
    const first = sizes.get(numbers[0] ?? -1);
    for (const [i, n] of numbers.entries()) {
      const size = sizes.get(n);
      if (size === undefined) continue;
      const last = i === numbers.length - 1;
      if (size > 5 * GiB) return bad(`part ${n} is ${size} bytes (> 5 GiB)`);
      if (last) continue;
      if (size < 5 * MiB) return bad(`part ${n} is ${size} bytes (< 5 MiB) and not the last part`);
      if (first !== undefined && size !== first) return bad(`part ${n} is ${size} bytes but part ${numbers[0]} is ${first}`);
    }
    return undefined;
  }

  private decideFault(info: OpInfo): FaultKind | undefined {
    const plan = this.plan;
    if (!plan || plan.rate <= 0) return undefined;
    if (plan.maxFaults !== undefined && this.injected >= plan.maxFaults) return undefined;
    if (plan.only && !plan.only(info)) return undefined;
    if (this.rand() >= plan.rate) return undefined;
    const kinds = plan.kinds?.length ? plan.kinds : ALL_FAULTS;
    this.injected++;
    return kinds[Math.floor(this.rand() * kinds.length)] ?? kinds[0];
  }

  private reject(req: IncomingMessage, res: ServerResponse, where: string, r: Rejection): void {
    this.violationList.push(`${where}: ${r.status} ${r.code}: ${r.message}`);
    req.resume();
    this.sendError(req, res, r);
  }

  private sendError(req: IncomingMessage, res: ServerResponse, r: Rejection): void {
    const xml =
      '<?xml version="1.0" encoding="UTF-8"?>\n' +
      `<Error><Code>${r.code}</Code><Message>${xmlEscape(r.message)}</Message></Error>`;
    res.writeHead(r.status, {
      'content-type': 'application/xml',
      'content-length': Buffer.byteLength(xml),
      'x-amz-request-id': 'r2proxy',
    });
    res.end(req.method === 'HEAD' ? undefined : xml);
  }

  /** Sends the request to the target unchanged (Host included, so SigV4 still verifies) and streams the answer back. */
  private forward(
    req: IncomingMessage,
    res: ServerResponse,
    info: OpInfo & { query: URLSearchParams },
    o: { body: Buffer | undefined; rollbackWrite: () => void; fault: FaultKind | undefined },
  ): Promise<void> {
    const headers: OutgoingHttpHeaders = { ...req.headers };
    // hop-by-hop headers (none of them is signed by SigV4); node already answered any "Expect: 100-continue"
    delete headers.connection;
    delete headers['keep-alive'];
    delete headers.expect;
    return new Promise<void>((resolve) => {
      const up = httpRequest({
        protocol: this.target.protocol,
        hostname: this.target.hostname,
        port: this.target.port,
        method: req.method,
        path: req.url,
        headers,
        agent: this.agent,
      });
      const fail = (err: Error) => {
        o.rollbackWrite();
        if (!res.headersSent) this.sendError(req, res, rejection(502, 'ProxyError', `target: ${err.message}`));
        else res.destroy();
        resolve();
      };
      up.on('error', fail);
      req.on('close', () => {
        if (!req.complete) up.destroy(); // the client went away mid-request
      });
      res.on('close', () => {
        if (!res.writableFinished) up.destroy();
      });
      up.on('response', (ur) => {
        const status = ur.statusCode ?? 502;
        if (status >= 200 && status < 300) this.recordSuccess(info, req.headers);
        else o.rollbackWrite();
        const outHeaders: OutgoingHttpHeaders = { ...ur.headers };
        delete outHeaders.connection;
        delete outHeaders['keep-alive'];
        const send = () => {
          if (o.fault === 'reset-response') resetResponse(req, res, ur, status, outHeaders);
          else {
            res.writeHead(status, outHeaders);
            ur.pipe(res);
          }
          ur.on('end', resolve);
          ur.on('error', resolve);
          res.on('close', resolve);
        };
        if (o.fault === 'slow') setTimeout(send, this.plan?.slowMs ?? 300);
        else send();
      });
      if (o.body !== undefined) up.end(o.body);
      else req.pipe(up);
    });
  }

  /** Bookkeeping after the target accepted a request: part sizes, write keys, finished uploads. */
  private recordSuccess(info: OpInfo & { query: URLSearchParams }, h: IncomingHttpHeaders): void {
    const uploadId = info.query.get('uploadId') ?? '';
    if (info.op === 'UploadPart' || info.op === 'UploadPartCopy') {
      let size: number | undefined;
      if (info.op === 'UploadPart') size = Number(h['x-amz-decoded-content-length'] ?? h['content-length']);
      else {
        const m = /bytes=(\d+)-(\d+)/.exec(String(h['x-amz-copy-source-range'] ?? ''));
        size = m ? Number(m[2]) - Number(m[1]) + 1 : undefined;
      }
      const sizes = this.parts.get(uploadId) ?? new Map<number, number | undefined>();
      sizes.set(Number(info.query.get('partNumber')), size !== undefined && Number.isFinite(size) ? size : undefined);
      this.parts.set(uploadId, sizes);
    }
    if (info.op === 'CompleteMultipartUpload' || info.op === 'AbortMultipartUpload') this.parts.delete(uploadId);
    if (WRITES.has(info.op) && info.key !== undefined) this.keys.add(info.key);
  }
}

function faultError(kind: '500' | '503' | '429' | '403'): Rejection {
  if (kind === '403') return rejection(403, 'AccessDenied', 'Access Denied (injected)');
  if (kind === '500') return rejection(500, 'InternalError', 'We encountered an internal error. Please try again. (injected)');
  if (kind === '503') return rejection(503, 'ServiceUnavailable', 'Please reduce your request rate. (injected)');
  return rejection(429, 'SlowDown', 'Reduce your rate of requests (injected)');
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Fault 'reset-request': read a first piece of the body (if any), then drop the client connection. */
function resetRequest(req: IncomingMessage, bodyAlreadyRead: boolean): void {
  const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  if (!hasBody || bodyAlreadyRead || req.readableEnded) {
    req.socket.destroy();
    return;
  }
  req.once('data', () => req.socket.destroy());
  req.once('end', () => req.socket.destroy());
}

/**
 * Fault 'reset-response': the target has done the work; the client gets the headers and half of the body,
 * then the connection drops. An empty body (e.g. PutObject's 200) is re-framed as chunked so that dropping the
 * connection right after the headers is still an incomplete response; a HEAD response is dropped before its headers.
 */
function resetResponse(
  req: IncomingMessage,
  res: ServerResponse,
  ur: IncomingMessage,
  status: number,
  headers: OutgoingHttpHeaders,
): void {
  const drop = () => req.socket.destroy();
  if (req.method === 'HEAD') {
    ur.resume();
    drop();
    return;
  }
  const chunks: Buffer[] = [];
  ur.on('data', (c: Buffer) => chunks.push(c));
  ur.on('end', () => {
    const body = Buffer.concat(chunks);
    const half = Math.floor(body.length / 2);
    if (half === 0) {
      delete headers['content-length'];
      headers['transfer-encoding'] = 'chunked';
      res.writeHead(status, headers);
      res.flushHeaders();
      setImmediate(drop);
      return;
    }
    res.writeHead(status, headers);
    res.write(body.subarray(0, half), () => setImmediate(drop));
  });
}
