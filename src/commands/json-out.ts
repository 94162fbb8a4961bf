// `--json` output written in pieces: the text JSON.stringify would give, byte for byte, produced and written one
// batch at a time, so a dry run of a million files never holds its whole plan as one string as well.
// Must not: change a byte of what JSON.stringify prints; write a secret (every batch is scrubbed).

import { scrub } from '../errors.js';
import type { Output } from './context.js';

/** Characters gathered before a write. */
const BATCH = 64 * 1024;

/** A value whose JSON is one piece: a primitive, or an object or array holding only primitives. */
function flat(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return true;
  for (const v of Object.values(value)) if (v !== null && typeof v === 'object') return false;
  return true;
}

/** The pieces of JSON.stringify(value) for plain data (objects, arrays, strings, numbers, booleans, null). */
export function* jsonPieces(value: unknown): Generator<string> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && typeof (value as { toArray?: unknown }).toArray === 'function' && Symbol.iterator in value) {
    // a list spilled to disk (state/spool.ts's SpillList), which JSON.stringify shows through its toJSON()
    yield* arrayPieces(value as Iterable<unknown>);
    return;
  }
  if (flat(value) || typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    yield JSON.stringify(value);
    return;
  }
  if (Array.isArray(value)) {
    yield* arrayPieces(value);
    return;
  }
  yield '{';
  let first = true;
  for (const [k, v] of Object.entries(value as object)) {
    // in an object, such a property is left out
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    yield `${first ? '' : ','}${JSON.stringify(k)}:`;
    first = false;
    yield* jsonPieces(v);
  }
  yield '}';
}

/** Write JSON.stringify(value) + '\n' to `out` in batches, each scrubbed of the secrets. */
export function writeJson(out: Output, value: unknown, secrets: readonly string[]): void {
  let batch = '';
  for (const piece of jsonPieces(value)) {
    batch += piece;
    if (batch.length >= BATCH) {
      out.write(scrub(batch, secrets));
      batch = '';
    }
  }
  out.write(scrub(batch + '\n', secrets));
}

/** The pieces of an array (or any iterable shown as one), element by element. */
function* arrayPieces(items: Iterable<unknown>): Generator<string> {
  yield '[';
  let first = true;
  for (const v of items) {
    if (!first) yield ',';
    first = false;
    // in an array, what JSON.stringify cannot show (undefined, a function) is null
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') yield 'null';
    else yield* jsonPieces(v);
  }
  yield ']';
}
