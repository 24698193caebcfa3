/**
 * Consolidated base models (docs/engine.md, "Consolidation"):
 *
 *   models/<id>/              a merged model folder + manifest.json (its lineage and its files)
 *   models/<id>.tmp/          being built: the merge command writes here (removed after a failure or a crash)
 *   models/<id>.corrupt-<t>/  failed the check at start: moved aside, never used
 *   models/<id>.log           the merge command's output
 *
 * The live base is current.json's `base` (snapshots.ts, liveBase): null for the config's baseModel,
 * else the id of a folder here. This module knows the folder only; it imports nothing of the
 * snapshots, which import it.
 */
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { fsyncDir, readJsonQuiet } from './atomic';
import type { RootPaths } from './paths';

export const MODEL_MANIFEST = 'manifest.json';

/** One adapter merged into a model. */
export interface MergedAdapter {
  snapshot: string;
  runId: string | null;
  /** The model it was trained on (null: the config's baseModel). */
  base: string | null;
  /** sha256 of the snapshot's manifest.json, which holds the sha256 of each of its files. */
  manifestSha256: string;
  dataset: string | null;
  datasetSha256: string | null;
  step: number | null;
  loss: number | null;
}

/** One dataset trained into a model, oldest first. */
export interface LineageDataset {
  dataset: string;
  sha256: string | null;
  runId: string | null;
  snapshot: string | null;
}

export interface ModelManifest {
  version: 1;
  id: string;
  created: string;
  /** 1 for a model merged into the config's baseModel, parent's + 1 after that. */
  generation: number;
  /** What the adapter was merged into: a model id (null: the config's baseModel) and its absolute path. */
  base: { model: string | null; path: string };
  /** The adapter merged here. */
  adapter: MergedAdapter;
  /** Every adapter merged from the config's baseModel to this model, oldest first (this one last). */
  adapters: MergedAdapter[];
  /** Every dataset trained into this model, oldest first. */
  datasets: LineageDataset[];
  merge: { command: string[]; seconds: number; summary: unknown };
  /** sha256 and size of every file of the model folder (manifest.json aside). */
  files: Record<string, { sha256: string; size: number }>;
}

export const modelsDir = (p: RootPaths): string => join(p.root, 'models');
export const modelDir = (p: RootPaths, id: string): string => join(modelsDir(p), id);
export const modelTmpDir = (p: RootPaths, id: string): string => join(modelsDir(p), `${id}.tmp`);
export const modelLog = (p: RootPaths, id: string): string => join(modelsDir(p), `${id}.log`);

/** The model id of a base model path inside models/, or null (the config's baseModel, or anything else). */
export function baseIdFromPath(p: RootPaths, path: string | null | undefined): string | null {
  if (!path) return null;
  return dirname(path) === modelsDir(p) && isModelName(basename(path)) ? basename(path) : null;
}

function isModelName(n: string): boolean {
  return !n.startsWith('.') && !n.endsWith('.tmp') && !n.endsWith('.log') && !n.includes('.corrupt-');
}

export function readModelManifest(p: RootPaths, id: string): ModelManifest | undefined {
  const m = readJsonQuiet<ModelManifest>(join(modelDir(p, id), MODEL_MANIFEST));
  return m && typeof m === 'object' && m.files && typeof m.files === 'object' && m.adapter ? m : undefined;
}

/** The finished models (a folder with a manifest), newest first. */
export function listModels(p: RootPaths): ModelManifest[] {
  let names: string[];
  try {
    names = readdirSync(modelsDir(p)).filter(isModelName);
  } catch {
    return [];
  }
  const out: ModelManifest[] = [];
  for (const n of names) {
    const m = readModelManifest(p, n);
    if (m) out.push(m);
  }
  return out.sort((a, b) => b.created.localeCompare(a.created) || b.id.localeCompare(a.id));
}

/** A new id, `g<generation>-YYYYMMDD-HHMMSS` (`-2`… when taken), free in models/ under every name it uses. */
export function newModelId(p: RootPaths, generation: number, now: Date = new Date()): string {
  const stem = `g${generation}-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, '').replace('T', '-')}`;
  const taken = (id: string): boolean => [modelDir(p, id), modelTmpDir(p, id), modelLog(p, id)].some((f) => existsSync(f));
  let id = stem;
  for (let n = 2; taken(id); n++) id = `${stem}-${n}`;
  return id;
}

/** Every file under `dir`, relative, '/'-separated, sorted. */
export function listModelFiles(dir: string, base: string = dir): string[] {
  const out: string[] = [];
  for (const n of readdirSync(dir).sort()) {
    const f = join(dir, n);
    const st = statSync(f);
    if (st.isDirectory()) out.push(...listModelFiles(f, base));
    else out.push(relative(base, f).split(sep).join('/'));
  }
  return out;
}

/**
 * The check at start: every file of the manifest present with its size. Sizes, not hashes: a
 * model is gigabytes, and hashing every model at every start (as snapshots are) would take
 * minutes. Returns the problems (none: good).
 */
export function checkModel(p: RootPaths, id: string): string[] {
  const m = readModelManifest(p, id);
  if (!m) return [`${MODEL_MANIFEST} is missing or unreadable`];
  const problems: string[] = [];
  for (const [f, want] of Object.entries(m.files)) {
    let size: number;
    try {
      size = statSync(join(modelDir(p, id), ...f.split('/'))).size;
    } catch {
      problems.push(`${f} is missing`);
      continue;
    }
    if (size !== want.size) problems.push(`${f}: ${size} bytes, manifest says ${want.size}`);
  }
  return problems;
}

/**
 * At start: removes what a merge left behind (models/<id>.tmp, the merge's own hidden temporary
 * folders) except for the one a consolidation in progress is building, and moves models whose
 * files do not match their manifest aside. Returns the ids moved aside with why, and log lines.
 */
export function tidyModelsAtStart(p: RootPaths, keepTmpOf: string | null, now: Date = new Date()): { corrupt: Map<string, string>; log: string[] } {
  const dir = modelsDir(p);
  const log: string[] = [];
  const corrupt = new Map<string, string>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return { corrupt, log };
  }
  for (const n of names) {
    const mine = keepTmpOf !== null && (n === `${keepTmpOf}.tmp` || n.startsWith(`.${keepTmpOf}.tmp`));
    if (mine || !(n.endsWith('.tmp') || (n.startsWith('.') && n.includes('.tmp')))) continue;
    rmSync(join(dir, n), { recursive: true, force: true });
    log.push(`models/${n}: left by an interrupted merge, removed`);
  }
  for (const n of names.filter(isModelName)) {
    try {
      if (!statSync(join(dir, n)).isDirectory()) continue;
    } catch {
      continue;
    }
    // A folder without our manifest is not ours (a merge publishes it only with one): left alone.
    if (!readModelManifest(p, n)) continue;
    const problems = checkModel(p, n);
    if (!problems.length) continue;
    const why = problems.slice(0, 3).join('; ');
    const aside = `${n}.corrupt-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;
    try {
      renameSync(join(dir, n), join(dir, aside));
      fsyncDir(dir);
      log.push(`model ${n} does not match its manifest (${why}): moved aside as models/${aside}, never used`);
    } catch (e) {
      log.push(`model ${n} does not match its manifest (${why}) and could not be moved aside: ${(e as Error).message}`);
    }
    corrupt.set(n, why);
  }
  return { corrupt, log };
}
