// Streams a byte range of an open file as the body of one request, counting the bytes: a file that shrinks
// while it is sent cuts the request at once (a FileChangedError) instead of leaving it short of its length.
// Must not: open, stat or retry anything; the caller owns the descriptor and the retry.

import type fs from 'node:fs';
import { Transform, type Readable } from 'node:stream';
import { rangeStream } from '../local/open.js';
import type { TransferContext } from './outcome.js';
import { expectBytes } from './unchanged.js';

/** Size of the chunks read from disk for a streamed body. */
export const STREAM_CHUNK = 1024 * 1024;

/**
 * Stream `length` bytes from `start` of an open file as the body of one request made by `send`. A file that
 * shrinks while it is sent would leave the request short of its Content-Length, and the server waiting for the
 * missing bytes until a timeout: the bytes are counted and the request cut at once, to be retried as a change.
 */
export async function sendRange<T>(handle: fs.promises.FileHandle, start: number, length: number, ctx: Pick<TransferContext, 'signal'>, send: (body: Readable, signal: AbortSignal) => Promise<T>): Promise<T> {
  const file = rangeStream(handle, start, length, STREAM_CHUNK);
  const cut = new AbortController();
  let read = 0;
  const body = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      read += chunk.length;
      cb(null, chunk);
    },
    flush(cb) {
      try {
        expectBytes(read, length);
      } catch (err) {
        cut.abort(err);
      }
      cb();
    },
  });
  // Errors go through the signal, not as stream 'error' events: the SDK pipes the body without listening for them.
  file.on('error', (e) => {
    cut.abort(e);
    body.destroy();
  });
  file.pipe(body);
  try {
    return await send(body, ctx.signal ? AbortSignal.any([ctx.signal, cut.signal]) : cut.signal);
  } catch (err) {
    if (cut.signal.aborted && !ctx.signal?.aborted) throw cut.signal.reason;
    throw err;
  } finally {
    file.destroy();
    body.destroy();
  }
}
