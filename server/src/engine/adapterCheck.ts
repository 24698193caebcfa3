/**
 * Checks a PEFT LoRA adapter folder against a base model folder, reading only JSON and safetensors
 * headers (no torch): `lora-queue inspect`, and every snapshot before it is renamed into place.
 *
 * safetensors: an 8-byte little-endian header length N, N bytes of JSON
 * ({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {...}}), then the data.
 *
 * What is checked (docs/engine.md, "Snapshots and rollback"):
 * - the adapter has adapter_config.json (a LoRA config) and a well-formed adapter_model.safetensors
 *   (every tensor's byte range matches its dtype and shape and lies inside the file);
 * - the base model has config.json and model.safetensors or model.safetensors.index.json (+ shards);
 * - adapter_config.json's base_model_name_or_path names this base model (a warning when it names
 *   another: the shapes decide);
 * - every target module matches at least one module of the base model;
 * - every lora_A / lora_B tensor belongs to a module of the base model, and its shape fits:
 *   lora_A [r, in_features], lora_B [out_features, r] (embeddings: lora_embedding_A [r, num],
 *   lora_embedding_B [dim, r]; fan_in_fan_out swaps the base weight's axes).
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';

export type Severity = 'error' | 'warning';

export interface Problem {
  readonly severity: Severity;
  readonly code: string;
  readonly message: string;
}

export interface TensorInfo {
  readonly dtype: string;
  readonly shape: number[];
}

export interface AdapterReport {
  readonly adapter: string;
  readonly base: string;
  readonly ok: boolean;
  readonly problems: Problem[];
  readonly rank: number | null;
  readonly alpha: number | null;
  readonly targetModules: string[] | string | null;
  readonly baseModelNamed: string | null;
  /** Adapter tensors checked, and base-model modules they adapt. */
  readonly tensors: number;
  readonly modules: number;
}

const DTYPE_SIZE: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1, F8_E4M3: 1, F8_E5M2: 1,
};
const MAX_HEADER = 100 * 1024 * 1024;

/** The tensors of a safetensors file, from its header; throws with a clear message when it is malformed. */
export function readSafetensorsHeader(file: string): Map<string, TensorInfo> {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size < 8) throw new Error(`${basename(file)}: ${size} bytes, too short for a safetensors header`);
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const n = lenBuf.readBigUInt64LE(0);
    if (n > BigInt(Math.min(MAX_HEADER, size - 8))) throw new Error(`${basename(file)}: header length ${n} does not fit the file (${size} bytes): not a safetensors file, or truncated`);
    const len = Number(n);
    const buf = Buffer.alloc(len);
    let off = 0;
    while (off < len) {
      const r = readSync(fd, buf, off, len - off, 8 + off);
      if (r === 0) break;
      off += r;
    }
    let header: unknown;
    try {
      header = JSON.parse(buf.toString('utf8'));
    } catch (e) {
      throw new Error(`${basename(file)}: header is not JSON (${(e as Error).message})`);
    }
    if (!header || typeof header !== 'object' || Array.isArray(header)) throw new Error(`${basename(file)}: header is not a JSON object`);
    const dataLen = size - 8 - len;
    const out = new Map<string, TensorInfo>();
    let maxEnd = 0;
    for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') continue;
      const t = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      const elt = typeof t?.dtype === 'string' ? DTYPE_SIZE[t.dtype] : undefined;
      if (elt === undefined) throw new Error(`${basename(file)}: tensor ${name}: unknown dtype ${JSON.stringify(t?.dtype)}`);
      if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new Error(`${basename(file)}: tensor ${name}: bad shape ${JSON.stringify(t.shape)}`);
      const offs = t.data_offsets;
      if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isInteger(d) && d >= 0) || offs[1] < offs[0]) throw new Error(`${basename(file)}: tensor ${name}: bad data_offsets ${JSON.stringify(offs)}`);
      const shape = t.shape as number[];
      const bytes = shape.reduce((a, d) => a * d, 1) * elt;
      if ((offs[1] as number) - (offs[0] as number) !== bytes) throw new Error(`${basename(file)}: tensor ${name}: ${(offs[1] as number) - (offs[0] as number)} bytes for ${t.dtype} ${JSON.stringify(shape)} (needs ${bytes})`);
      if ((offs[1] as number) > dataLen) throw new Error(`${basename(file)}: tensor ${name} ends at byte ${offs[1]} of a ${dataLen}-byte data section: truncated`);
      maxEnd = Math.max(maxEnd, offs[1] as number);
      out.set(name, { dtype: t.dtype as string, shape });
    }
    if (maxEnd !== dataLen) throw new Error(`${basename(file)}: the tensors cover ${maxEnd} of ${dataLen} data bytes`);
    return out;
  } finally {
    closeSync(fd);
  }
}

