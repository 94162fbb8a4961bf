// The three-way merge of a streamed reconcile: the local walk, the state rows and the bucket listing, each in key
// order (keys.compareKeys), read a page at a time and joined key by key, as rclone's march joins two listings.
// Memory is a page per stream, not the tree.
// Must not: decide anything about a key (stream.ts does), or read a stream out of order.

import { compareKeys } from '../keys.js';
import type { LocalFile } from '../local/scan.js';
import type { WalkItem } from '../local/walk.js';
import type { RemoteObject } from '../remote/bucket.js';
import type { ObjectRow } from '../state/store.js';

/** A page-at-a-time reader of a key-ordered stream. */
class Cursor<T> {
  private page: readonly T[] = [];
  private i = 0;
  private done = false;
  constructor(private readonly it: AsyncIterator<readonly T[]> | Iterator<readonly T[]>) {}

  /** The current item; undefined when the page is used up (see starved) or the stream ended. */
  get head(): T | undefined {
    return this.page[this.i];
  }

  /** The page is used up and the stream has more: fill() before reading head. */
  get starved(): boolean {
    return this.i >= this.page.length && !this.done;
  }

  async fill(): Promise<void> {
    while (this.i >= this.page.length && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else {
        this.page = r.value;
        this.i = 0;
      }
    }
  }

  take(): void {
    this.i++;
  }

  async close(): Promise<void> {
    if (!this.done) await this.it.return?.();
  }
}

/** What the three streams hold for one key; `unknown`: the walk could not see it (never remove it). */
export interface KeyView {
  readonly key: string;
  readonly file: LocalFile | undefined;
  readonly row: ObjectRow | undefined;
  readonly obj: RemoteObject | undefined;
  readonly unknown: boolean;
}

const walkPos = (w: WalkItem) => (w.kind === 'file' ? w.file.key : w.kind === 'unknown-prefix' ? w.prefix : w.key);

/** The merge of the three streams; `listing` undefined when the bucket is not listed. */
export class Merge {
  private readonly walk: Cursor<WalkItem>;
  private readonly rows: Cursor<ObjectRow>;
  private readonly objs: Cursor<RemoteObject> | undefined;
  /** Key prefixes the walk could not see that the merge is inside of (a stack: nested prefixes). */
  private readonly unknownPrefixes: string[] = [];

  constructor(walk: AsyncIterable<WalkItem[]>, rows: Iterable<ObjectRow[]>, listing: AsyncIterable<RemoteObject[]> | undefined) {
    this.walk = new Cursor(walk[Symbol.asyncIterator]());
    this.rows = new Cursor(rows[Symbol.iterator]());
    this.objs = listing ? new Cursor(listing[Symbol.asyncIterator]()) : undefined;
  }

  /** Wait for the listing's first page: proof the bucket answered. */
  async firstPage(): Promise<void> {
    await this.objs?.fill();
  }

  /** Every key any stream holds, in key order, with what each holds for it. */
  async *keys(): AsyncGenerator<KeyView> {
    try {
      for (;;) {
        if (this.walk.starved) await this.walk.fill();
        if (this.rows.starved) await this.rows.fill();
        if (this.objs?.starved) await this.objs.fill();
        const w = this.walk.head;
        const r = this.rows.head;
        const o = this.objs?.head;
        let key = w && walkPos(w);
        if (r && (key === undefined || compareKeys(r.key, key) < 0)) key = r.key;
        if (o && (key === undefined || compareKeys(o.key, key) < 0)) key = o.key;
        if (key === undefined) return;
        const atW = w !== undefined && walkPos(w) === key;
        if (atW && w.kind === 'unknown-prefix') {
          this.unknownPrefixes.push(w.prefix); // before the keys under it: a prefix sorts first
          this.walk.take();
          continue;
        }
        if (atW) this.walk.take();
        const row = r?.key === key ? r : undefined;
        if (row) this.rows.take();
        const obj = o?.key === key ? o : undefined;
        if (obj) this.objs!.take();
        const file = atW && w.kind === 'file' ? w.file : undefined;
        yield { key, file, row, obj, unknown: (atW && w.kind === 'unknown-key') || this.underUnknown(key) };
      }
    } finally {
      await Promise.all([this.walk.close(), this.objs?.close()]);
    }
  }

  /** True when `key` lies under a prefix the walk could not see; prefixes the merge has passed are dropped. */
  private underUnknown(key: string): boolean {
    const u = this.unknownPrefixes;
    while (u.length > 0 && !key.startsWith(u.at(-1)!)) u.pop();
    return u.length > 0;
  }
}
