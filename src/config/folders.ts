// The `folders` list: each entry validated (name, path, bucket, prefix, deletes, ...), then the checks across
// folders: no duplicate names, no two folders writing into the same keys, no trash prefix inside a mirrored
// prefix, no local trees nested in each other (also after resolving symbolic links).
// Must not: read or write anything in the folders (realpath only); touch `process`.

import { isSeq } from 'yaml';
import { realPath, within } from './files.js';
import { BUCKET_RE, DEFAULTS, DELETE_MODES, FOLDER_KEYS, NAME_RE } from './schema.js';
import type { FolderConfig, MaxDelete } from './types.js';
import { keyPrefix, localPath, maxDelete, patterns } from './values.js';
import { fmtDuration, parseDuration } from './units.js';
import { bool, bounded, deref, fail, failAt, fields, oneOf, show, str, type Ctx, type Field, type Fields, type YamlNode } from './yaml.js';

/** The folders at f (a non-empty list), each inheriting the top-level maxDelete unless it sets its own. */
export function folders(c: Ctx, f: Field, topMaxDelete: MaxDelete): FolderConfig[] {
  const seq = deref(c, f.node);
  if (!isSeq(seq)) failAt(c, f, `must be a list of folders (got ${show(seq)})`);
  if (seq.items.length === 0) failAt(c, f, 'must list at least one folder');
  const drafts: Draft[] = [];
  const seen = new Map<string, Draft>();
  seq.items.forEach((item, i) => {
    const d = folder(c, { node: item as YamlNode | null, at: f.node, path: `folders[${i}]` }, topMaxDelete);
    const prev = seen.get(d.cfg.name);
    if (prev) failAt(c, d.m.name!, `duplicate folder name ${show(d.cfg.name)} (also used by ${prev.f.path})`);
    seen.set(d.cfg.name, d);
    drafts.push(d);
  });
  checkOverlaps(c, drafts);
  checkNesting(c, drafts);
  return drafts.map((d) => d.cfg);
}

/** A folder as parsed, with its fields kept so that cross-folder checks can point at the right line. */
interface Draft {
  readonly cfg: FolderConfig;
  readonly f: Field;
  readonly m: Fields<(typeof FOLDER_KEYS)[number]>;
}

function folder(c: Ctx, f: Field, topMaxDelete: MaxDelete): Draft {
  const m = fields(c, f, FOLDER_KEYS);
  const need = (k: 'name' | 'path' | 'bucket'): Field => m[k] ?? failAt(c, f, `missing required key "${k}"`);
  const nameF = need('name');
  const pathF = need('path');
  const bucketF = need('bucket');
  const name = str(c, nameF);
  if (!NAME_RE.test(name)) {
    failAt(c, nameF, `must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit (got ${show(name)})`);
  }
  const path = localPath(c, pathF);
  if (path === '/') failAt(c, pathF, 'must not be "/": mirror a folder, not the whole filesystem');
  if (realPath(path) === '/') failAt(c, pathF, `leads to "/" through a symbolic link (got ${show(path)}): mirror a folder, not the whole filesystem`);
  const bucket = str(c, bucketF);
  if (!BUCKET_RE.test(bucket)) {
    failAt(c, bucketF, `must be a bucket name of 3-63 lowercase letters, digits and "-", starting and ending with a letter or digit (got ${show(bucket)})`);
  }
  const prefix = m.prefix ? keyPrefix(c, m.prefix) : DEFAULTS.prefix;
  const trashPrefix = m.trashPrefix ? keyPrefix(c, m.trashPrefix) : DEFAULTS.trashRoot + prefix;
  if (m.trashPrefix && trashPrefix === '') failAt(c, m.trashPrefix, 'must not be empty');
  const exclude = m.exclude ? patterns(c, m.exclude) : [];
  const deletes = m.deletes ? oneOf(c, m.deletes, DELETE_MODES) : DEFAULTS.deletes;
  const trashRetention = m.trashRetention ? bounded(c, m.trashRetention, parseDuration, 86_400_000, 3650 * 86_400_000, fmtDuration) : undefined;
  if (m.trashRetention && trashRetention! % 86_400_000 !== 0) failAt(c, m.trashRetention, `must be whole days, as a bucket lifecycle rule counts them (got ${show(fmtDuration(trashRetention!))})`);
  if (m.trashRetention && deletes !== 'trash') failAt(c, m.trashRetention, `only applies with deletes: trash (this folder has deletes: ${deletes})`);
  const cfg: FolderConfig = {
    name,
    path,
    bucket,
    prefix,
    exclude,
    deleteExcluded: m.deleteExcluded ? bool(c, m.deleteExcluded) : DEFAULTS.deleteExcluded,
    deletes,
    trashPrefix,
    ...(trashRetention !== undefined ? { trashRetention } : {}),
    followSymlinks: m.followSymlinks ? bool(c, m.followSymlinks) : DEFAULTS.followSymlinks,
    oneFileSystem: m.oneFileSystem ? bool(c, m.oneFileSystem) : DEFAULTS.oneFileSystem,
    maxDelete: m.maxDelete ? maxDelete(c, m.maxDelete) : topMaxDelete,
  };
  return { cfg, f, m };
}

