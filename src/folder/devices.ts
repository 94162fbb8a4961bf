// Finds the directories whose recorded files are missing because the disk they were on is not mounted there
// any more (another device now), so nothing under them is deleted, and reports them. A device that was only
// renumbered (a USB disk after a reboot) is recognised by files still there with their inode.
// Must not: write the state DB or the user's folders; it only stats and reads rows.

import { lstatSync, statSync } from 'node:fs';
import path from 'node:path';
import type { FolderConfig } from '../config.js';
import { deviceChanges, deviceName, type DeviceChange, type ScanResult } from '../local/scan.js';
import type { Logger } from '../log.js';
import { missingRecorded } from '../policy.js';
import type { Spool } from '../state/spool.js';
import type { ObjectRow, Store } from '../state/store.js';
import type { FolderReport } from './types.js';
import { addError } from './report.js';

type Where = Pick<FolderConfig, 'name' | 'path' | 'followSymlinks'>;

/**
 * Directories whose recorded files are missing and which are on another device now than those files were
 * recorded on: a disk that was mounted there is not (any more). Nothing under them may be removed.
 */
export function deviceMoves(config: Where, store: Store, scan: ScanResult, stored: ReadonlyMap<string, ObjectRow>): DeviceChange[] {
  const missing = missingRecorded(scan, stored);
  if (missing.length === 0) return [];
  const missingKeys = new Set(missing.map((r) => r.key));
  return notRenumbered(config, store, deviceChanges(config.path, missing, config.followSymlinks), (k) => missingKeys.has(k));
}

/** deviceMoves for a streamed reconcile: the missing rows are those the spool holds. */
export function streamedDeviceMoves(config: Where, store: Store, spool: Spool): DeviceChange[] {
  const changes = deviceChanges(config.path, spool.recordedOnDevice(), config.followSymlinks);
  return changes.length ? notRenumbered(config, store, changes, (k) => spool.isGone(k)) : [];
}

/** The changes whose device was not just renumbered (see isRenumbered). */
function notRenumbered(config: Where, store: Store, changes: DeviceChange[], isMissing: (key: string) => boolean): DeviceChange[] {
  const renumbered = new Map<string, boolean>();
  return changes.filter((c) => {
    const id = `${c.was}>${c.now}`;
    if (!renumbered.has(id)) renumbered.set(id, isRenumbered(config, store, c.was, c.now, isMissing));
    return !renumbered.get(id);
  });
}

/** True when files recorded on device `was` are still here, same inode, on device `now` (checks at most 32). */
function isRenumbered(config: Where, store: Store, was: string, now: string, isMissing: (key: string) => boolean): boolean {
  let checked = 0;
  let found = false;
  store.forEachOnDevice(config.name, was, (row) => {
    if (isMissing(row.key)) return true;
    try {
      const abs = path.join(config.path, row.rel);
      const st = config.followSymlinks ? statSync(abs, { bigint: true }) : lstatSync(abs, { bigint: true });
      found = st.isFile() && st.ino.toString() === row.ino && st.dev.toString() === now;
    } catch {
      // gone as well: no evidence either way
    }
    return !found && ++checked < 32;
  });
  return found;
}

/** Log each held directory and put the hold in the report (the folder is not ok). */
export function reportDeviceMoves(config: Where, moves: DeviceChange[], report: FolderReport, log: Logger): void {
  const parts = moves.map((c) => {
    const dir = c.rel ? path.join(config.path, c.rel) : config.path;
    log.error({ dir, files: c.files, recordedDevice: deviceName(c.was), device: deviceName(c.now) }, 'files recorded on another device are missing: not deleted');
    return `${c.files} file(s) under ${dir} were recorded on device ${deviceName(c.was)}, but ${dir} is on device ${deviceName(c.now)} now ` +
      '(the disk they are on is not mounted there?); nothing under it was deleted';
  });
  addError(report, `${parts.join('; ')}. Mount the disk again; if those files are really gone, confirm with: r2mirror sync --folder ${config.name} --allow-empty`);
}
