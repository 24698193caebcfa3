/** The on-disk layout of a queue root (docs/engine.md). */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export interface RootPaths {
  readonly root: string;
  readonly lock: string;
  readonly state: string;
  readonly current: string;
  readonly inbox: string;
  readonly queue: string;
  readonly processing: string;
  readonly done: string;
  readonly failed: string;
  readonly runs: string;
  readonly control: string;
  readonly logs: string;
}

export function rootPaths(root: string): RootPaths {
  return {
    root,
    lock: join(root, 'engine.lock'),
    state: join(root, 'state.json'),
    current: join(root, 'current.json'),
    inbox: join(root, 'inbox'),
    queue: join(root, 'queue'),
    processing: join(root, 'processing'),
    done: join(root, 'done'),
    failed: join(root, 'failed'),
    runs: join(root, 'runs'),
    control: join(root, 'control'),
    logs: join(root, 'logs'),
  };
}

/** snapshots/: the verified adapter snapshots (snapshots.ts); current.json points into it (current.ts). */
export const snapshotsDir = (p: RootPaths): string => join(p.root, 'snapshots');

/** The file in each snapshot folder that lists its files with their hashes. */
export const MANIFEST = 'manifest.json';

export function ensureLayout(p: RootPaths): void {
  for (const d of [p.root, p.inbox, p.queue, p.processing, p.done, p.failed, p.runs, p.control, p.logs]) mkdirSync(d, { recursive: true });
}

/** The dataset folders, in the order a dataset passes through them. */
export const DATASET_FOLDERS = ['queue', 'processing', 'done', 'failed'] as const;
export type DatasetFolder = (typeof DATASET_FOLDERS)[number];

export const META_SUFFIX = '.meta.json';
export const REASON_SUFFIX = '.reason.json';

/** A dataset file in one of the dataset folders (not a sidecar, not a temporary file). */
export function isDatasetName(name: string): boolean {
  return !name.startsWith('.') && !name.endsWith(META_SUFFIX) && !name.endsWith(REASON_SUFFIX) && !name.endsWith('.tmp');
}