/** Two key prefixes overlap when one starts with the other ('' overlaps everything). */
function overlaps(a: string, b: string): boolean {
  return a.startsWith(b) || b.startsWith(a);
}

// Two folders writing into the same keys would delete each other's objects; a trash prefix inside a
// mirrored prefix would be mirrored over (or deleted as "gone locally") by that folder.
function checkOverlaps(c: Ctx, ds: readonly Draft[]): void {
  ds.forEach((b, j) => {
    for (const a of ds.slice(0, j)) {
      if (a.cfg.bucket !== b.cfg.bucket || !overlaps(a.cfg.prefix, b.cfg.prefix)) continue;
      fail(c, b.m.prefix?.node ?? b.f.node, `${b.f.path}.prefix`,
        `folders "${a.cfg.name}" (${a.f.path}) and "${b.cfg.name}" overlap in bucket "${b.cfg.bucket}": ` +
        `prefixes ${show(a.cfg.prefix)} and ${show(b.cfg.prefix)}; give each folder a prefix that is not inside the other's`);
    }
  });
  for (const t of ds.filter((d) => d.cfg.deletes === 'trash')) {
    for (const g of ds) {
      if (g.cfg.bucket !== t.cfg.bucket || !overlaps(t.cfg.trashPrefix, g.cfg.prefix)) continue;
      const where = t.m.trashPrefix ?? t.m.deletes!;
      const whose = g === t ? 'the folder\'s own prefix' : `the prefix of folder "${g.cfg.name}" (${g.f.path})`;
      // Only a folder's own '' prefix gets here: two folders in one bucket with '' would already overlap.
      const fix = g.cfg.prefix === ''
        ? 'the folder mirrors the whole bucket, so every trashPrefix would be inside it: set a prefix for it ' +
          '(and, if needed, a trashPrefix outside that prefix), or use deletes: mirror or keep'
        : 'set trashPrefix to a prefix outside every mirrored prefix in this bucket';
      fail(c, where.node, where.path,
        `trash prefix ${show(t.cfg.trashPrefix)}${t.m.trashPrefix ? '' : ' (the default)'} overlaps ${whose} ` +
        `${show(g.cfg.prefix)} in bucket "${t.cfg.bucket}", so trashed objects would be mirrored or deleted; ${fix}`);
    }
  }
  // Two trashes that overlap would take each other's files (and one's trashRetention would expire the other's).
  const trashes = ds.filter((d) => d.cfg.deletes === 'trash');
  trashes.forEach((b, j) => {
    for (const a of trashes.slice(0, j)) {
      if (a.cfg.bucket !== b.cfg.bucket || !overlaps(a.cfg.trashPrefix, b.cfg.trashPrefix)) continue;
      const where = b.m.trashPrefix ?? b.m.deletes!;
      fail(c, where.node, where.path, `the trash prefixes of folders "${a.cfg.name}" (${a.f.path}) and "${b.cfg.name}" overlap in bucket ` +
        `"${b.cfg.bucket}": ${show(a.cfg.trashPrefix)} and ${show(b.cfg.trashPrefix)}; give each folder a trashPrefix that is not inside the other's`);
    }
  });
}

// Two folders whose local trees nest would upload the inner tree twice (and watch it twice): as written, and
// after resolving symbolic links, for paths that exist.
function checkNesting(c: Ctx, ds: readonly Draft[]): void {
  const paths = ds.map((d) => ({ d, as: d.cfg.path, real: realPath(d.cfg.path) }));
  type P = (typeof paths)[number];
  const literally = (x: P, y: P) => within(x.as, y.as);
  const really = (x: P, y: P) => x.real !== undefined && y.real !== undefined && within(x.real, y.real);
  const inside = (x: P, y: P) => literally(x, y) || really(x, y);
  paths.forEach((b, j) => {
    for (const a of paths.slice(0, j)) {
      if (!inside(a, b) && !inside(b, a)) continue;
      const how = inside(a, b) && inside(b, a) ? 'are the same directory'
        : inside(b, a) ? `nest: ${show(b.as)} is inside ${show(a.as)}` : `nest: ${show(a.as)} is inside ${show(b.as)}`;
      const viaLinks = !literally(a, b) && !literally(b, a) ? ' (after resolving symbolic links)' : '';
      fail(c, b.d.m.path?.node ?? b.d.f.node, `${b.d.f.path}.path`,
        `the paths of folders "${a.d.cfg.name}" (${a.d.f.path}) and "${b.d.cfg.name}" ${how}${viaLinks}, so their files would be ` +
        'uploaded twice; mirror the outer folder only (with exclude patterns for what it should skip) or give each folder its own tree');
    }
  });
}
