/**
 * `lora-queue inspect [--base DIR] [--config FILE] [--format text|json] ADAPTER...`: the snapshot
 * checks (adapterCheck.ts) on any adapter folder, against --base DIR; else a snapshot against the
 * base it was trained on (its manifest says), and any other adapter against the live base model of
 * the config's queue (models/<id> after a consolidation, the config's baseModel before).
 * Exit 0 every adapter fits, 1 problems found, 2 usage (no adapter, no base model known).
 */
import { dirname, resolve } from 'node:path';
import { findConfig, loadConfig } from '../config/load';
import { checkAdapter, formatAdapterReport } from './adapterCheck';
import { queueRootOf } from './engine';
import { modelDir } from './models';
import { rootPaths } from './paths';
import { liveBase } from './current';
import { readManifest, snapshotBase } from './snapshots';

export interface LineSink {
  line(s: string): void;
  err(s: string): void;
}

export function runInspect(opts: { config?: string | undefined; base?: string | undefined; adapters: readonly string[]; json: boolean }, out: LineSink): number {
  if (!opts.adapters.length) {
    out.err('lora-queue: inspect needs an ADAPTER folder (and --base DIR, or a lora-queue.json with baseModel)');
    return 2;
  }
  let base = opts.base !== undefined ? resolve(opts.base) : undefined;
  let baseFor = (_adapter: string): string => base!;
  if (!base) {
    const configFile = opts.config ?? findConfig(process.cwd());
    if (!configFile) {
      out.err(`lora-queue: inspect: no --base DIR and no lora-queue.json in ${process.cwd()} or above`);
      return 2;
    }
    try {
      const c = loadConfig(configFile, { filesystem: false });
      if (c.baseModel === undefined) {
        out.err(`lora-queue: inspect: ${configFile} sets no baseModel: pass --base DIR`);
        return 2;
      }
      const configBase = resolve(dirname(resolve(configFile)), c.baseModel);
      const p = rootPaths(queueRootOf(resolve(configFile), c));
      const live = liveBase(p, configBase).path;
      base = live;
      baseFor = (adapter) => {
        const m = readManifest(adapter);
        if (!m) return live;
        const id = snapshotBase(p, m);
        return id ? modelDir(p, id) : configBase;
      };
    } catch (e) {
      out.err(`lora-queue: ${(e as Error).message}`);
      return 2;
    }
  }
  const reports = opts.adapters.map((a) => checkAdapter(resolve(a), baseFor(resolve(a))));
  if (opts.json) out.line(JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2));
  else {
    reports.forEach((r, i) => {
      if (i) out.line('');
      for (const l of formatAdapterReport(r)) out.line(l);
    });
  }
  return reports.every((r) => r.ok) ? 0 : 1;
}
