// The better-sqlite3 build for the running Node: 12 on Node 20 (13 crashes there), 13 on Node 22 and later
// (12 aborts on Node 24 whenever the garbage collector frees a Statement outside a JS context:
// "Assertion failed: (env) != nullptr" in RemoveEnvironmentCleanupHook; 13 moved to node-addon-api).
// Both have the same API; everything that opens a database imports it from here.

import { createRequire } from 'node:module';
import { versions } from 'node:process';
import type BetterSqlite3 from 'better-sqlite3';

const require = createRequire(import.meta.url);
const major = Number(versions.node.split('.')[0]);

/** The Database class of the better-sqlite3 build that is safe on this Node. */
export const Database = require(major >= 22 ? 'better-sqlite3-13' : 'better-sqlite3') as typeof BetterSqlite3;

/** An open database. */
export type Database = BetterSqlite3.Database;