/** The base model's weights (name → shape) from model.safetensors or its index and shards. */
export function readBaseWeights(baseDir: string): Map<string, TensorInfo> {
  const single = join(baseDir, 'model.safetensors');
  const index = join(baseDir, 'model.safetensors.index.json');
  if (existsSync(index)) {
    let map: Record<string, string>;
    try {
      map = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map?: Record<string, string> }).weight_map ?? {};
    } catch (e) {
      throw new Error(`model.safetensors.index.json: ${(e as Error).message}`);
    }
    const out = new Map<string, TensorInfo>();
    for (const shard of new Set(Object.values(map))) {
      const f = join(baseDir, shard);
      if (!existsSync(f)) throw new Error(`model.safetensors.index.json names ${shard}, which is missing`);
      for (const [k, v] of readSafetensorsHeader(f)) out.set(k, v);
    }
    for (const k of Object.keys(map)) if (!out.has(k)) throw new Error(`model.safetensors.index.json maps ${k} to ${map[k]}, which does not hold it`);
    return out;
  }
  if (existsSync(single)) return readSafetensorsHeader(single);
  throw new Error(`no model.safetensors or model.safetensors.index.json in ${baseDir} (only safetensors weights can be checked)`);
}

function realOrResolved(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

const LORA_RE = /^(?:base_model\.model\.)?(.+)\.(lora_A|lora_B|lora_embedding_A|lora_embedding_B)(?:\.[^.]+)?\.weight$|^(?:base_model\.model\.)?(.+)\.(lora_embedding_A|lora_embedding_B)(?:\.[^.]+)?$/;

/** The base weight a PEFT module path adapts: exact, with or without a leading `model.`, or a unique suffix match. */
function findBaseWeight(module: string, base: Map<string, TensorInfo>): string | undefined {
  for (const c of [module, module.replace(/^model\./, ''), `model.${module}`]) if (base.has(`${c}.weight`)) return `${c}.weight`;
  const hits = [...base.keys()].filter((k) => k.endsWith(`.weight`) && (`${module}.weight`.endsWith(`.${k}`) || k.endsWith(`.${module}.weight`)));
  return hits.length === 1 ? hits[0] : undefined;
}

/** The base model's module names (weights without `.weight`). */
function moduleNames(base: Map<string, TensorInfo>): string[] {
  return [...base.keys()].filter((k) => k.endsWith('.weight')).map((k) => k.slice(0, -'.weight'.length));
}

function targetMatches(target: string, modules: string[]): boolean {
  return modules.some((m) => m === target || m.endsWith(`.${target}`));
}

function fmt(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function checkAdapter(adapterDir: string, baseDir: string): AdapterReport {
  const problems: Problem[] = [];
  const err = (code: string, message: string): void => void problems.push({ severity: 'error', code, message });
  const warn = (code: string, message: string): void => void problems.push({ severity: 'warning', code, message });
  let rank: number | null = null;
  let alpha: number | null = null;
  let targets: string[] | string | null = null;
  let named: string | null = null;
  let tensorsChecked = 0;
  const adaptedModules = new Set<string>();
  const done = (): AdapterReport => ({
    adapter: adapterDir, base: baseDir, ok: !problems.some((p) => p.severity === 'error'), problems,
    rank, alpha, targetModules: targets, baseModelNamed: named, tensors: tensorsChecked, modules: adaptedModules.size,
  });

  // ---- the adapter
  let acfg: Record<string, unknown> | undefined;
  if (!existsSync(adapterDir) || !statSync(adapterDir).isDirectory()) {
    err('adapter-missing', `${adapterDir} is not a folder`);
    return done();
  }
  const cfgFile = join(adapterDir, 'adapter_config.json');
  if (!existsSync(cfgFile)) err('adapter-config-missing', 'adapter_config.json is missing: not a PEFT adapter folder');
  else {
    try {
      const v = JSON.parse(readFileSync(cfgFile, 'utf8')) as unknown;
      if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
      acfg = v as Record<string, unknown>;
    } catch (e) {
      err('adapter-config-invalid', `adapter_config.json: ${(e as Error).message}`);
    }
  }
  if (acfg) {
    const pt = acfg['peft_type'];
    if (pt !== undefined && pt !== 'LORA') err('not-lora', `adapter_config.json: peft_type is ${JSON.stringify(pt)}, not "LORA"`);
    if (Number.isInteger(acfg['r']) && (acfg['r'] as number) > 0) rank = acfg['r'] as number;
    else err('bad-rank', `adapter_config.json: r is ${JSON.stringify(acfg['r'])}, not a positive integer`);
    if (typeof acfg['lora_alpha'] === 'number') alpha = acfg['lora_alpha'];
    const tm = acfg['target_modules'];
    if (typeof tm === 'string' || (Array.isArray(tm) && tm.every((x) => typeof x === 'string'))) targets = tm as string[] | string;
    else err('bad-target-modules', `adapter_config.json: target_modules is ${JSON.stringify(tm)}, not a list of module names`);
    named = typeof acfg['base_model_name_or_path'] === 'string' && acfg['base_model_name_or_path'] ? (acfg['base_model_name_or_path'] as string) : null;
  }
  let adapterTensors: Map<string, TensorInfo> | undefined;
  const weights = join(adapterDir, 'adapter_model.safetensors');
  if (!existsSync(weights)) {
    if (existsSync(join(adapterDir, 'adapter_model.bin'))) err('unsupported-weights', 'adapter_model.bin (pickle) only: the checks read adapter_model.safetensors');
    else err('adapter-weights-missing', 'adapter_model.safetensors is missing');
  } else {
    try {
      adapterTensors = readSafetensorsHeader(weights);
      if (adapterTensors.size === 0) err('adapter-empty', 'adapter_model.safetensors holds no tensors');
    } catch (e) {
      err('adapter-weights-invalid', (e as Error).message);
    }
  }

  // ---- the base model
  let baseConfig: Record<string, unknown> | undefined;
  let base: Map<string, TensorInfo> | undefined;
  if (!existsSync(baseDir) || !statSync(baseDir).isDirectory()) {
    err('base-model-missing', `base model ${baseDir} is not a folder`);
    return done();
  }
  try {
    baseConfig = JSON.parse(readFileSync(join(baseDir, 'config.json'), 'utf8')) as Record<string, unknown>;
  } catch (e) {
    err('base-config-missing', `base model config.json: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : (e as Error).message}`);
  }
  if (!existsSync(join(baseDir, 'model.safetensors')) && !existsSync(join(baseDir, 'model.safetensors.index.json'))) {
    warn('base-weights-unchecked', `base model ${baseDir} has no model.safetensors or model.safetensors.index.json: module names and shapes cannot be checked`);
  } else {
    try {
      base = readBaseWeights(baseDir);
    } catch (e) {
      err('base-weights-unreadable', `base model: ${(e as Error).message}`);
    }
  }

  // ---- the base model the adapter names
  if (acfg) {
    if (!named) warn('base-model-unnamed', 'adapter_config.json names no base_model_name_or_path');
    else {
      const looksLikePath = isAbsolute(named) || named.startsWith('.') || existsSync(resolve(adapterDir, named));
      if (looksLikePath && existsSync(isAbsolute(named) ? named : resolve(adapterDir, named))) {
        if (realOrResolved(isAbsolute(named) ? named : resolve(adapterDir, named)) !== realOrResolved(baseDir)) warn('other-base-model', `the adapter was trained on ${named}, not on ${baseDir}: the shape checks decide whether it fits`);
      } else {
        const ids = [baseConfig?.['_name_or_path'], basename(realOrResolved(baseDir))].filter((x): x is string => typeof x === 'string' && x !== '');
        const tail = named.replace(/\/+$/, '').split('/').pop();
        if (!ids.some((id) => id === named || id.split('/').pop() === tail)) warn('other-base-model', `the adapter names base model ${named}, which is not ${baseDir}: the shape checks decide whether it fits`);
      }
    }
  }
  if (!base) return done();

  // ---- target modules
  const modules = moduleNames(base);
  if (Array.isArray(targets)) {
    for (const t of targets) {
      if (t === 'all-linear') continue;
      if (!targetMatches(t, modules)) err('missing-target-module', `target module ${t} is not a module of the base model`);
    }
  } else if (typeof targets === 'string') {
    let re: RegExp | undefined;
    try {
      re = new RegExp(`^(?:${targets})$`);
    } catch (e) {
      err('bad-target-modules', `target_modules regex ${targets}: ${(e as Error).message}`);
    }
    if (re && !modules.some((m) => re!.test(m))) err('missing-target-module', `target_modules ${targets} matches no module of the base model`);
  }

  // ---- adapter tensors
  if (!adapterTensors) return done();
  const fanInFanOut = acfg?.['fan_in_fan_out'] === true;
  for (const [name, t] of adapterTensors) {
    const m = LORA_RE.exec(name);
    if (!m) continue; // biases, modules_to_save…: not LoRA factors
    tensorsChecked++;
    const module = (m[1] ?? m[3])!;
    const kind = (m[2] ?? m[4])!;
    const wname = findBaseWeight(module, base);
    if (!wname) {
      err('missing-module', `${name}: the base model has no module ${module}`);
      continue;
    }
    adaptedModules.add(wname);
    const w = base.get(wname)!.shape;
    if (t.shape.length !== 2 || w.length !== 2) {
      err('shape-mismatch', `${name} ${fmt(t.shape)}: expects a 2-D factor of the 2-D weight ${wname} ${fmt(w)}`);
      continue;
    }
    const r = rank ?? t.shape[kind.endsWith('A') ? 0 : 1]!;
    let expected: number[];
    if (kind === 'lora_embedding_A') expected = [r, w[0]!];
    else if (kind === 'lora_embedding_B') expected = [w[1]!, r];
    else {
      const [out, inn] = fanInFanOut ? [w[1]!, w[0]!] : [w[0]!, w[1]!];
      expected = kind === 'lora_A' ? [r, inn] : [out, r];
    }
    if (t.shape[0] !== expected[0] || t.shape[1] !== expected[1]) {
      err('shape-mismatch', `${name} is ${fmt(t.shape)}, but ${wname} ${fmt(w)}${rank !== null ? ` with r=${rank}` : ''} needs ${fmt(expected)}`);
    }
  }
  if (tensorsChecked === 0 && adapterTensors.size > 0) err('no-lora-tensors', 'adapter_model.safetensors holds no lora_A/lora_B tensors');
  return done();
}

export function formatAdapterReport(r: AdapterReport): string[] {
  const out: string[] = [];
  out.push(`adapter: ${r.adapter}`);
  out.push(`base model: ${r.base}${r.baseModelNamed ? ` (adapter names ${r.baseModelNamed})` : ''}`);
  if (r.rank !== null || r.targetModules !== null) out.push(`LoRA: r=${r.rank ?? '?'}, alpha=${r.alpha ?? '?'}, targets ${Array.isArray(r.targetModules) ? r.targetModules.join(', ') : r.targetModules ?? '?'}`);
  out.push(`checked ${r.tensors} LoRA tensor(s) on ${r.modules} base module(s)`);
  for (const p of r.problems) out.push(`${p.severity}: ${p.code}: ${p.message}`);
  const errors = r.problems.filter((p) => p.severity === 'error').length;
  const warnings = r.problems.length - errors;
  out.push(r.ok ? `ok${warnings ? ` (${warnings} warning${warnings === 1 ? '' : 's'})` : ''}: the adapter fits the base model` : `${errors} problem${errors === 1 ? '' : 's'}: the adapter does not fit the base model`);
  return out;
}
